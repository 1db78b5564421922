"""Secrets never appear in logs or in what the bots say.

Tessera runs with fake bot tokens for every platform and a database URL carrying a password,
then things go wrong on purpose: a handler raises with a secret in its message, a delivery
fails with the token in the error (as HTTP libraries put it in URLs), the configuration is
printed and refused. Every captured byte (logs, command-line output, every outbox payload)
is scanned for every secret.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from core.adapter import DeliveryError
from core.commands import Feature
from core.config import load_config
from core.messages import Incoming, Sender
from core.storage import unit_of_work
from core.storage.models import OutboxMessage

ROOT = Path(__file__).resolve().parent.parent
TELEGRAM = "7355608123:AAFakeTesseraTokenForTestsOnly_qwertyuiop"
MATRIX = "syt_dGVzc2VyYQ_FakeMatrixAccessTokenXyZ"
MATRIX_PASSWORD = "correct-horse-battery-fake"
DISCORD = "MTk4NjIyNDgzNDcxOTI1MjQ4.FakeDc.discord-token-not-real"
DB_PASSWORD = "pg-s3cr3t-Passw0rd-fake"
SECRETS = (TELEGRAM, MATRIX, MATRIX_PASSWORD, DISCORD, DB_PASSWORD)


def _env(db_url: str) -> dict[str, str]:
    return {"TESSERA_TELEGRAM_TOKEN": TELEGRAM, "TESSERA_MATRIX_TOKEN": MATRIX,
            "TESSERA_MATRIX_PASSWORD": MATRIX_PASSWORD, "TESSERA_DISCORD_TOKEN": DISCORD,
            "TESSERA_DATABASE_URL": db_url}


def _config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "tessera.toml"
    path.write_text(f"""
[tessera]
data_dir = "{tmp_path / 'data'}"
log_level = "info"
[telegram]
enabled = true
[matrix]
enabled = true
homeserver = "https://matrix.tessera-test.net"
user_id = "@tessera:tessera-test.net"
[discord]
enabled = true
{extra}
""")
    return path


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _db_url_with_password(tmp_path: Path) -> tuple[str, callable]:
    """A database whose URL carries a password: PostgreSQL when configured (trust auth
    accepts any password), otherwise a SQLite file whose path contains the secret."""
    from tests.conftest import PG_URL, postgres_database
    if PG_URL:
        url, drop = postgres_database()
        scheme, rest = url.split("://", 1)
        user, host = rest.split("@", 1)
        return f"{scheme}://{user}:{DB_PASSWORD}@{host}", drop
    return f"sqlite:///{tmp_path / ('db-' + DB_PASSWORD + '.sqlite')}", lambda: None


def _tessera(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "bots.cli", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)


def test_config_check_prints_no_secret(tmp_path):
    env = _env(f"postgresql+psycopg://tessera:{DB_PASSWORD}@db.tessera-test.net/tessera")
    done = _tessera(["--config", str(_config_file(tmp_path)), "config", "check"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "# valid" in done.stdout and '"token (secret)": "set"' in done.stdout
    assert _leaks(done.stdout + done.stderr) == []


def test_a_refused_configuration_names_the_key_not_the_secret(tmp_path):
    env = _env(f"postgresql+psycopg://tessera:{DB_PASSWORD}@db.tessera-test.net/tessera")
    bad = _config_file(tmp_path).read_text().replace(
        "[telegram]\nenabled = true", '[telegram]\nenabled = true\nmode = "webhook"')
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    done = _tessera(["--config", str(path), "config", "check"], tmp_path, env)
    assert done.returncode == 2
    assert "telegram.webhook_url" in done.stderr
    assert _leaks(done.stdout + done.stderr) == []
    # A URL that is not a database URL is refused without being echoed with its password.
    env["TESSERA_DATABASE_URL"] = f"mysql://tessera:{DB_PASSWORD}@db.tessera-test.net/x"
    done = _tessera(["--config", str(_config_file(tmp_path)), "config", "check"], tmp_path, env)
    assert done.returncode == 2 and "tessera.database_url" in done.stderr
    assert _leaks(done.stdout + done.stderr) == []


# -- a running suite with secrets, made to fail ---------------------------------------------

boom = Feature("boom")


@boom.command("boom")
async def _boom(ctx) -> str:
    # A library error that quotes its connection settings, as some drivers do.
    cfg = ctx.services.config
    raise RuntimeError(f"cannot reach {cfg.database_url()} with token {cfg.secret('telegram', 'token')}")


async def test_errors_in_handlers_and_deliveries_leak_no_secret(tmp_path, capfd, caplog):
    from bots.app import all_features, build_app
    from bots.cli import _secrets
    from core.clock import FakeClock
    from core.logs import setup_logging
    from tests.support.fake_platform import FakePlatform

    url, drop = _db_url_with_password(tmp_path)
    cfg = load_config(path=_config_file(tmp_path), env=_env(url))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("info", _secrets(cfg))  # what `tessera run` does
    root.addHandler(caplog.handler)  # caplog too sees the records, after the filter ran
    app = build_app(cfg, clock=FakeClock(), features=[*all_features(), boom])
    try:
        platform = FakePlatform("alpha")
        app.add_adapter(platform)
        await app.start(scheduler=False)

        async def say(text: str, chat: str = "hq", user: str = "ana", admin: bool = False) -> None:
            await app.dispatcher.handle(Incoming(platform="alpha", chat_id=chat, text=text,
                                                 sender=Sender(user, user.title(), is_chat_admin=admin)))
            await app.settle()

        await say("/network create Secret Keepers", admin=True)
        code = next(w for d in platform.delivered for w in d.text.split() if "-" in w and w.isupper())
        await say(f"/circle join {code.strip('.,`')} Berlin DE Europe/Berlin en", admin=True)
        await say("/boom")  # a handler exception quoting secrets
        platform.fail_next = [DeliveryError(f"POST https://api.telegram.org/bot{TELEGRAM}/sendMessage: 502",
                                            permanent=True),
                              RuntimeError(f"connect to {url} failed (token {DISCORD})")]
        await say("/whoami")  # its reply fails permanently: dead letter, coordinators told
        await say("/circle info")  # and an adapter bug with secrets in the message
        await say("/whoami", user="ben")
        app.services.clock.advance(__import__("datetime").timedelta(minutes=30))
        await app.settle()
        replies = [d.text for d in platform.delivered]
        assert any("something went wrong" in r for r in replies), replies
        assert any("error id" in r for r in replies)
        with unit_of_work(app.services.engine) as s:
            payloads = [str(r.payload) for r in s.exec(select(OutboxMessage)).all()]
            states = {r.state for r in s.exec(select(OutboxMessage)).all()}
        assert "dead" in states  # the failing delivery really happened
    finally:
        await app.stop()
        root.handlers, _ = saved[0], root.setLevel(saved[1])
        drop()
    out, err = capfd.readouterr()
    logged = caplog.text
    assert "unhandled" in logged or "error" in logged.lower()
    assert "RuntimeError" in err and "***" in err  # the exception was logged, and cleaned
    everything = "\n".join([out, err, logged, *replies, *payloads])
    assert _leaks(everything) == [], [line for line in everything.splitlines() if _leaks(line)][:5]

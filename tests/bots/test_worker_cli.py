"""`tessera run --deliver-only --worker K/N`: what the command line refuses, and why."""
from __future__ import annotations

import logging

import pytest

from bots.cli import main


@pytest.fixture(autouse=True)
def logging_restored():
    """`tessera run` sets up the process's logging; later tests must find it as it was."""
    root = logging.getLogger()
    names = ("httpx", "httpcore", "telegram", "discord", "nio", "apscheduler", "alembic",
             "tessera.scheduler")
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in names}
    yield
    root.setLevel(saved[0])
    root.handlers = saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TESSERA_DATABASE_URL", raising=False)  # SQLite, from data_dir
    monkeypatch.setenv("TESSERA_TELEGRAM_TOKEN", "123:abc")
    path = tmp_path / "tessera.toml"
    path.write_text(f'[tessera]\ndata_dir = "{tmp_path / "data"}"\n\n'
                    '[telegram]\nenabled = true\n', encoding="utf-8")
    return str(path)


def test_extra_workers_need_postgresql(config_file, capsys):
    assert main(["--config", config_file, "run", "--only", "telegram", "--deliver-only"]) == 2
    assert "need PostgreSQL" in capsys.readouterr().err
    assert main(["--config", config_file, "run", "--only", "telegram", "--worker", "1/3"]) == 2
    assert "need PostgreSQL" in capsys.readouterr().err


def test_only_the_first_worker_receives(config_file, capsys):
    assert main(["--config", config_file, "run", "--only", "telegram", "--worker", "2/3"]) == 2
    assert "add --deliver-only" in capsys.readouterr().err


def test_the_console_and_scripts_cannot_only_deliver(config_file, tmp_path, capsys):
    assert main(["--config", config_file, "run", "--only", "console", "--deliver-only"]) == 2
    assert "--deliver-only" in capsys.readouterr().err
    script = tmp_path / "chat.tessera"
    script.write_text("/help\n", encoding="utf-8")
    assert main(["--config", config_file, "run", "--script", str(script), "--deliver-only"]) == 2


@pytest.mark.parametrize("spec", ["3/2", "0/3", "two/three", "2"])
def test_a_worker_is_k_of_n(config_file, spec, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--config", config_file, "run", "--worker", spec])
    assert stopped.value.code == 2
    assert "K/N" in capsys.readouterr().err

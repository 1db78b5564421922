"""Shared fixtures: configuration, databases (SQLite and PostgreSQL), a running suite.

PostgreSQL tests use the server named by TESSERA_TEST_POSTGRES_URL (each test gets a fresh
database). Without it they are skipped on a user's machine; CI sets TESSERA_REQUIRE_SERVICES=1
and then every skipped test fails the run.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from core.clock import FakeClock
from core.config import load_config

PG_URL = os.environ.get("TESSERA_TEST_POSTGRES_URL", "")
REQUIRE_SERVICES = os.environ.get("TESSERA_REQUIRE_SERVICES") == "1"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the long variants")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long variant: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and "long variant" not in str(report.longrepr):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    # In CI a skipped service test is a failure: it means something the suite needs is missing.
    if REQUIRE_SERVICES and _skipped:
        print(f"\nTESSERA_REQUIRE_SERVICES=1 but {len(_skipped)} test(s) were skipped:")
        for nodeid in _skipped[:20]:
            print("  skipped:", nodeid)
        session.exitstatus = 1


def postgres_database() -> tuple[str, callable]:
    """A fresh, empty PostgreSQL database: (url, drop)."""
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set TESSERA_TEST_POSTGRES_URL")
    import sqlalchemy as sa

    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = "tessera_t_" + secrets.token_hex(5)
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        admin.dispose()
        pytest.skip(f"PostgreSQL at TESSERA_TEST_POSTGRES_URL unreachable: {e.orig}")
    url = PG_URL.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path: Path):
    """A database URL on each backend (tests using it run twice)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tessera.db'}"
    else:
        url, drop = postgres_database()
        yield url
        drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tessera.db'}"


def make_config(tmp_path: Path, database_url: str | None = None, **sections):
    """A validated configuration rooted in `tmp_path`."""
    overrides = {"tessera": {"data_dir": str(tmp_path / "data")}}
    if database_url:
        overrides["tessera"]["database_url"] = database_url
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return load_config(env={}, overrides=overrides, path=None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def town(tmp_path, sqlite_url, clock):
    """The suite on SQLite with a console door and two fake platforms."""
    from tests.support.chat import Town
    t = await Town.start(make_config(tmp_path, sqlite_url), clock)
    yield t
    await t.stop()


@pytest.fixture
async def any_town(tmp_path, database_url, clock):
    """The same suite, once on SQLite and once on PostgreSQL."""
    from tests.support.chat import Town
    t = await Town.start(make_config(tmp_path, database_url), clock)
    yield t
    await t.stop()


# --- a town with chosen features, for each feature's tests ---------------------------------

async def start_town(tmp_path: Path, url: str, clock: FakeClock, features=None, *,
                     translator=None, **config):
    """The suite with only `features` (names of modules in bots/, e.g. ("help", "circles",
    "archive"); None for all) on the database at `url`, with a console door and the fake
    "alpha" and "beta" platforms. The same `url` after a stop is the same town restarted.

    `config` overrides configuration sections (`translation={"enabled": False}`);
    `translator` replaces the offline translator with a fake.
    """
    import importlib

    from tests.support.chat import Town
    chosen = None if features is None else [
        importlib.import_module(f"bots.{name}").feature for name in features]
    town = await Town.start(make_config(tmp_path, url, **config), clock, features=chosen)
    if translator is not None:
        town.app.services.translator = translator
    return town


def town_fixtures(start, needs: tuple[str, ...] = ()):
    """Two fixtures running a town made by `start(tmp_path, url, clock)`: one on SQLite, one
    on each database (SQLite, then PostgreSQL). Bind them to the names tests ask for:

        town, any_town = town_fixtures(start)

    `needs` names fixtures to set up before the town starts (e.g. "argos", whose
    environment the translator reads when the suite starts).
    """
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def running(request, tmp_path, url, clock):
        for name in needs:
            request.getfixturevalue(name)
        town = await start(tmp_path, url, clock)
        try:
            yield town
        finally:
            await town.stop()

    @pytest.fixture
    async def on_sqlite(request, tmp_path, sqlite_url, clock):
        async with running(request, tmp_path, sqlite_url, clock) as town:
            yield town

    @pytest.fixture
    async def on_each_database(request, tmp_path, database_url, clock):
        async with running(request, tmp_path, database_url, clock) as town:
            yield town

    return on_sqlite, on_each_database


# --- languages are named, never given as codes, in what people read ------------------------

# Placeholders that name a language, in the features whose sentences must name languages the
# way the reader says them ("іспанська", not "es"). Syncday's "source" and "target" mean
# other things (the company a day targets), so the check is by feature.
LANGUAGE_SLOTS = {"lang", "language", "source", "target", "via", "current"}
NAMING_FEATURES = ("archive.", "relay.", "circles.")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


def language_codes_in(key: str, params: dict) -> list[str]:
    """The values of `params` that are language codes ("es", "pt-BR", "en,fr") in slots of
    message `key` that name a language; empty when every slot holds a name."""
    if not key.startswith(NAMING_FEATURES):
        return []
    found = []
    for slot, value in params.items():
        if slot in LANGUAGE_SLOTS and isinstance(value, str) and value and all(
                _LANGUAGE_CODE.fullmatch(part.strip()) for part in value.split(",")):
            found.append(f"{key}: {slot}={value!r}")
    return found


@pytest.fixture
def languages_named(monkeypatch):
    """Watch every catalog message rendered during the test; at its end, fail if one was
    handed a language code where it names a language. Yields the list of what was seen."""
    from core import i18n

    original, seen = i18n.t, []

    def watching(lang, key, /, **params):
        seen.extend(language_codes_in(key, params))
        return original(lang, key, **params)

    monkeypatch.setattr(i18n, "t", watching)
    yield seen
    assert not seen, "language codes where sentences name languages:\n" + "\n".join(seen)

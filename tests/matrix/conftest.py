"""Fixtures that give the Matrix tests a real Synapse homeserver on 127.0.0.1.

`homeserver` is one server for the whole session, with rate limits raised out of the way.
`default_limits_homeserver` is a factory: call it to get a server that keeps Synapse's own
rc_* limits (started on first call, once per module), for tests of 429 handling.

If Synapse cannot be installed or started here the tests skip with the reason, unless
`TESSERA_REQUIRE_SYNAPSE=1` (CI sets it): then they fail, so CI can never go green by
quietly skipping every Matrix test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.synapse import (
    Homeserver,
    SynapseUnavailable,
    ensure_synapse_venv,
    start_homeserver,
)

REQUIRE_ENV = "TESSERA_REQUIRE_SYNAPSE"
_NUMBERS = pytest.StashKey[dict[str, float]]()


def _give_up(exc: SynapseUnavailable) -> None:
    """Skip, or fail when the environment says Synapse is required."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"Synapse is required ({REQUIRE_ENV}=1) but unavailable: {exc}",
                    pytrace=False)
    pytest.skip(f"no Synapse homeserver on this machine ({REQUIRE_ENV}=1 to fail instead): "
                f"{exc}")


@pytest.fixture(scope="session")
def synapse_python() -> Path:
    """Synapse's own Python, installed on first use; a failure is decided once per session."""
    try:
        return ensure_synapse_venv()
    except SynapseUnavailable as exc:
        _give_up(exc)


@pytest.fixture(scope="session")
def matrix_numbers(pytestconfig: pytest.Config) -> dict[str, float]:
    """Measurements (seconds) that the terminal summary prints at the end of the run."""
    return pytestconfig.stash.setdefault(_NUMBERS, {})


@pytest.fixture(scope="session")
def homeserver(synapse_python, tmp_path_factory, matrix_numbers) -> Iterator[Homeserver]:
    """One Synapse for the whole test session, with test-friendly rate limits."""
    try:
        server = start_homeserver(tmp_path_factory.mktemp("synapse"))
    except SynapseUnavailable as exc:
        _give_up(exc)
    matrix_numbers["homeserver start"] = server.start_seconds
    yield server
    server.stop()


class DefaultLimitsHomeserver:
    """Starts, on first call, a Synapse that keeps its default rc_* rate limits."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory,
                 numbers: dict[str, float]) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._numbers = numbers
        self.server: Homeserver | None = None

    def __call__(self) -> Homeserver:
        if self.server is None:
            try:
                self.server = start_homeserver(
                    self._tmp_path_factory.mktemp("synapse-default-limits"),
                    default_rate_limits=True)
            except SynapseUnavailable as exc:
                _give_up(exc)
            self._numbers["default-limits homeserver start"] = self.server.start_seconds
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope="module")
def default_limits_homeserver(synapse_python, tmp_path_factory, matrix_numbers):
    """Factory: `default_limits_homeserver()` returns a Synapse with default rate limits.

    Started only when a test calls it, shared by that module's tests. Rate limits are per
    user, so each test should register its own users.
    """
    factory = DefaultLimitsHomeserver(tmp_path_factory, matrix_numbers)
    yield factory
    factory.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach the tail of Synapse's log to a failed test that used a homeserver."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            server = value.server if isinstance(value, DefaultLimitsHomeserver) else value
            if isinstance(server, Homeserver):
                report.sections.append(
                    (f"synapse log tail ({server.log_path})", server.log_tail()))
    return report


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Print the homeserver's start time and the measured round trips."""
    numbers = config.stash.get(_NUMBERS, {})
    if numbers:
        terminalreporter.section("matrix timings")
        for name, seconds in numbers.items():
            terminalreporter.write_line(f"{name}: {seconds:.2f} s")

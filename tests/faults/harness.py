"""Kill Tessera with SIGKILL in the middle of a critical step, restart it, check what survived.

One scenario is set up once (a template database); every trial copies it, runs the step in
a real child process, kills that process after a seeded random delay, restarts a clean
process on the same database and compares its fingerprint with an uninterrupted run's:

- no outbox row lost: every message the step should produce exists, once (idempotency
  keys, and per-chat counts for unkeyed replies), and all of them end up delivered;
- no ledger entry doubled, the chain verifies, the same entries by kind;
- every timer ran once or was reported missed: none overdue, the same final states, the
  same domain state (legs, draws, kickoffs) as without the crash.
"""
from __future__ import annotations

import multiprocessing
import random
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.faults import driver

_FORK = multiprocessing.get_context("fork")


def warm_up() -> None:
    """Import the suite once in this process, so each forked child starts in a blink."""
    import alembic.command  # noqa: F401 - migrations run in every child
    import tests.support.chat  # noqa: F401
    driver.features()
RESTART_AFTER = timedelta(minutes=3)  # the restart comes after the crashed run's leases lapse
PHASE_TIMEOUT = 120.0


class PhaseFailed(AssertionError):
    """A child phase raised, or never answered."""


def _spawn(phase: str, name: str, db_url: str, data_dir: Path, at: datetime | None):
    parent, child = _FORK.Pipe(duplex=False)
    proc = _FORK.Process(target=driver.in_child,
                         args=(child, phase, name, db_url, str(data_dir), at), daemon=True)
    proc.start()
    child.close()
    return proc, parent


def _receive(conn, proc, what: str):
    if not conn.poll(PHASE_TIMEOUT):
        proc.kill()
        raise PhaseFailed(f"{what}: no answer in {PHASE_TIMEOUT} s")
    msg = conn.recv()
    if isinstance(msg, tuple) and msg[0] == "ERROR":
        raise PhaseFailed(f"{what} failed:\n{msg[1]}")
    return msg


def run_phase(phase: str, name: str, db_url: str, data_dir: Path, at: datetime | None = None):
    """Run one phase to its end in a child process; its answer."""
    proc, conn = _spawn(phase, name, db_url, data_dir, at)
    try:
        return _receive(conn, proc, f"{name} {phase}")
    finally:
        proc.join(PHASE_TIMEOUT)


@dataclass
class Store:
    """Where a scenario's databases live: SQLite files, or PostgreSQL template databases."""

    root: Path
    postgres: bool = False

    def __post_init__(self) -> None:
        self._drops = []

    def fresh(self, label: str) -> str:
        if not self.postgres:
            return f"sqlite:///{self.root / label}.db"
        from tests.conftest import postgres_database
        url, drop = postgres_database()
        self._drops.append(drop)
        return url

    def copy(self, template: str, label: str) -> str:
        """A copy of the template database for one trial."""
        if not self.postgres:
            src = Path(template.removeprefix("sqlite:///"))
            dst = self.root / f"{label}.db"
            for suffix in ("", "-wal", "-shm"):
                if Path(str(src) + suffix).exists():
                    shutil.copy(str(src) + suffix, str(dst) + suffix)
            return f"sqlite:///{dst}"
        import secrets

        import sqlalchemy as sa
        from tests.conftest import PG_URL
        name = "tessera_f_" + secrets.token_hex(5)
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template.rsplit("/", 1)[1]}"'))

        def drop() -> None:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        self._drops.append(drop)
        return PG_URL.rsplit("/", 1)[0] + "/" + name

    def close(self) -> None:
        for drop in reversed(self._drops):
            drop()


@dataclass
class Trial:
    """One crash and restart: what was done and what the restart found."""

    seed: int
    aim: "Aim | None"  # None: not killed (the reference)
    killed: bool
    timeline: list[float] | None  # seconds from READY to each commit, then to DONE
    result: dict
    at_crash: str = ""  # how far the killed step got: committed timers and outbox rows


class CrashBench:
    """A scenario's template database and its trials."""

    def __init__(self, name: str, root: Path, postgres: bool = False) -> None:
        warm_up()
        self.name = name
        self.root = root
        self.store = Store(root, postgres)
        self.template = self.store.fresh("template")
        msg = run_phase("setup", name, self.template, root / "template-data")
        self.step_at = datetime.fromisoformat(msg[1])
        self.count = 0

    def trial(self, seed: int, aim: "Aim | None") -> Trial:
        """Copy the template, run the step, kill it where `aim` says (None: let it finish),
        restart on the same database and read what the restart found."""
        self.count += 1
        label = f"trial{self.count}-seed{seed}"
        url = self.store.copy(self.template, label)
        data = self.root / f"{label}-data"
        shutil.copytree(self.root / "template-data", data)
        proc, conn = _spawn("step", self.name, url, data, self.step_at)
        killed, timeline = False, None
        try:
            assert _receive(conn, proc, f"{label} step") == "READY"
            seen = 0
            while aim is not None and seen < aim.after_commits:
                msg = _receive(conn, proc, f"{label} step")
                if msg[0] != "COMMIT":
                    break  # finished before the aimed commit: a trial that was not killed
                seen = msg[1]
            if aim is not None:
                time.sleep(aim.offset)
                if proc.is_alive():
                    proc.kill()  # SIGKILL: no cleanup, no flush, no goodbye
            proc.join(PHASE_TIMEOUT)
            killed = proc.exitcode == -9
            if not killed:
                commits = []
                while True:
                    msg = _receive(conn, proc, f"{label} step")
                    if msg[0] == "DONE":
                        timeline = commits + [msg[1]]
                        break
                    commits.append(msg[2])
        finally:
            if proc.is_alive():
                proc.kill()
                proc.join()
        at_crash = progress(url) if killed else ""
        result = run_phase("recover", self.name, url, data, self.step_at + RESTART_AFTER)[1]
        return Trial(seed, aim, killed, timeline, result, at_crash)

    def close(self) -> None:
        self.store.close()


def progress(url: str) -> str:
    """What a killed step left behind, before the restart: e.g. "timers done 1, outbox
    pending 3 sent 2" (shows where the kill landed: before, at or after a commit)."""
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            timers = dict(c.execute(sa.text(
                "SELECT state, count(*) FROM timer WHERE state != 'pending' GROUP BY state")).all())
            rows = dict(c.execute(sa.text(
                "SELECT state, count(*) FROM outboxmessage GROUP BY state")).all())
    finally:
        engine.dispose()
    return (f"timers {sorted(timers.items())} outbox {sorted(rows.items())}")


@dataclass(frozen=True)
class Aim:
    """Where to kill: `offset` seconds after the step's `after_commits`-th commit."""

    after_commits: int
    offset: float

    def __str__(self) -> str:
        return f"{self.offset * 1000:.1f} ms after commit {self.after_commits}"


def aim(seed: int, timeline: list[float]) -> Aim:
    """A reproducible kill point spread over the whole step: pick one of the gaps between
    READY, the step's commits and DONE (as the uninterrupted run timed them), then an
    instant inside it (a little beyond, so the end of the step is hit too)."""
    rng = random.Random(seed)
    marks = [0.0] + list(timeline)
    k = rng.randrange(len(marks) - 1)
    gap = max(marks[k + 1] - marks[k], 0.001)
    return Aim(k, rng.uniform(0.0, gap * 1.1))


def differences(reference: dict, got: dict, retried: bool) -> list[str]:
    """What the restart found that breaks an invariant, compared with an uninterrupted run."""
    problems = []
    if got["not_sent"]:
        problems.append(f"outbox rows never delivered: {got['not_sent']}")
    if got["overdue"]:
        problems.append(f"timers overdue and still pending after restart: {got['overdue']}")
    if got["keyed"] != reference["keyed"]:
        lost = sorted(set(reference["keyed"]) - set(got["keyed"]))
        extra = sorted(set(got["keyed"]) - set(reference["keyed"]))
        problems.append(f"keyed outbox rows differ: lost {lost}, unexpected {extra}")
    if retried:
        # A person retried after the crash: their retry's own reply may be the only one.
        ref, mine = reference["keyless"], got["keyless"]
        if not (len(ref) - 1 <= len(mine) <= len(ref)) or not set(mine) <= set(ref):
            problems.append(f"unkeyed replies differ: {len(mine)} vs {len(ref)}")
    elif got["keyless"] != reference["keyless"]:
        problems.append(f"unkeyed outbox rows differ: {got['keyless']} vs {reference['keyless']}")
    for net, ledger in got["ledgers"].items():
        if not ledger["ok"]:
            problems.append(f"ledger of network {net} does not verify: {ledger['reason']}")
    if got["ledgers"] != reference["ledgers"]:
        problems.append(f"ledger differs: {got['ledgers']} vs {reference['ledgers']}")
    if got["timers"] != reference["timers"]:
        problems.append(f"timer states differ: {got['timers']} vs {reference['timers']}")
    if got["state"] != reference["state"]:
        problems.append(f"domain state differs: {got['state']} vs {reference['state']}")
    return problems

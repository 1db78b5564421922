"""A real Tessera process for the crash tests, one phase per run:

    python -m tests.faults.driver setup   SCENARIO DB_URL DATA_DIR
    python -m tests.faults.driver step    SCENARIO DB_URL DATA_DIR AT
    python -m tests.faults.driver recover SCENARIO DB_URL DATA_DIR AT

The crash tests run the same phases in forked processes (`in_child`), which skips the
seconds of Python imports per run; the command line is for reproducing one by hand.

`setup` builds the scenario through the dispatcher and reports the step's instant.
`step` builds the app, reports READY, runs the critical step and delivers what it queued,
then reports DONE and its duration: the parent kills it with SIGKILL somewhere in between.
`recover` is the clean restart: it runs due timers, lets a person retry (if the scenario
says so), delivers everything into recording fake platforms and reports a fingerprint of
what the database holds. The app is built with `bots.app.build_app`, as in production.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlmodel import select


def features():
    """The whole suite, plus sync days and the calendar while they are not wired yet."""
    from bots.app import all_features
    found = list(all_features())
    names = {f.name for f in found}
    try:
        from bots import calendar_feature, syncday
    except ImportError:  # pragma: no cover - sync days not in this tree
        return found
    for f in (calendar_feature.feature, syncday.feature):
        if f.name not in names:
            found.append(f)
    return found


def config(db_url: str, data_dir: str):
    from core.config import load_config
    return load_config(env={}, path=None, overrides={
        "tessera": {"data_dir": data_dir, "database_url": db_url},
        "translation": {"enabled": False},
        # The concurrency test fires hundreds of commands per person at one instant.
        "commands": {"flood_burst": 100000},
    })


async def start(db_url: str, data_dir: str, at: datetime | None):
    """The suite as `tests.support.chat.Town` runs it, on `db_url`, its clock at `at`."""
    from core.clock import FakeClock
    from tests.support.chat import Town
    clock = FakeClock(at) if at else FakeClock()
    return await Town.start(config(db_url, data_dir), clock, features=features())


def fingerprint(town, scenario) -> dict:
    """What the database holds after recovery, in comparable form."""
    from core.ledger import verify_chain
    from core.storage import unit_of_work
    from core.storage.models import Network, OutboxMessage, Timer
    from core.storage.treasury import load_chain

    now = town.clock.now()
    with unit_of_work(town.app.services.engine) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        timers = s.exec(select(Timer).order_by(Timer.id)).all()
        ledgers = {}
        for net in s.exec(select(Network)).all():
            chain = load_chain(s, net.id)
            v = verify_chain(chain)
            ledgers[str(net.id)] = {"ok": v.ok, "reason": v.reason, "length": len(chain),
                                    "seqs": [e.seq for e in chain],
                                    "kinds": dict(Counter(str(getattr(e.kind, "value", e.kind))
                                                          for e in chain))}
        state = scenario.state(s)
    from core.clock import utc
    return {
        "keyed": sorted(r.idempotency_key for r in rows if r.idempotency_key),
        "keyless": sorted(f"{r.platform}|{r.chat_id}|{int(r.direct)}" for r in rows
                          if not r.idempotency_key),
        "not_sent": [(r.id, r.state, r.idempotency_key) for r in rows if r.state != "sent"],
        # Keys of timers carry instants (a leg opened at restart time has other ones): count
        # final states per kind instead.
        "timers": sorted(f"{t.kind}:{t.state}" for t in timers),
        "overdue": [t.key for t in timers if t.state == "pending" and utc(t.due_at) <= now],
        "ledgers": ledgers,
        "state": json.loads(json.dumps(state, default=str)),
        "delivered": len(town.log),
    }


async def run_phase(phase: str, name: str, db_url: str, data_dir: str, at: datetime | None,
                    tell) -> None:
    """Run one phase; `tell(message)` reports READY, ("DONE", seconds) and results."""
    from tests.faults.scenarios import SCENARIOS

    scenario = SCENARIOS[name]
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    town = await start(db_url, data_dir, at)
    try:
        if phase == "setup":
            tell(("SETUP", (await scenario.setup(town)).isoformat()))
        elif phase == "step":
            # Report every commit of the step, so the parent can aim its kill between any
            # two of them whatever the machine's speed.
            began = time.perf_counter()
            commits = 0
            after = town.app.after_commit

            def after_commit(work) -> None:
                nonlocal commits
                commits += 1
                tell(("COMMIT", commits, time.perf_counter() - began))
                after(work)
            town.app.after_commit = after_commit
            tell("READY")
            began = time.perf_counter()
            await scenario.step(town)
            await town.app.settle()
            tell(("DONE", time.perf_counter() - began, commits))
        elif phase == "recover":
            await town.app.settle()  # the restarted scheduler runs whatever is due
            if scenario.retry is not None:
                await scenario.retry(town)
            await town.app.settle()
            tell(("RESULT", fingerprint(town, scenario)))
        else:
            raise SystemExit(f"unknown phase {phase}")
    finally:
        await town.stop()


def in_child(conn, *args) -> None:
    """multiprocessing target: run a phase and report through `conn`."""
    try:
        asyncio.run(run_phase(*args, tell=conn.send))
    except BaseException as exc:  # the parent shows what broke
        import traceback
        conn.send(("ERROR", "".join(traceback.format_exception(exc))))


if __name__ == "__main__":
    phase, name, db_url, data_dir = sys.argv[1:5]
    at = datetime.fromisoformat(sys.argv[5]) if len(sys.argv) > 5 else None
    asyncio.run(run_phase(phase, name, db_url, data_dir, at,
                          tell=lambda m: print(json.dumps(m), flush=True)))

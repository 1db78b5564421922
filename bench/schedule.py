"""Target 3, scheduling: thousands of kickoffs across every IANA time zone, all due within a
minute, through the real scheduler (APScheduler with its job store in the database, the
system clock). Lateness is measured from each timer's due instant to the outbox row its
handler wrote.

Each kickoff is set the way a synchronized day sets one: a local wall time in a zone,
resolved to an instant. As when circles join a sync day, the kickoffs are created ahead of
the minute in which they fall due (10 s ahead here), in units of work of 500 that each go
through `App.after_commit`, the path every command that schedules something takes; the
time creating them took is its own row.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import available_timezones

from bench import Row, percentile, under
from bench.common import PLATFORM, bench_config
from core.commands import Feature
from core.messages import Outgoing

kickoff_feature = Feature("bench_kickoff")
KIND = "bench.kickoff"


@kickoff_feature.timer(KIND)
async def _kickoff(work, timer, late, missed) -> None:
    from core import outbox
    p = timer.payload
    outbox.enqueue(work.session, PLATFORM, p["chat"],
                   Outgoing(text=f"Kickoff now in {p['zone']} ({p['local']})"),
                   now=work.now, key=f"bench:kickoff:{timer.id}")


def kickoff_plan(start: datetime, count: int, within: float,
                 lead: float) -> tuple[list[tuple], int]:
    """([(zone, local wall time, due instant)], number of zones) for `count` kickoffs spread
    evenly over the `within` seconds that begin `lead` seconds after `start`, cycling
    through every IANA zone."""
    from core.timekeeping import local_wall, resolve_local

    zones = sorted(available_timezones())
    plan = []
    for i in range(count):
        zone = zones[i % len(zones)]
        target = start + timedelta(seconds=lead + within * (i + 1) / count)
        # Whole local seconds, as people write them; resolving gives the instant back.
        local = local_wall(target, zone).replace(microsecond=0, tzinfo=None)
        due = resolve_local(local, zone)
        if due <= start + timedelta(seconds=lead):
            due += timedelta(seconds=1)
        plan.append((zone, local.isoformat(sep=" "), due))
    return plan, len(zones)


async def measure(data_dir: Path, count: int, within: float, lead: float = 10.0,
                  batch: int = 500) -> dict:
    """Start the real scheduler, create the kickoffs, wait for them; return measurements."""
    from sqlmodel import func, select

    from bots.app import build_app
    from core.clock import SystemClock, utc
    from core.storage import unit_of_work
    from core.storage.models import OutboxMessage, Timer
    from core.work import Work

    url = f"sqlite:///{data_dir / 'schedule.db'}"
    app = build_app(bench_config(data_dir, url), clock=SystemClock(), features=[kickoff_feature])
    await app.scheduler.start()
    try:
        await asyncio.sleep(0.2)  # let the first sweep run on an empty table
        start = app.services.clock.now()
        plan, zones = kickoff_plan(start, count, within, lead)
        t0 = time.perf_counter()
        created = planned = 0.0
        for first in range(0, count, batch):
            t1 = time.perf_counter()
            with unit_of_work(app.services.engine) as s:
                work = Work(app.services, s, app.services.clock.now())
                for i in range(first, min(first + batch, count)):
                    zone, local, due = plan[i]
                    work.schedule(KIND, due, key=f"bench:kickoff:{i}", zone=zone, local=local,
                                  chat=f"circle-{i % 1000}")
            t2 = time.perf_counter()
            app.after_commit(work)  # what the dispatcher does after a command's commit
            created, planned = created + t2 - t1, planned + time.perf_counter() - t2
            await asyncio.sleep(0)  # other work gets the loop between units of work
        last_due = max(d for _, _, d in plan)
        deadline = time.monotonic() + (last_due - app.services.clock.now()).total_seconds() + 60
        while time.monotonic() < deadline:
            with unit_of_work(app.services.engine) as s:
                pending = s.exec(select(func.count()).select_from(Timer).where(
                    Timer.kind == KIND, Timer.state == "pending")).one()
            if pending == 0:
                break
            await asyncio.sleep(0.5)
        with unit_of_work(app.services.engine) as s:
            timers = {f"bench:kickoff:{t.id}": t
                      for t in s.exec(select(Timer).where(Timer.kind == KIND)).all()}
            said = s.exec(select(OutboxMessage).where(
                OutboxMessage.idempotency_key.startswith("bench:kickoff:"))).all()
            rows = [(timers[r.idempotency_key], r) for r in said if r.idempotency_key in timers]
            states = dict(s.exec(select(Timer.state, func.count()).where(Timer.kind == KIND)
                                 .group_by(Timer.state)).all())
    finally:
        await app.stop()
    late = [(utc(row.created_at) - utc(t.due_at)).total_seconds() for t, row in rows]
    ahead = (min(d for _, _, d in plan) - start).total_seconds() - (created + planned)
    return {"count": count, "zones": zones, "within": within, "create_s": created,
            "plan_s": planned, "delivered": len(rows), "states": states, "late": late,
            "ahead_s": ahead}


def run(options) -> list[Row]:
    """Target 3: 5,000 kickoffs due within a minute (or `--within`, `--kickoffs`)."""
    count = options.kickoffs or (300 if options.quick else 5000)
    within = options.within if not options.quick or options.within != 60.0 else 8.0
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        m = asyncio.run(measure(Path(tmp), count, within, lead=3.0 if options.quick else 10.0))
    late = m["late"]
    p99 = percentile(late, 99)
    ran = m["delivered"]
    states = ", ".join(f"{k} {v}" for k, v in sorted(m["states"].items()))
    return [
        Row("3 scheduling", f"p99 lateness, {count:,} kickoffs in {within:g} s", p99, "s",
            "< 1 s", under(p99, 1.0) if ran == count else False,
            f"p50 {percentile(late, 50):.3f} s, max {max(late, default=float('nan')):.3f} s, "
            f"{m['zones']} zones, {ran}/{count} rows; timers: {states}"),
        Row("3 scheduling", "creating + planning the kickoffs", m["create_s"] + m["plan_s"], "s",
            "", None, f"units of work of 500: {m['create_s']:.2f} s, APScheduler jobs "
                      f"{m['plan_s']:.2f} s; done {m['ahead_s']:.1f} s before the first was due"),
    ]


__all__ = ["run", "measure", "kickoff_plan", "kickoff_feature"]

"""Time: timers in the database, woken by one APScheduler per deployment.

Each `Timer` row is due at an instant. Running a timer calls its feature's handler inside a
unit of work and marks the row done in the same transaction, so a timer's effects happen
exactly once even if the process dies mid-way. APScheduler 3.x (with its job store in the
same database) holds one date job per pending timer so it fires on time, plus a sweep that
picks up timers other processes created. Tests and the console demo call `run_due(now)`
with a fake clock instead of waiting.

A timer found overdue after downtime runs late (its handler sees `late`) within the
configured grace, and is marked missed (and reported to coordinators by its handler's
`missed` path) beyond it: never silently lost, never run twice.

Exactly one scheduler is active per deployment: on PostgreSQL it is elected with an
advisory lock held on a dedicated connection; if its process dies the lock is released and
another process takes over on its next attempt (every few seconds).
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import text
from sqlmodel import select

from core.clock import utc
from core.storage import is_postgres, unit_of_work
from core.storage.models import Timer
from core.work import Services, Work

log = logging.getLogger("tessera.scheduler")

ADVISORY_LOCK_ID = 0x7E55E4A  # "tessera"
# APScheduler pickles a job's function by reference; the job finds its live scheduler here.
# Keyed by a per-process name, never shared between processes.
_LIVE: "weakref.WeakValueDictionary[str, Scheduler]" = weakref.WeakValueDictionary()


async def fire_timer(scheduler_name: str, timer_id: int) -> None:
    """APScheduler job entry point: run one timer on the live scheduler of this process."""
    sched = _LIVE.get(scheduler_name)
    if sched is not None:
        await sched.run_timer(timer_id)


async def sweep(scheduler_name: str) -> None:
    """APScheduler job entry point: run whatever is due and plan newly created timers."""
    sched = _LIVE.get(scheduler_name)
    if sched is not None:
        await sched.sweep()


class Scheduler:
    """Runs due timers through the features' handlers."""

    def __init__(self, services: Services, handlers: dict[str, Callable],
                 after_commit: Callable[[Work], None] | None = None, name: str = "tessera") -> None:
        self.services = services
        self.handlers = handlers
        self.after_commit = after_commit or (lambda w: None)
        cfg = services.config["scheduler"]
        self.grace = timedelta(seconds=cfg["misfire_grace_seconds"])
        self.sweep_seconds = cfg["sweep_seconds"]
        self.name = name
        self._aps = None
        self._planned: set[int] = set()
        self._lock_conn = None
        self._elect_task: asyncio.Task | None = None
        self.is_leader = False
        self.ran = 0

    # -- running timers ---------------------------------------------------------------------
    async def run_due(self, now: datetime | None = None) -> int:
        """Run every pending timer due at or before `now`; return how many ran or missed."""
        now = now or self.services.clock.now()
        with unit_of_work(self.services.engine) as s:
            ids = s.exec(select(Timer.id).where(Timer.state == "pending", Timer.due_at <= now)
                         .order_by(Timer.due_at, Timer.id)).all()
        count = 0
        for timer_id in ids:
            if await self.run_timer(timer_id, now):
                count += 1
        return count

    async def run_timer(self, timer_id: int, now: datetime | None = None) -> bool:
        """Run one timer if it is still pending and due; True when it ran or was missed."""
        now = now or self.services.clock.now()
        with unit_of_work(self.services.engine) as s:
            q = select(Timer).where(Timer.id == timer_id)
            if is_postgres(self.services.engine):
                q = q.with_for_update(skip_locked=True)
            timer = s.exec(q).first()
            if timer is None or timer.state != "pending" or utc(timer.due_at) > now:
                return False
            late = now - utc(timer.due_at)
            handler = self.handlers.get(timer.kind)
            work = Work(self.services, s, now)
            if handler is None:
                log.error("no handler for timer kind %r (timer %s)", timer.kind, timer.id)
                timer.state = "missed"
            else:
                missed = late > self.grace
                await handler(work, timer, late=late, missed=missed)
                timer.state = "missed" if missed else "done"
            timer.ran_at, timer.late_seconds = now, late.total_seconds()
            s.add(timer)
        self._planned.discard(timer_id)
        self.ran += 1
        self.after_commit(work)
        return True

    # -- APScheduler -----------------------------------------------------------------------
    async def start(self) -> None:
        """Become the active scheduler (now, or when the current one goes away)."""
        if is_postgres(self.services.engine):
            self._elect_task = asyncio.create_task(self._elect())
        else:
            await self._become_leader()

    async def _elect(self) -> None:
        while True:
            try:
                if self._try_lock():
                    await self._become_leader()
                    return
            except Exception:
                log.exception("scheduler election failed; retrying")
            await asyncio.sleep(2)

    def _try_lock(self) -> bool:
        conn = self.services.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_ID}).scalar()
        if got:
            self._lock_conn = conn  # the lock lives as long as this connection
            conn.commit()
            return True
        conn.close()
        return False

    async def _become_leader(self) -> None:
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.is_leader = True
        _LIVE[self.name] = self
        store = SQLAlchemyJobStore(engine=self.services.engine, tablename="apscheduler_jobs")
        self._aps = AsyncIOScheduler(
            # The sweep lives in the persistent store; the wake-up job of each timer lives in
            # memory, because the Timer row is already the durable record and the sweep plans
            # it again after a restart (a database write per timer made planning 8x slower).
            jobstores={"default": store, "timers": MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": None},  # lateness is judged by run_timer
            timezone="UTC",
        )
        self._aps.start()
        self._aps.add_job(sweep, "interval", seconds=self.sweep_seconds, args=[self.name],
                          id="tessera-sweep", replace_existing=True,
                          next_run_time=self.services.clock.now())
        log.info("scheduler active")

    async def sweep(self) -> None:
        """Run what is due and give APScheduler a job for each pending timer."""
        await self.run_due()
        self.plan()

    def plan(self, timers: list[Timer] | None = None) -> None:
        """Add APScheduler date jobs for pending timers not yet planned."""
        if self._aps is None:
            return
        if timers is None:
            # Ids and due times only: the sweep runs while thousands of timers may be pending,
            # and loading them as objects held the event loop for a noticeable while.
            horizon = self.services.clock.now() + timedelta(seconds=self.sweep_seconds * 4)
            with unit_of_work(self.services.engine) as s:
                due = s.exec(select(Timer.id, Timer.due_at).where(
                    Timer.state == "pending", Timer.due_at <= horizon)).all()
        else:
            due = [(t.id, t.due_at) for t in timers]
        for timer_id, due_at in due:
            if timer_id is None or timer_id in self._planned:
                continue
            self._aps.add_job(fire_timer, "date", run_date=utc(due_at), args=[self.name, timer_id],
                              id=f"timer-{timer_id}", replace_existing=True, jobstore="timers")
            self._planned.add(timer_id)

    async def stop(self) -> None:
        """Stop the scheduler and give up leadership."""
        if self._elect_task:
            self._elect_task.cancel()
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self._lock_conn is not None:
            try:
                self._lock_conn.close()
            finally:
                self._lock_conn = None
        self.is_leader = False
        _LIVE.pop(self.name, None)

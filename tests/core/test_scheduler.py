"""Timers: exactly once, late within grace, missed beyond it, and one scheduler elected."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bots import circles, help as help_
from core.clock import SystemClock
from core.commands import Feature
from core.storage import unit_of_work
from core.storage.models import Timer
from core.work import Work
from tests.conftest import make_config, postgres_database
from tests.support.chat import Town

ring = Feature("ring")
RUNS: list[tuple[str, float, bool]] = []


@ring.timer("ring.bell")
async def _bell(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    RUNS.append((timer.key, late.total_seconds(), missed))


def _features():
    return [help_.feature, circles.feature, ring]


@pytest.fixture(autouse=True)
def _clear_runs():
    RUNS.clear()


async def _bell_at(town, delta, key):
    with unit_of_work(town.app.services.engine) as s:
        Work(town.app.services, s, town.clock.now()).schedule(
            "ring.bell", town.clock.now() + delta, key)


async def test_a_timer_runs_once_at_its_time(tmp_path, sqlite_url, clock):
    town = await Town.start(make_config(tmp_path, sqlite_url), clock, features=_features())
    await _bell_at(town, timedelta(hours=1), "bell-1")
    await _bell_at(town, timedelta(hours=1), "bell-1")  # the same key is scheduled once
    await town.wait(timedelta(minutes=59))
    assert RUNS == []
    await town.wait(timedelta(minutes=1))
    await town.wait(timedelta(hours=5))
    assert RUNS == [("bell-1", 0.0, False)]
    await town.stop()


async def test_late_within_grace_and_missed_beyond(tmp_path, sqlite_url, clock):
    cfg = make_config(tmp_path, sqlite_url, scheduler={"misfire_grace_seconds": 600})
    town = await Town.start(cfg, clock, features=_features())
    await _bell_at(town, timedelta(minutes=1), "soon")
    await _bell_at(town, timedelta(minutes=2), "later")
    await town.stop()  # the process is down while both fall due
    clock.advance(timedelta(minutes=6))
    town = await Town.start(cfg, clock, features=_features())
    await town.app.settle()
    assert RUNS[0] == ("soon", 300.0, False) and RUNS[1] == ("later", 240.0, False)
    await _bell_at(town, timedelta(minutes=1), "too-late")
    await town.stop()
    clock.advance(timedelta(hours=1))
    town = await Town.start(cfg, clock, features=_features())
    await town.app.settle()
    await town.app.settle()
    assert RUNS[2] == ("too-late", 3540.0, True)
    assert len(RUNS) == 3
    with unit_of_work(town.app.services.engine) as s:
        states = {t.key: t.state for t in s.exec(select(Timer)).all()}
    assert states == {"soon": "done", "later": "done", "too-late": "missed"}
    await town.stop()


async def test_apscheduler_wakes_a_timer_in_real_time(tmp_path, sqlite_url):
    town = await Town.start(make_config(tmp_path, sqlite_url, scheduler={"sweep_seconds": 60}),
                            SystemClock(), features=_features())
    town.clock = SystemClock()
    await town.app.scheduler.start()
    await _bell_at(town, timedelta(seconds=0.5), "real")
    with unit_of_work(town.app.services.engine) as s:
        timers = list(s.exec(select(Timer)).all())
    town.app.scheduler.plan(timers)
    for _ in range(100):
        if RUNS:
            break
        await asyncio.sleep(0.05)
    assert [r[0] for r in RUNS] == ["real"]
    await town.stop()


async def test_one_scheduler_is_elected_on_postgres_and_another_takes_over(tmp_path):
    url, drop = postgres_database()
    try:
        cfg = make_config(tmp_path, url)
        a = await Town.start(cfg, SystemClock(), features=_features())
        b = await Town.start(cfg, SystemClock(), features=_features())
        await a.app.scheduler.start()
        await b.app.scheduler.start()
        await asyncio.sleep(0.5)
        assert (a.app.scheduler.is_leader, b.app.scheduler.is_leader) == (True, False)
        await a.stop()  # the leader goes away; its advisory lock is released
        for _ in range(50):
            if b.app.scheduler.is_leader:
                break
            await asyncio.sleep(0.2)
        assert b.app.scheduler.is_leader
        await b.stop()
    finally:
        drop()


def test_scheduler_refuses_nothing_without_handlers(tmp_path, sqlite_url):
    # A timer whose feature is gone is marked missed, not retried forever.
    async def go():
        from core.clock import FakeClock
        clock = FakeClock()
        town = await Town.start(make_config(tmp_path, sqlite_url), clock, features=_features())
        await _bell_at(town, timedelta(seconds=1), "orphan")
        with unit_of_work(town.app.services.engine) as s:
            t = s.exec(select(Timer)).one()
            t.kind = "feature.that.left"
            s.add(t)
        await town.wait(timedelta(seconds=5))
        with unit_of_work(town.app.services.engine) as s:
            assert s.exec(select(Timer)).one().state == "missed"
        await town.stop()
    asyncio.run(go())


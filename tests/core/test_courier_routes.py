"""Couriers of one platform share its chats out by route on PostgreSQL: each chat has one
walker at a time, a dead worker's route is taken over, and it is handed back when the worker
returns. (The same with real processes and the Telegram Bot API: tests/telegram/
test_delivery_workers.py.)"""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlmodel import select

from core import outbox
from core.courier_routes import SETTLE_SECONDS, Route, Routes, route_locks, route_of
from core.messages import Outgoing
from core.storage import make_engine, unit_of_work, upgrade
from core.storage.models import OutboxMessage
from tests.conftest import make_config, postgres_database
from tests.support.chat import Town
from tests.support.routes import settled


@pytest.fixture
def pg_url():
    url, drop = postgres_database()
    yield url
    drop()


def test_a_worker_spec_reads_k_of_n():
    assert Route.parse("2/3") == Route(2, 3) and str(Route(2, 3)) == "2/3"
    for bad in ("3/2", "0/1", "2", "a/b", "1/300", ""):
        with pytest.raises(ValueError):
            Route.parse(bad)
    # Stable: the same chat is on the same route in every process, and routes are all used.
    assert route_of("-1001234", 3) == route_of("-1001234", 3)
    assert {route_of(str(-1001000 - i), 3) for i in range(30)} == {1, 2, 3}


def test_routes_are_walked_once_taken_over_and_handed_back(pg_url, caplog):
    engine = make_engine(pg_url)
    one, two, three = (Routes(engine, "telegram", Route(k, 3)) for k in (1, 2, 3))
    try:
        one.check(0.0)
        assert one.walking == {1, 2, 3}  # alone: it walks every route
        assert one.share_at(0.0) == 0  # ... but uses none of the rate for a second
        assert one.share_at(SETTLE_SECONDS) == 1.0
        two.check(0.0)
        three.check(0.0)
        assert two.walking == three.walking == set()  # their routes are still being walked
        one.check(2.0)  # sees them on duty and hands their routes back
        assert one.walking == {1} and one.share_at(2.0) == pytest.approx(1 / 3)
        two.check(2.0)
        three.check(2.0)
        assert (two.walking, three.walking) == ({2}, {3})
        with engine.connect() as conn:
            held = {(lock.kind, lock.number) for lock in route_locks(conn, "telegram")}
            assert held == {(kind, n) for kind in ("on duty", "walking") for n in (1, 2, 3)}
            assert route_locks(conn, "matrix") == []  # each platform has its own space

        two.close()  # worker 2 dies: PostgreSQL drops its locks when its backend ends
        for _ in range(100):  # (the backend ends a moment after the connection closes)
            three.check(4.0)
            if three.walking != {3}:
                break
            time.sleep(0.05)
        assert three.walking == {2, 3}
        assert three.share_at(4.0) == pytest.approx(1 / 3)  # route 2's share: a second later
        assert three.share_at(4.0 + SETTLE_SECONDS) == pytest.approx(2 / 3)
        one.check(4.0)
        assert one.walking == {1}  # route 2 has a walker already

        back = Routes(engine, "telegram", Route(2, 3))
        back.check(6.0)  # on duty again, but route 2 is still walked by worker 3
        assert back.walking == set()
        three.check(6.0, busy={2})  # sends in flight on route 2: not handed back yet
        assert three.walking == {2, 3}
        three.check(8.0)
        back.check(8.0)
        assert (three.walking, back.walking) == ({3}, {2})
        back.close()

        with caplog.at_level(logging.ERROR, logger="tessera.delivery"):
            stray = Routes(engine, "telegram", Route(1, 2))  # started with another N
            stray.check(0.0)
            stray.close()
        assert "workers disagree" in caplog.text
    finally:
        for routes in (one, two, three):
            routes.close()
        engine.dispose()


def _queue(engine, clock, chats: list[str], count: int, start: int = 0) -> None:
    with unit_of_work(engine) as s:
        for n in range(start, start + count):
            for chat in chats:
                outbox.enqueue(s, "beta", chat, Outgoing(text=f"{chat} #{n:02d}"),
                               now=clock.now())


async def test_two_processes_share_a_platforms_chats_and_one_takes_over(tmp_path, pg_url, clock):
    """Two suites on one database (stand-ins for two processes) deliver 'beta' as workers 1/2
    and 2/2: every message once, in order, each chat by its own route's worker; when worker 2
    stops, worker 1 delivers its chats too."""
    engine = make_engine(pg_url)
    upgrade(engine)
    cfg = make_config(tmp_path, pg_url, translation={"enabled": False})
    towns = [await Town.start(cfg, clock, extra_platforms=("beta",)) for _ in range(2)]
    running = list(towns)
    try:
        couriers = [t.app.couriers["beta"] for t in towns]
        for k, courier in enumerate(couriers, 1):
            courier.take_route(Route(k, 2))
        chats = [f"circle-{i}" for i in range(8)]
        assert {route_of(c, 2) for c in chats} == {1, 2}
        # Whoever starts first walks both routes until the other is on duty: wait for that.
        await settled(engine, "beta", 2)
        _queue(engine, clock, chats, 5)
        await asyncio.gather(*(_until_sent(engine, c) for c in couriers))

        for k, town in enumerate(towns, 1):
            got = town.platforms["beta"].delivered
            assert got and {d.chat_id for d in got} == {c for c in chats if route_of(c, 2) == k}
        for chat in chats:
            assert said(towns, chat) == [f"{chat} #{n:02d}" for n in range(5)]

        await running.pop().stop()  # worker 2 goes away
        _queue(engine, clock, chats, 3, start=5)
        await _until_sent(engine, couriers[0])
        for chat in chats:
            assert said(towns, chat) == [f"{chat} #{n:02d}" for n in range(8)]
    finally:
        for town in running:
            await town.stop()
        engine.dispose()


def said(towns, chat: str) -> list[str]:
    """What both workers said in `chat`, in the order it was said."""
    found = [d for t in towns for d in t.platforms["beta"].delivered if d.chat_id == chat]
    return [d.text for d in sorted(found, key=lambda d: d.at)]


async def _until_sent(engine, courier, rounds: int = 400) -> None:
    """Let `courier` deliver until no 'beta' row is pending (bounded)."""
    for _ in range(rounds):
        await courier.deliver_ready()
        await courier.finish()
        with unit_of_work(engine) as s:
            if not s.exec(select(OutboxMessage.id).where(OutboxMessage.platform == "beta",
                                                         OutboxMessage.state == "pending")).first():
                return
        await asyncio.sleep(0.05)
    pytest.fail("rows still pending")


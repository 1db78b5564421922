"""The outbox and its couriers: order per chat, pace, retry-after, dead letters, crashes."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core import outbox
from core.adapter import DeliveryError, RetryAfter
from core.delivery import Courier, Pace
from core.messages import Outgoing
from core.storage import unit_of_work
from core.storage.models import OutboxMessage
from tests.conftest import make_config
from tests.support.chat import Town


def _queue(town, platform, chat, texts):
    with unit_of_work(town.app.services.engine) as s:
        for t in texts:
            outbox.enqueue(s, platform, chat, Outgoing(text=t), now=town.clock.now())


async def test_order_is_kept_per_chat(town):
    _queue(town, "beta", "c1", [f"one-{i}" for i in range(30)])
    _queue(town, "beta", "c2", [f"two-{i}" for i in range(30)])
    await town.app.settle()
    beta = town.platforms["beta"].delivered
    assert [d.text for d in beta if d.chat_id == "c1"] == [f"one-{i}" for i in range(30)]
    assert [d.text for d in beta if d.chat_id == "c2"] == [f"two-{i}" for i in range(30)]


async def test_a_chat_that_keeps_us_waiting_does_not_hold_the_others(town):
    import asyncio
    beta = town.platforms["beta"]
    beta.hold["slow"] = asyncio.Event()
    _queue(town, "beta", "slow", ["first", "second"])
    _queue(town, "beta", "c2", [f"two-{i}" for i in range(5)])
    town.app.couriers["beta"].wake()  # the running courier, not a drain
    for _ in range(200):
        if len([d for d in beta.delivered if d.chat_id == "c2"]) == 5:
            break
        await asyncio.sleep(0.01)
    assert [d.text for d in beta.delivered] == [f"two-{i}" for i in range(5)]
    beta.hold["slow"].set()
    await town.app.settle()
    assert [d.text for d in beta.delivered if d.chat_id == "slow"] == ["first", "second"]


async def test_retry_after_holds_the_chat_and_loses_nothing(town):
    beta = town.platforms["beta"]
    beta.fail_next = [RetryAfter(0.2)]
    _queue(town, "beta", "c1", ["a", "b", "c"])
    await town.app.settle()
    assert [d.text for d in beta.delivered] == []  # held back: the chat waits its turn
    await town.wait(timedelta(seconds=1))
    assert [d.text for d in beta.delivered] == ["a", "b", "c"]
    with unit_of_work(town.app.services.engine) as s:
        rows = s.exec(select(OutboxMessage)).all()
        assert {r.state for r in rows} == {"sent"} and rows[0].attempts == 0


async def test_failures_back_off_then_dead_letter_and_tell_coordinators(town):
    await town.network(("lagos", "Lagos", "NG", "Africa/Lagos", "en"), platform_of={"lagos": "beta"})
    beta = town.platforms["beta"]
    beta.fail_next = [DeliveryError("boom")] * 8
    _queue(town, "beta", "lagos", ["the announcement"])
    with unit_of_work(town.app.services.engine) as s:
        row = s.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
        row.circle_id = 1
        s.add(row)
    for _ in range(10):
        await town.wait(timedelta(minutes=15))
    with unit_of_work(town.app.services.engine) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.payload["text"].as_string() == "the announcement")).one()
        assert row.state == "dead" and row.attempts == 8
    told = [d for d in beta.delivered if d.direct and d.chat_id == "lagos_coord"]
    assert len(told) == 1 and "could not deliver" in told[0].text and "the announcement" in told[0].text


async def test_permanent_failure_is_not_retried(town):
    beta = town.platforms["beta"]
    beta.fail_next = [DeliveryError("chat gone", permanent=True)]
    _queue(town, "beta", "gone", ["x"])
    await town.app.settle()
    with unit_of_work(town.app.services.engine) as s:
        assert s.exec(select(OutboxMessage)).one().state == "dead"


async def test_a_send_cut_off_by_a_stop_is_retried_at_the_next_start(tmp_path, sqlite_url, clock):
    cfg = make_config(tmp_path, sqlite_url)
    first = await Town.start(cfg, clock)
    _queue(first, "beta", "c1", ["claimed when the process stopped"])
    with unit_of_work(first.app.services.engine) as s:  # a lease of two minutes was taken
        row = s.exec(select(OutboxMessage)).one()
        row.lease_until = clock.now() + timedelta(minutes=2)
        s.add(row)
    await first.stop()
    second = await Town.start(cfg, clock)  # the clock has not moved: the lease is still on
    await second.app.settle()
    assert [d.text for d in second.platforms["beta"].delivered] == ["claimed when the process stopped"]
    await second.stop()


async def test_pending_rows_survive_a_restart(tmp_path, sqlite_url, clock):
    cfg = make_config(tmp_path, sqlite_url)
    first = await Town.start(cfg, clock)
    _queue(first, "beta", "c1", ["queued before the crash"])
    await first.stop()  # nothing was delivered: the process "died"
    second = await Town.start(cfg, clock)
    await second.app.settle()
    assert [d.text for d in second.platforms["beta"].delivered] == ["queued before the crash"]
    await second.stop()


async def test_pace_per_chat_is_respected(town):
    beta = town.platforms["beta"]
    courier: Courier = town.app.couriers["beta"]
    courier.pacer.pace = Pace(per_chat=5, chat_window=0.5, global_per_second=1000)
    _queue(town, "beta", "c1", [str(i) for i in range(15)])
    await courier.drain()
    assert len(beta.delivered) == 15
    times = [d.at for d in beta.delivered]
    # No half-second window ever holds more than five sends.
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u - t < 0.5) <= 5

"""Two delivery-only Discord workers on one PostgreSQL database (stand-ins for two
`tessera run --only discord --deliver-only --worker K/2` processes) against the local Discord
REST API: each channel is served by one worker, every message once and in order, and neither
worker opens the gateway nor runs the scheduler. (Takeover after a worker dies:
tests/core/test_courier_routes.py; with real processes: tests/telegram/
test_delivery_workers.py.)"""
from __future__ import annotations

import asyncio

import pytest

from adapters.discord_adapter import DiscordAdapter
from bots import help as help_
from bots.app import build_app
from core.clock import SystemClock
from core.courier_routes import Route, route_of
from core.messages import Outgoing
from core.outbox import enqueue
from core.storage import make_engine, unit_of_work, upgrade
from tests.conftest import make_config, postgres_database
from tests.support.fake_discord import FakeDiscord
from tests.support.routes import settled

CHANNELS = [1309200000000000001 + i for i in range(6)]
NOTICES = 4  # per channel: under a channel's 5 in 5 s and, in all, the bot's 50 a second


async def test_two_delivery_workers_split_the_channels(tmp_path):
    url, drop = postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    assert {route_of(str(c), 2) for c in CHANNELS} == {1, 2}
    workers, said = [], {1: [], 2: []}
    try:
        async with FakeDiscord() as server:
            for channel in CHANNELS:
                server.add_channel(channel)
            for k in (1, 2):
                app = build_app(make_config(tmp_path, url, translation={"enabled": False}),
                                clock=SystemClock(), features=[help_.feature])
                door = DiscordAdapter(app.services.media, engine=app.services.engine,
                                      token=server.token, registry=app.registry,
                                      api_base=server.api_base)
                app.add_adapter(door)
                _remember(door, said[k])
                await app.start(receive=False, route=Route(k, 2))
                workers.append(app)
            await settled(engine, "discord", 2)
            with unit_of_work(engine) as s:
                for n in range(NOTICES):
                    for channel in CHANNELS:
                        enqueue(s, "discord", str(channel), Outgoing(text=f"notice {n}"),
                                now=SystemClock().now())
            for app in workers:
                app.couriers["discord"].wake()
            await server_has(server, len(CHANNELS) * NOTICES)

            for channel in CHANNELS:
                got = [m.content for m in server.in_channel(channel)]
                assert got == [f"notice {n}" for n in range(NOTICES)]
            for k in (1, 2):
                assert {int(c) for c in said[k]} == {c for c in CHANNELS if route_of(str(c), 2) == k}
            assert server.count_429 == 0
            assert not [path for _, path in server.requests if "gateway" in path]
            assert not any(app.scheduler.is_leader for app in workers)
            # Each keeps to its half of the bot's 50 requests a second.
            assert [app.adapters["discord"].client.http.global_pace.capacity
                    for app in workers] == [25, 25]
    finally:
        for app in workers:
            await app.stop()
        engine.dispose()
        drop()


def _remember(door: DiscordAdapter, chats: list[str]) -> None:
    send = door.send

    async def remembering(chat_id, message, direct=False):
        chats.append(chat_id)
        return await send(chat_id, message, direct=direct)

    door.send = remembering


async def server_has(server: FakeDiscord, count: int, rounds: int = 300) -> None:
    for _ in range(rounds):
        if len(server.sent) >= count:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"only {len(server.sent)} of {count} messages arrived")

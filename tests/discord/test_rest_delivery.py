"""Delivering to Discord without the gateway: the real Discord door in send-only mode, the
real courier, and discord.py's own rate-limit code against a local REST API that refuses
what Discord would refuse (tests/support/fake_discord.py).

The channel bucket's window is shortened in the courier tests (2 s or 1 s instead of 5 s)
to keep them quick; the limit itself (5 messages a window) is Discord's.
"""
from __future__ import annotations

import aiohttp
import discord
import pytest
from sqlmodel import select

from adapters.discord_adapter import DiscordAdapter
from bots import circles, help as help_
from bots.app import App, build_app
from core.clock import SystemClock
from core.delivery import Pace
from core.media import MediaStore
from core.messages import Outgoing
from core.outbox import enqueue
from core.storage import unit_of_work
from core.storage.models import OutboxMessage
from tests.conftest import make_config
from tests.support.fake_discord import DiscordLimits, FakeDiscord

LAGOS, BERLIN, IZMIR = 1309200000000000001, 1309200000000000002, 1309200000000000003
AMAKA = 1309300000000000001


async def _post(session: aiohttp.ClientSession, server: FakeDiscord, channel: int, text: str):
    async with session.post(f"{server.api_base}/channels/{channel}/messages",
                            json={"content": text},
                            headers={"Authorization": f"Bot {server.token}"}) as answer:
        return answer.status, dict(answer.headers), await answer.json()


async def test_the_sixth_message_in_five_seconds_to_one_channel_is_refused():
    async with FakeDiscord() as server, aiohttp.ClientSession() as http:
        server.add_channel(LAGOS, "lagos")
        server.add_channel(BERLIN, "berlin")
        answers = [await _post(http, server, LAGOS, f"update {i}") for i in range(1, 7)]
        other = await _post(http, server, BERLIN, "meanwhile in Berlin")

    accepted, (status, headers, body) = answers[:5], answers[5]
    assert [s for s, _, _ in accepted] == [200] * 5
    assert [h["X-RateLimit-Remaining"] for _, h, _ in accepted] == ["4", "3", "2", "1", "0"]
    assert {h["X-RateLimit-Limit"] for _, h, _ in accepted} == {"5"}
    assert 0 < float(accepted[0][1]["X-RateLimit-Reset-After"]) <= 5
    assert status == 429 and body["global"] is False and 0 < body["retry_after"] <= 5
    assert headers["X-RateLimit-Scope"] == "user" and int(headers["Retry-After"]) >= 1
    assert headers["Via"]  # discord.py reads a 429 without it as a Cloudflare ban
    assert other[0] == 200  # the bucket is the channel's, not the bot's
    assert [m.content for m in server.in_channel(LAGOS)] == [f"update {i}" for i in range(1, 6)]
    assert [(r.scope, r.channel_id) for r in server.refused] == [("user", LAGOS)]


async def test_the_global_limit_refuses_any_route_once_spent():
    async with FakeDiscord(limits=DiscordLimits(global_requests=3, global_window=60)) as server, \
            aiohttp.ClientSession() as http:
        for channel in (LAGOS, BERLIN, IZMIR):
            server.add_channel(channel)
        answers = [await _post(http, server, c, "hello") for c in (LAGOS, BERLIN, IZMIR, LAGOS)]
    status, headers, body = answers[-1]
    assert [a[0] for a in answers[:3]] == [200] * 3
    assert status == 429 and body["global"] is True and headers["X-RateLimit-Global"] == "true"
    assert len(server.sent) == 3 and server.invalid_requests == 1


async def _deliver_only(tmp_path, sqlite_url, server: FakeDiscord, pace: Pace
                        ) -> tuple[App, DiscordAdapter]:
    app = build_app(make_config(tmp_path, sqlite_url), clock=SystemClock(),
                    features=[help_.feature, circles.feature])
    adapter = DiscordAdapter(app.services.media, engine=app.services.engine, token=server.token,
                             registry=app.registry, api_base=server.api_base)
    app.add_adapter(adapter, pace)
    await adapter.start(app.dispatcher.handle, receive=False)
    return app, adapter


def _enqueue(app: App, rows: list[tuple[int, str]], direct: bool = False) -> None:
    with unit_of_work(app.services.engine) as s:
        for chat, text in rows:
            enqueue(s, "discord", str(chat), Outgoing(text=text), now=app.services.clock.now(),
                    direct=direct)


def _states(app: App) -> list[tuple[str, int]]:
    with unit_of_work(app.services.engine) as s:
        return [(r.state, r.attempts) for r in s.exec(select(OutboxMessage))]


async def test_a_burst_reaches_each_channel_once_in_order_at_the_channel_pace(tmp_path, sqlite_url):
    window = 2.0
    async with FakeDiscord(limits=DiscordLimits(channel_window=window)) as server:
        for channel in (LAGOS, BERLIN, IZMIR):
            server.add_channel(channel)
        app, adapter = await _deliver_only(tmp_path, sqlite_url, server,
                                           Pace(per_chat=5, chat_window=window, global_per_second=50))
        # Eight notices per circle: more than one channel bucket holds.
        _enqueue(app, [(c, f"{c % 10}: notice {i}") for i in range(1, 9)
                       for c in (LAGOS, BERLIN, IZMIR)])
        await app.settle(timeout=30)
        await app.stop()

    for channel in (LAGOS, BERLIN, IZMIR):
        got = server.in_channel(channel)
        assert [m.content for m in got] == [f"{channel % 10}: notice {i}" for i in range(1, 9)]
        # The bucket was used to the full (5 in one window) and then waited for, never overrun.
        assert [m.remaining for m in got[:5]] == [4, 3, 2, 1, 0]
    assert server.refused == [] and server.errors == []
    assert _states(app) == [("sent", 0)] * 24
    assert adapter._connect_task is None  # send-only: no gateway
    assert not any("gateway" in path for _, path in server.requests)


async def test_a_channel_bucket_spent_elsewhere_is_waited_out_not_dropped_nor_repeated(
        tmp_path, sqlite_url):
    async with FakeDiscord(limits=DiscordLimits(channel_window=1.0)) as server:
        server.add_channel(LAGOS)
        app, _ = await _deliver_only(tmp_path, sqlite_url, server,
                                     Pace(per_chat=5, chat_window=1.0, global_per_second=50))
        server.use_up(LAGOS)  # another process of the same bot has just spoken there
        _enqueue(app, [(LAGOS, "The assembly moves to the depot.")])
        await app.settle(timeout=30)
        await app.stop()

    # discord.py slept the announced retry_after once: one 429, then accepted.
    assert [(r.scope, r.channel_id) for r in server.refused] == [("user", LAGOS)]
    assert [m.content for m in server.sent] == ["The assembly moves to the depot."]
    assert _states(app) == [("sent", 0)]


async def test_a_spent_global_limit_is_waited_out_by_discord_py(tmp_path, sqlite_url):
    limits = DiscordLimits(global_requests=4, global_window=1.0)
    async with FakeDiscord(limits=limits) as server:
        for channel in (LAGOS, BERLIN, IZMIR):
            server.add_channel(channel)
        # A pace far above the server's global limit: only the 429s can hold the sends back.
        app, _ = await _deliver_only(tmp_path, sqlite_url, server,
                                     Pace(per_chat=100, chat_window=1.0, global_per_second=1000))
        _enqueue(app, [(c, f"{c % 10}: notice {i}") for i in range(1, 4)
                       for c in (LAGOS, BERLIN, IZMIR)])
        await app.settle(timeout=30)
        await app.stop()

    assert server.refused and {r.scope for r in server.refused} == {"global"}
    # Each refusal was waited out: a client ignoring retry_after would pile up many more.
    assert server.count_429 <= 9
    for channel in (LAGOS, BERLIN, IZMIR):
        assert [m.content for m in server.in_channel(channel)] == \
            [f"{channel % 10}: notice {i}" for i in range(1, 4)]
    assert _states(app) == [("sent", 0)] * 9


async def test_the_door_keeps_under_the_global_limit_without_a_429(tmp_path, sqlite_url):
    async with FakeDiscord() as server:
        channels = [LAGOS + i for i in range(60)]
        for channel in channels:
            server.add_channel(channel)
        # The courier would go as fast as it can: only the door holds the 51st request back.
        app, _ = await _deliver_only(tmp_path, sqlite_url, server,
                                     Pace(per_chat=5, chat_window=5.0, global_per_second=1000))
        _enqueue(app, [(c, "General assembly on Sunday.") for c in channels])
        await app.settle(timeout=30)
        await app.stop()

    assert server.refused == []
    assert sorted(m.channel_id for m in server.sent) == channels


async def test_a_private_word_reaches_a_person_by_id_without_the_gateway(tmp_path, sqlite_url):
    async with FakeDiscord() as server:
        server.add_user(AMAKA, "amaka")
        app, _ = await _deliver_only(tmp_path, sqlite_url, server,
                                     Pace(per_chat=5, chat_window=5.0, global_per_second=50))
        _enqueue(app, [(AMAKA, "Your pledge is recorded."), (AMAKA, "Thank you!")], direct=True)
        await app.settle(timeout=30)
        await app.stop()

    [dm] = [cid for cid, c in server.channels.items() if c["type"] == 1]
    assert [m.content for m in server.in_channel(dm)] == ["Your pledge is recorded.", "Thank you!"]
    assert [p for m, p in server.requests if p == "/users/@me/channels"] == ["/users/@me/channels"]


async def test_an_unknown_channel_is_a_permanent_failure(tmp_path, sqlite_url):
    async with FakeDiscord() as server:
        app, _ = await _deliver_only(tmp_path, sqlite_url, server,
                                     Pace(per_chat=5, chat_window=5.0, global_per_second=50))
        _enqueue(app, [(LAGOS, "Anyone there?")])
        await app.settle(timeout=30)
        await app.stop()
    assert _states(app) == [("dead", 1)] and server.sent == []


async def test_a_wrong_token_fails_the_login(tmp_path):
    async with FakeDiscord() as server:
        adapter = DiscordAdapter(MediaStore(tmp_path / "media"), token="not the bot's token",
                                 api_base=server.api_base)

        async def nothing(_):
            pass
        with pytest.raises(discord.LoginFailure):
            await adapter.start(nothing, receive=False)
        await adapter.stop()
    assert server.invalid_requests == 1

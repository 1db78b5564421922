"""Target 2, fan-out: one announcement to 1,000 circles spread over the three platforms,
delivered at 90 % or more of the best rate the limits allow, nothing lost, nothing duplicated.

One suite (the real `build_app`, dispatcher, outbox and one real `Courier` per platform)
says `help.intro` to every circle in one unit of work. The circles are spread evenly over:

* Telegram: 1 group each, on the local Bot API server of the tests
  (tests/support/fake_telegram.py, through the real python-telegram-bot). Limit: 30
  messages in any second per bot (20 a minute per group does not bind: one message each).
* Matrix: 1 room each, on a real Synapse (tests/support/synapse.py) whose `rc_message` is
  set explicitly to `MATRIX_RC` (10 a second, burst 20, per user): Synapse's default 0.2 a
  second would make 333 rooms a half-hour run. Rooms are created before the clock starts,
  with the bot's limit lifted through Synapse's admin API (room creation spends rc_message
  tokens too) and restored before the announcement.
* Discord: 1 channel each, on tests/support/fake_discord.py through the real discord.py in
  send-only mode (no gateway). Limits: 5 messages per channel per 5 s (one message each:
  does not bind) and 50 requests per second per bot, in one-second windows.

Each courier runs at the `Pace` that matches its platform's limits (`paces()`); the
Telegram and Discord doors also keep their platform's global limit themselves.

The best the limits allow for N messages is measured from the platform's first accepted
message to its last: with a burst B let through at once and R a second after it, the last
can go (N - B) / R seconds after the first (for limits counted in one-second windows of
C messages, (ceil(N / C) - 1) s). A leg's share is that best span over the achieved one;
its note gives the wait from the announcement to the first message. The last row is the
whole announcement: from before the outbox rows are written to the last message anywhere,
against the slowest leg's best span.

Lost and duplicated messages are counted on the servers' side: what the fake servers
recorded, and for Matrix each room's timeline read back from Synapse after the run.
"Refused with 429" counts the servers' refusals (Matrix: the 429s the door saw).

--quick (60 circles per platform) is a first look: a best span of 1-4 s is too short for
the share to mean much, since one round trip is already a few percent of it.
"""
from __future__ import annotations

import asyncio
import inspect
import math
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import Row, at_least

TELEGRAM_TOKEN = "7345123456:AAF-tessera-bench-token-abcdefghijklmno"
MATRIX_RC = {"per_second": 10, "burst_count": 20}
TOTAL_CIRCLES = 1000
PLATFORMS = ("telegram", "matrix", "discord")
# Above every leg's burst, so each leg's limit binds even in --quick.
QUICK_SIZES = {"telegram": 60, "matrix": 60, "discord": 60}
TARGET = 0.90


def paces() -> dict[str, Any]:
    """The delivery pace per platform, matching the limits each server enforces."""
    from core.delivery import Pace

    return {"telegram": Pace(per_chat=20, chat_window=60.0, global_per_second=30),
            "matrix": Pace(per_chat=12, chat_window=60.0,
                           global_per_second=MATRIX_RC["per_second"]),
            "discord": Pace(per_chat=5, chat_window=5.0, global_per_second=50)}


def windowed_span(n: int, per_window: int, window: float = 1.0) -> float:
    """Seconds from the first to the last of `n` messages under `per_window` a window."""
    return (math.ceil(n / per_window) - 1) * window if n else 0.0


def bucket_span(n: int, burst: int, per_second: float) -> float:
    """The same under a token bucket: `burst` at once, then `per_second`."""
    return max(0, n - burst) / per_second


@dataclass
class Leg:
    """One platform's share of the announcement and what was measured of it."""

    platform: str
    chats: list[str]
    limit: str
    best_span: float
    times: list[float] = field(default_factory=list)  # accepted at (monotonic), server side
    per_chat: Counter = field(default_factory=Counter)  # accepted announcements per chat
    refused: int = 0  # 429s answered by the server
    skipped: str = ""  # why the leg did not run
    extra: str = ""
    first_after: float | None = None  # seconds from the announcement to the first message

    @property
    def size(self) -> int:
        return len(self.chats)

    @property
    def delivered(self) -> int:
        return sum(1 for c in self.chats if self.per_chat.get(c))

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.per_chat.values() if n > 1)

    @property
    def span(self) -> float | None:
        return max(self.times) - min(self.times) if len(self.times) > 1 else None


def split(total: int) -> dict[str, int]:
    """`total` circles spread evenly over the platforms (the first ones take the rest)."""
    base, rest = divmod(total, len(PLATFORMS))
    return {p: base + (1 if i < rest else 0) for i, p in enumerate(PLATFORMS)}


# -- Matrix: a real Synapse with explicit limits ------------------------------------------
class MatrixSide:
    """A Synapse with `MATRIX_RC`, the bot's account and its rooms."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = None
        self.bot_id = self.bot_token = self.admin_token = self.probe_room = ""

    async def start(self) -> None:
        from tests.support.synapse import start_homeserver

        self.server = await asyncio.to_thread(
            start_homeserver, self.root / "synapse", rate_limits={"rc_message": MATRIX_RC})
        self.bot_id, self.bot_token, _ = await asyncio.to_thread(
            self.server.register_user, "tessera")
        _, self.admin_token, _ = await asyncio.to_thread(
            self.server.register_user, "steward", admin=True)

    async def _call(self, http, method: str, path: str, token: str, body: dict | None = None,
                    ok: tuple[int, ...] = (200,)) -> dict:
        async with http.request(method, self.server.url + path, json=body,
                                headers={"Authorization": f"Bearer {token}"}) as answer:
            data = await answer.json(content_type=None)
            if answer.status not in ok:
                raise RuntimeError(f"{method} {path} -> {answer.status}: {data}")
            return data or {}

    async def create_rooms(self, count: int) -> list[str]:
        """`count` rooms of the bot, made while its rc_message limit is lifted (room creation
        spends the same tokens as messages); the configured limit is back afterwards."""
        import aiohttp
        from urllib.parse import quote

        limit = f"/_synapse/admin/v1/users/{quote(self.bot_id)}/override_ratelimit"
        rooms: list[str] = []
        async with aiohttp.ClientSession() as http:
            await self._call(http, "POST", limit, self.admin_token,
                             {"messages_per_second": 0, "burst_count": 0})
            gate = asyncio.Semaphore(4)

            async def one(i: int) -> None:
                async with gate:
                    made = await self._call(http, "POST", "/_matrix/client/v3/createRoom",
                                            self.bot_token,
                                            {"preset": "private_chat", "name": f"Circle M{i}"})
                    rooms.append(made["room_id"])

            await asyncio.gather(*(one(i) for i in range(count + 1)))
            self.probe_room = rooms.pop()  # no circle's: for `probe` after the run
            await self._call(http, "DELETE", limit, self.admin_token)
            # Nothing was counted against the bot while lifted: its bucket starts full.
        return rooms

    async def probe(self, count: int) -> int:
        """Send `count` messages at once as the bot; how many Synapse refused with 429
        (the proof that the configured limit was in force)."""
        import aiohttp
        from urllib.parse import quote

        async with aiohttp.ClientSession() as http:
            async def one(i: int) -> int:
                path = (f"/_matrix/client/v3/rooms/{quote(self.probe_room)}/send/"
                        f"m.room.message/probe-{i}")
                answer = await self._call(http, "PUT", path, self.bot_token,
                                          {"msgtype": "m.notice", "body": f"probe {i}"},
                                          ok=(200, 429))
                return answer.get("errcode") == "M_LIMIT_EXCEEDED"

            return sum(await asyncio.gather(*(one(i) for i in range(count))))

    async def read_back(self, rooms: list[str]) -> Counter:
        """How many messages of the bot stand in each room's timeline (fresh rooms: only
        the announcement should)."""
        import aiohttp
        from urllib.parse import quote

        found: Counter = Counter()
        gate = asyncio.Semaphore(8)
        async with aiohttp.ClientSession() as http:
            async def one(room: str) -> None:
                async with gate:
                    page = await self._call(
                        http, "GET", f"/_matrix/client/v3/rooms/{quote(room)}/messages"
                        "?dir=b&limit=50", self.bot_token)
                for event in page.get("chunk", []):
                    if event.get("sender") == self.bot_id and event.get("type") == "m.room.message":
                        found[room] += 1

            await asyncio.gather(*(one(r) for r in rooms))
        return found

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# -- the run --------------------------------------------------------------------------------
async def start_delivering(app) -> None:
    """Start each door for delivery only, and its courier (what `tessera run` does for
    sending; a door without a send-only mode also listens)."""
    if "receive" in inspect.signature(app.start).parameters:
        await app.start(scheduler=False, receive=False)
        return
    for platform, adapter in app.adapters.items():
        send_only = "receive" in inspect.signature(adapter.start).parameters
        await adapter.start(app.dispatcher.handle, **({"receive": False} if send_only else {}))
        app.tasks.append(asyncio.create_task(app.couriers[platform].run(),
                                             name=f"courier-{platform}"))


async def announce(tmp: Path, sizes: dict[str, int]) -> tuple[list[Leg], dict]:
    """One announcement to `sizes[platform]` circles per platform; what was measured."""
    from tests.support.fake_discord import DiscordLimits

    legs = {
        "telegram": Leg("telegram", [str(-1001000000000 - i) for i in range(sizes["telegram"])],
                        "30/s per bot", windowed_span(sizes["telegram"], 30)),
        "matrix": Leg("matrix", [], f"rc_message {MATRIX_RC['per_second']}/s, burst "
                      f"{MATRIX_RC['burst_count']}",
                      bucket_span(sizes["matrix"], MATRIX_RC["burst_count"],
                                  MATRIX_RC["per_second"])),
        "discord": Leg("discord", [str(1309200000000000000 + i) for i in range(sizes["discord"])],
                       "50 requests/s per bot; 5 per channel per 5 s",
                       windowed_span(sizes["discord"], DiscordLimits().global_requests)),
    }
    for leg in legs.values():
        if not sizes[leg.platform]:
            leg.skipped = f"no {leg.platform.capitalize()} circles in this run"
    matrix = MatrixSide(tmp)
    try:
        t0, expected, timed_out, states = await _run_legs(tmp, legs, sizes, matrix)
    finally:
        matrix.stop()
    last = max((max(leg.times) for leg in legs.values() if leg.times), default=t0)
    whole = {"elapsed": last - t0, "expected": expected, "states": states,
             "timed_out": timed_out, "delivered": sum(leg.delivered for leg in legs.values()),
             "duplicates": sum(leg.duplicates for leg in legs.values())}
    for leg in legs.values():
        leg.first_after = (min(leg.times) - t0) if leg.times else None
    return list(legs.values()), whole


async def _run_legs(tmp: Path, legs: dict[str, Leg], sizes: dict[str, int], matrix: MatrixSide
                    ) -> tuple[float, int, bool, dict]:
    """Set the three servers up, announce once, wait until no row is pending, and fill
    each leg with what its server saw: (start of the clock, rows expected, gave up, states)."""
    from sqlmodel import select

    from adapters.discord_adapter import DiscordAdapter
    from adapters.telegram_adapter import TelegramAdapter
    from bench.common import bench_config
    from bots import circles, help as help_
    from bots.app import build_app
    from core.clock import SystemClock
    from core.storage import unit_of_work
    from core.storage.models import Circle, Network, OutboxMessage
    from core.work import Work
    from tests.support.fake_discord import DiscordLimits, FakeDiscord
    from tests.support.fake_telegram import FakeTelegram
    from tests.support.synapse import SynapseUnavailable

    pace = paces()
    setup_started = time.monotonic()
    if sizes["matrix"]:
        try:
            await matrix.start()
            legs["matrix"].chats = await matrix.create_rooms(sizes["matrix"])
        except SynapseUnavailable as e:
            legs["matrix"].skipped = f"Synapse unavailable: {str(e).splitlines()[0][:160]}"
            matrix.server = None
    matrix_setup = time.monotonic() - setup_started
    if matrix.server is not None:
        legs["matrix"].extra = (f"{sizes['matrix']} rooms made in {matrix_setup:.0f} s "
                                f"before the clock")

    telegram = FakeTelegram(token=TELEGRAM_TOKEN)
    discord_server = FakeDiscord()
    async with telegram, discord_server:
        for chat in legs["telegram"].chats:
            telegram.add_group(int(chat), f"Circle T{chat}")
        for chat in legs["discord"].chats:
            discord_server.add_channel(int(chat), f"circle-{chat[-4:]}")
        app = build_app(bench_config(tmp), clock=SystemClock(),
                        features=[help_.feature, circles.feature])
        media, engine = app.services.media, app.services.engine
        if legs["telegram"].chats:
            app.add_adapter(TelegramAdapter(
                TELEGRAM_TOKEN, media, engine, base_url=telegram.base_url,
                base_file_url=telegram.base_file_url, pace=pace["telegram"], poll_timeout=5),
                pace["telegram"])
        if legs["discord"].chats:
            app.add_adapter(DiscordAdapter(media, engine=engine, token=discord_server.token,
                                           registry=app.registry,
                                           api_base=discord_server.api_base), pace["discord"])
        if matrix.server is not None:
            from adapters.matrix_adapter import MatrixAdapter
            app.add_adapter(MatrixAdapter(matrix.server.url, matrix.bot_id, media, engine,
                                          token=matrix.bot_token, poll_timeout_ms=10_000),
                            pace["matrix"])
        now = app.services.clock.now()
        with unit_of_work(engine) as s:
            net = Network(name="Fan-out", created_at=now)
            s.add(net)
            s.flush()
            s.add_all([Circle(network_id=net.id, name=f"Circle {leg.platform} {i}", city=f"City {i}",
                              country="DE", timezone="Europe/Berlin", language="en",
                              platform=leg.platform, chat_id=chat, active_from=now)
                       for leg in legs.values() for i, chat in enumerate(leg.chats)])
        await start_delivering(app)
        # Logging in spent Discord requests; let that one-second window close, so the
        # announcement's first message opens a fresh one (as the best span assumes).
        await asyncio.sleep(DiscordLimits().global_window + 0.1)
        expected = sum(leg.size for leg in legs.values())

        wall0, t0 = datetime.now(timezone.utc), time.monotonic()
        with unit_of_work(engine) as s:
            work = Work(app.services, s, app.services.clock.now())
            work.say_to_circles(s.exec(select(Circle)).all(), "help.intro", key="fanout")
        app.after_commit(work)
        deadline = t0 + max(leg.best_span for leg in legs.values()) * 3 + 60
        # Done when no row is pending: sent, or dead-lettered (and then counted as lost).
        while time.monotonic() < deadline:
            with unit_of_work(engine) as s:
                open_rows = s.exec(select(OutboxMessage.id).where(
                    OutboxMessage.state == "pending")).all()
            if not open_rows:
                break
            await asyncio.sleep(0.1)
        timed_out = time.monotonic() >= deadline

        with unit_of_work(engine) as s:
            rows = s.exec(select(OutboxMessage)).all()
        states = Counter(f"{r.platform}:{r.state}" for r in rows)
        sends = [r for r in telegram.sent if r.method == "sendMessage"]
        legs["telegram"].times = [r.time for r in sends]
        legs["telegram"].per_chat = Counter(str(r.chat_id) for r in sends)
        legs["telegram"].refused = telegram.count_429
        legs["discord"].times = [m.at for m in discord_server.sent]
        legs["discord"].per_chat = Counter(str(m.channel_id) for m in discord_server.sent)
        legs["discord"].refused = discord_server.count_429
        if matrix.server is not None:
            # Synapse keeps no clock we can read: the courier's sent_at, on the same timeline.
            legs["matrix"].times = [t0 + (_aware(r.sent_at) - wall0).total_seconds()
                                    for r in rows if r.platform == "matrix" and r.sent_at]
            legs["matrix"].refused = app.couriers["matrix"].retry_after_count + \
                app.adapters["matrix"].waited_out
        await app.stop()
    if matrix.server is not None:
        legs["matrix"].per_chat = await matrix.read_back(legs["matrix"].chats)
        burst = 2 * MATRIX_RC["burst_count"]
        legs["matrix"].extra += (f"; afterwards {await matrix.probe(burst)} of {burst} sent at "
                                 f"once were refused (the limit was in force)")
    return t0, expected, timed_out, dict(states)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def leg_row(leg: Leg) -> Row:
    """One platform's row: share of the best span, and what arrived how often."""
    metric = f"{leg.platform.capitalize()}, {leg.size:,} circles: share of the best rate"
    if leg.skipped:
        return Row("2 fan-out", metric, None, "", f">= {TARGET:.2f}", None, leg.skipped)
    span = leg.span
    share = leg.best_span / span if span and leg.best_span else None
    complete = leg.delivered == leg.size and leg.duplicates == 0
    first = leg.first_after
    note = (f"{leg.limit}: best {leg.best_span:.1f} s first to last, took "
            f"{span or 0:.1f} s; {leg.delivered}/{leg.size} delivered, "
            f"{leg.size - leg.delivered} lost, {leg.duplicates} duplicated, {leg.refused} refused "
            f"with 429; first after {first or 0:.2f} s")
    if leg.extra:
        note += f"; {leg.extra}"
    met = (at_least(share, TARGET) if share is not None else None) if complete else False
    return Row("2 fan-out", metric, share, "", f">= {TARGET:.2f}", met, note)


def whole_row(legs: list[Leg], whole: dict) -> Row:
    """The whole announcement: from writing the outbox rows to the last message anywhere."""
    ran = [leg for leg in legs if not leg.skipped]
    best = max((leg.best_span for leg in ran), default=0.0)
    share = best / whole["elapsed"] if whole["elapsed"] > 0 and best else None
    complete = whole["delivered"] == whole["expected"] and whole["duplicates"] == 0 \
        and not whole["timed_out"]
    skipped = [leg.platform for leg in legs if leg.skipped]
    note = (f"{whole['delivered']}/{whole['expected']} delivered in {whole['elapsed']:.1f} s "
            f"(slowest leg's best {best:.1f} s), {whole['expected'] - whole['delivered']} lost, "
            f"{whole['duplicates']} duplicated; outbox {whole['states']}")
    if whole["timed_out"]:
        note += "; gave up waiting"
    if skipped:
        note += f"; without {', '.join(skipped)}"
    return Row("2 fan-out", f"one announcement, {whole['expected']:,} circles on "
               f"{len(ran)} platforms: share of the best", share, "", f">= {TARGET:.2f}",
               (at_least(share, TARGET) if share is not None else None) if complete else False,
               note)


def run(options) -> list[Row]:
    """One announcement to 1,000 circles over three platforms (`QUICK_SIZES` with --quick)."""
    sizes = dict(QUICK_SIZES) if options.quick else split(TOTAL_CIRCLES)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        legs, whole = asyncio.run(announce(Path(tmp), sizes))
    return [leg_row(leg) for leg in legs] + [whole_row(legs, whole)]


__all__ = ["run", "announce", "split", "paces", "windowed_span", "bucket_span", "Leg"]

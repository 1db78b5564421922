"""Target 2, fan-out: one announcement to many circles, delivered at the platform's pace.

Measured today on Telegram, through the real python-telegram-bot against the local Bot API
server of the tests (tests/support/fake_telegram.py), which refuses with 429s whatever
exceeds Telegram's published limits (30 messages a second per bot, 20 a minute per group).
The best rate those limits allow for one message to each of N groups is 30 a second, so
the ideal time is N / 30 s; the row shows the achieved share of it, and checks that every
group got the announcement exactly once. Matrix and Discord legs are still to come: a local
Synapse with its default limits (0.2 messages a second per user) would take hours for
1,000 rooms, and there is no local Discord server here.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import Row, at_least

TOKEN = "7345123456:AAF-tessera-bench-token-abcdefghijklmno"


async def telegram_leg(tmp: Path, groups: int) -> dict:
    """Announce once to `groups` Telegram circles; returns what was measured."""
    from sqlmodel import select

    from adapters.telegram_adapter import TelegramAdapter
    from bench.common import bench_config
    from bots import circles, help as help_
    from bots.app import build_app
    from core.clock import SystemClock
    from core.delivery import Pace
    from core.storage import unit_of_work
    from core.storage.models import Circle, Network, OutboxMessage
    from core.work import Work
    from tests.support.fake_telegram import FakeTelegram

    async with FakeTelegram(token=TOKEN) as server:
        ids = [-1001000000000 - i for i in range(groups)]
        for i, chat in enumerate(ids):
            server.add_group(chat, f"Circle {i}")
        app = build_app(bench_config(tmp), clock=SystemClock(),
                        features=[help_.feature, circles.feature])
        pace = Pace(per_chat=20, chat_window=60.0, global_per_second=30.0)
        adapter = TelegramAdapter(TOKEN, app.services.media, app.services.engine,
                                  base_url=server.base_url, base_file_url=server.base_file_url,
                                  pace=pace, poll_timeout=5)
        app.add_adapter(adapter, pace)
        now = app.services.clock.now()
        with unit_of_work(app.services.engine) as s:
            net = Network(name="Fan-out", created_at=now)
            s.add(net)
            s.flush()
            rows = [Circle(network_id=net.id, name=f"Circle {i}", city=f"City {i}", country="DE",
                           timezone="Europe/Berlin", language="en", platform="telegram",
                           chat_id=str(chat), active_from=now) for i, chat in enumerate(ids)]
            s.add_all(rows)
        await app.start(scheduler=False)
        start = time.perf_counter()
        with unit_of_work(app.services.engine) as s:
            work = Work(app.services, s, app.services.clock.now())
            work.say_to_circles(s.exec(select(Circle)).all(), "help.intro", key="fanout")
        app.after_commit(work)
        while len([r for r in server.sent if r.method == "sendMessage"]) < groups:
            if time.perf_counter() - start > groups / 5 + 60:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        per_chat = Counter(str(r.chat_id) for r in server.sent if r.method == "sendMessage")
        with unit_of_work(app.services.engine) as s:
            states = Counter(r.state for r in s.exec(select(OutboxMessage)).all())
        await app.stop()
        return {"elapsed": elapsed, "delivered": len(per_chat),
                "duplicates": sum(n - 1 for n in per_chat.values() if n > 1),
                "refused": server.count_429, "states": dict(states)}


def run(options) -> list[Row]:
    """Fan-out to Telegram groups (1,000 by default, 120 with --quick)."""
    groups = 120 if options.quick else 1000
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        m = asyncio.run(telegram_leg(Path(tmp), groups))
    ideal = groups / 30.0
    share = ideal / m["elapsed"] if m["elapsed"] else None
    complete = m["delivered"] == groups and m["duplicates"] == 0
    return [
        Row("2 fan-out", f"Telegram, {groups:,} groups: share of the best rate (30/s)", share,
            "", ">= 0.90", at_least(share, 0.90) if complete else False,
            f"{m['delivered']}/{groups} delivered in {m['elapsed']:.1f} s (ideal {ideal:.1f} s), "
            f"{m['duplicates']} duplicates, {m['refused']} refused with 429; outbox {m['states']}"),
        Row("2 fan-out", "Matrix and Discord legs", None, "", "(issue target)", None,
            "not measured yet: no rate-limited local Discord server; Synapse's default "
            "0.2 msg/s per user makes 1,000 rooms a multi-hour run"),
    ]


__all__ = ["run", "telegram_leg"]

"""The real suite behind the real python-telegram-bot, talking to the local Bot API server.

`telegram_suite` starts FakeTelegram (time shrunk twentyfold: a group's minute is 3 s),
builds the app with `bots.app.build_app`, adds a TelegramAdapter pointed at the server and
starts it. A small test-only feature ("probe") records votes, notes and plain messages so
tests can see what the core received.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import pytest
from sqlmodel import select

from adapters.telegram_adapter import TelegramAdapter
from bots import circles, help as help_
from bots.app import App, build_app
from core import outbox
from core.clock import SystemClock
from core.commands import Arg, Feature, PositiveInt, Word
from core.delivery import Pace
from core.messages import Outgoing
from core.storage import unit_of_work
from core.storage.models import Circle
from tests.conftest import make_config
from tests.support.fake_telegram import FakeTelegram

TOKEN = "7345123456:AAF-tessera-test-token-abcdefghijklmno"
SCALE = 0.05  # a Telegram minute lasts 3 s in these tests
# The adapter's pace, scaled like the server's windows: 20 a "minute" per group, 30 a
# "second" overall.
SCALED_PACE = Pace(per_chat=20, chat_window=60 * SCALE, global_per_second=30 / SCALE)
OGG = b"OggS\x00\x02" + bytes(range(256)) * 8  # starts like an Ogg Opus voice note

probe = Feature("probe")


@probe.command("testvote", args=[Arg("ballot", PositiveInt), Arg("choice", Word)])
async def testvote(ctx, ballot: int, choice: str) -> None:
    """Records a vote per (ballot, voter): a later vote replaces the earlier one."""
    ctx.services.extras.setdefault("votes", {})[(ballot, ctx.incoming.sender.user_id)] = choice


@probe.command("note", args=[Arg("n", PositiveInt)])
async def note(ctx, n: int) -> None:
    """Records n once handled; `hold` makes note n wait (to stop the suite mid-update)."""
    extras = ctx.services.extras
    hold = extras.get("hold")
    if hold and hold[0] == n:
        hold[1].set()  # tell the test we are inside note n
        await asyncio.Event().wait()  # until cancelled
    extras.setdefault("notes", []).append(n)


@probe.listener("heard")
async def heard(ctx) -> bool:
    """Keeps every non-command message, with its attachments, for the test to inspect."""
    ctx.services.extras.setdefault("heard", []).append(ctx.incoming)
    return True


@dataclass
class Suite:
    """A running Tessera with its Telegram door and the fake Telegram it talks to."""

    server: FakeTelegram
    app: App
    adapter: TelegramAdapter
    extras: dict = field(default_factory=dict)

    @property
    def engine(self):
        return self.app.services.engine

    def enqueue(self, chat_id: int, message: Outgoing, circle_id: int | None = None) -> None:
        """Queue a message through the real outbox (as a feature's unit of work would)."""
        with unit_of_work(self.engine) as s:
            outbox.enqueue(s, "telegram", str(chat_id), message,
                           now=self.app.services.clock.now(), circle_id=circle_id)
        self.app.couriers["telegram"].wake()

    def circle(self, chat_id: int) -> Circle | None:
        """The active circle living in the chat."""
        with unit_of_work(self.engine) as s:
            return s.exec(select(Circle).where(Circle.platform == "telegram",
                                               Circle.chat_id == str(chat_id),
                                               Circle.left_at == None)).first()  # noqa: E711

    async def reply_in(self, chat_id: int, after: int, timeout: float = 5.0):
        """The first message the bot sends in `chat_id` after `after` records."""
        found = await self.server.wait_for_sent(after + 1, chat_id=chat_id, timeout=timeout)
        return found[after]

    async def handled(self, count: int, timeout: float = 5.0) -> None:
        """Wait until the adapter has handled `count` updates in total."""
        await self.server.wait_for(lambda: self.adapter.handled_count >= count, timeout)


async def start_suite(tmp_path, server: FakeTelegram, pace: Pace = SCALED_PACE,
                      **adapter_options) -> Suite:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'tessera.db'}",
                         translation={"enabled": False})
    app = build_app(config, clock=SystemClock(),
                    features=[help_.feature, circles.feature, probe])
    adapter = TelegramAdapter(TOKEN, app.services.media, app.services.engine,
                              base_url=server.base_url, base_file_url=server.base_file_url,
                              pace=pace, poll_timeout=5, **adapter_options)
    app.add_adapter(adapter, pace)
    await app.start(scheduler=False)
    return Suite(server, app, adapter, app.services.extras)


@pytest.fixture
async def fake_telegram():
    async with FakeTelegram(token=TOKEN, time_scale=SCALE) as server:
        yield server


@pytest.fixture
async def suite(tmp_path, fake_telegram):
    s = await start_suite(tmp_path, fake_telegram)
    yield s
    await s.app.stop()


CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b")


def code_in(text: str) -> str:
    """The invite code a bot reply shows."""
    m = CODE.search(text or "")
    assert m, f"no code in {text!r}"
    return m.group(1)

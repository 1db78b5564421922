"""A town of chats for end-to-end tests that read like a conversation:

    await town.say("lagos", "amaka", "/circle info")
    assert "Lagos" in town.last("lagos")
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from adapters.console_adapter import ConsoleAdapter
from bots.app import App, build_app
from core.clock import FakeClock
from core.messages import Attachment, Incoming, ReplyTo, Sender
from tests.support.fake_platform import FakePlatform


@dataclass
class Town:
    """The real suite with a console door and fake "alpha" and "beta" platforms."""

    app: App
    clock: FakeClock
    console: ConsoleAdapter
    out: io.StringIO
    platforms: dict[str, FakePlatform]
    log: list = None  # (platform, chat_id, direct, plain text, Outgoing), in delivery order

    @classmethod
    async def start(cls, config, clock: FakeClock, extra_platforms: tuple = ("alpha", "beta"),
                    features=None) -> "Town":
        app = build_app(config, clock=clock, features=features)
        out = io.StringIO()
        console = ConsoleAdapter(app.services.media, out=out)
        app.add_adapter(console)
        platforms = {}
        for name in extra_platforms:
            caps = frozenset({"polls", "buttons", "voice"}) if name == "alpha" else frozenset()
            platforms[name] = FakePlatform(name, capabilities=caps)
            app.add_adapter(platforms[name])
        town = cls(app, clock, console, out, platforms, [])
        for adapter in app.adapters.values():
            town._record(adapter)
        await app.start(scheduler=False)
        return town

    def _record(self, adapter) -> None:
        # Wrap the door's send so the town sees every delivery in the order it happened.
        from core import markup
        send = adapter.send

        async def recording_send(chat_id, message, direct=False):
            ref = await send(chat_id, message, direct=direct)
            self.log.append((adapter.platform, chat_id, direct, markup.to_plain(message.text), message))
            return ref

        adapter.send = recording_send

    async def stop(self) -> None:
        await self.app.stop()

    # -- speaking ------------------------------------------------------------------------
    async def say(self, chat: str, user: str, text: str, *, platform: str = "console",
                  direct: bool = False, admin: bool = False, attachments=(),
                  reply_to: ReplyTo | None = None) -> list[str]:
        """`user` says `text` in `chat`; returns every text delivered as a result."""
        before = self._count()
        chat_id = f"dm:{user}" if direct and platform == "console" else chat
        inc = Incoming(platform=platform, chat_id=chat_id, chat_title=chat.capitalize(),
                       sender=Sender(user, user.capitalize(), is_chat_admin=admin), text=text,
                       is_direct=direct, attachments=list(attachments), reply_to=reply_to)
        await self.app.dispatcher.handle(inc)
        await self.app.settle()
        return self._since(before)

    async def event(self, chat: str, event: str, platform: str = "console", **data) -> list[str]:
        before = self._count()
        inc = Incoming(platform=platform, chat_id=chat, sender=Sender("system", "system"),
                       event=event, data=data)
        await self.app.dispatcher.handle(inc)
        await self.app.settle()
        return self._since(before)

    async def wait(self, delta) -> list[str]:
        """Let time pass: due timers run and their messages are delivered."""
        before = self._count()
        self.clock.advance(delta)
        await self.app.settle()
        return self._since(before)

    # -- reading -------------------------------------------------------------------------
    def all_sent(self) -> list[tuple]:
        """(platform, chat_id, direct, plain text, Outgoing) for everything delivered, in order."""
        return list(self.log)

    def _count(self) -> int:
        return len(self.log)

    def _since(self, before: int) -> list[str]:
        return [r[3] for r in self.log[before:]]

    def texts(self, chat: str, platform: str = "console") -> list[str]:
        """Everything said in one chat, in order."""
        return [r[3] for r in self.all_sent() if r[0] == platform and r[1] == chat and not r[2]]

    def last(self, chat: str, platform: str = "console") -> str:
        t = self.texts(chat, platform)
        return t[-1] if t else ""

    def direct_to(self, user: str, platform: str = "console") -> list[str]:
        return [r[3] for r in self.all_sent() if r[0] == platform and r[1] == user and r[2]]

    async def network(self, *circles: tuple[str, str, str, str, str], platform_of=None) -> str:
        """Create a network and join each (chat, city, country, zone, lang); returns its code."""
        first = circles[0][0]
        founder = "founder"
        p0 = (platform_of or {}).get(first, "console")
        out = await self.say(first, founder, "/network create Test Network", platform=p0)
        code = _code(out)
        for chat, city, country, zone, lang in circles:
            p = (platform_of or {}).get(chat, "console")
            out = await self.say(first, founder, "/circle invite 1", platform=p0) if chat != first else out
            code = _code(out) or code
            await self.say(chat, f"{chat}_coord", f"/circle join {code} {city} {country} {zone} {lang}",
                           platform=p)
        return code


def _code(texts: list[str]) -> str:
    import re
    for t in reversed(texts):
        m = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", t)
        if m:
            return m.group(1)
    return ""


__all__ = ["Town", "Attachment"]

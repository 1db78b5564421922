"""A stand-in chat platform for tests of the core: it records what it is asked to send and
can be told to fail (rate limits, outages) the way real platforms do."""
from __future__ import annotations

from dataclasses import dataclass, field

from core import markup
from core.adapter import DeliveryError, RetryAfter
from core.messages import Incoming, Outgoing, Sender


@dataclass
class Delivered:
    chat_id: str
    direct: bool
    message: Outgoing
    at: float = 0.0  # event-loop time of delivery

    @property
    def text(self) -> str:
        return markup.to_plain(self.message.text)


@dataclass
class FakePlatform:
    """Records deliveries; `fail_next` holds exceptions to raise on the next sends."""

    platform: str
    capabilities: frozenset = frozenset()
    bot_names: tuple = ("tessera_bot",)
    text_limit: int = 4096
    delivered: list[Delivered] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)
    on_incoming: object = None
    hold: dict = field(default_factory=dict)  # chat id -> asyncio.Event: sends there wait for it

    async def start(self, on_incoming) -> None:
        self.on_incoming = on_incoming

    async def stop(self) -> None:
        pass

    async def send(self, chat_id: str, message: Outgoing, direct: bool = False) -> str:
        import asyncio
        if chat_id in self.hold:  # a platform that keeps us waiting in this one chat
            await self.hold[chat_id].wait()
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.delivered.append(Delivered(chat_id, direct, message, asyncio.get_running_loop().time()))
        return f"{self.platform}-{len(self.delivered)}"

    def to_incoming(self, raw: dict) -> Incoming:
        return Incoming(platform=self.platform, chat_id=str(raw["chat"]),
                        sender=Sender(str(raw["user"]), raw.get("name", str(raw["user"])),
                                      is_chat_admin=raw.get("admin", False)),
                        text=raw.get("text", ""), chat_title=raw.get("title", ""),
                        is_direct=raw.get("direct", False), message_id=raw.get("id"))

    def render(self, message: Outgoing) -> str:
        return markup.to_plain(message.text)


__all__ = ["FakePlatform", "Delivered", "RetryAfter", "DeliveryError"]

"""Telegram's flood control, as the fake Telegram server enforces it.

Limits are counts of messages per rolling window of seconds, taken from
PLATFORM_FACTS.md: 20 messages a minute in a group, about one a second in a
private chat, about 30 a second for the whole bot. A send beyond a limit is
refused with HTTP 429 and ``parameters.retry_after`` (whole seconds, at least 1);
until that moment passes, every send to that chat (or, for the global limit,
to any chat) is refused too, as Telegram does.

``time_scale`` shrinks every window so a test can exhaust "a minute" in a few
seconds: with ``time_scale=0.05`` the group window is 3 s, the private window
50 ms. ``retry_after`` stays in real, whole seconds, because clients sleep for
exactly that long.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

__all__ = ["FloodControl", "Refusal", "TelegramLimits"]


@dataclass(frozen=True)
class TelegramLimits:
    """How many sends each window allows; windows are in seconds before ``time_scale``.

    ``grace`` forgives that fraction of a window, so a client that paces itself
    exactly at the limit is not refused because of a few milliseconds of event-loop
    jitter between its clock and the server's.
    """

    group_messages: int = 20
    group_window: float = 60.0
    private_messages: int = 1
    private_window: float = 1.0
    global_messages: int = 30
    global_window: float = 1.0
    time_scale: float = 1.0
    grace: float = 0.05

    def window(self, seconds: float) -> float:
        """A window after scaling and grace, in real seconds."""
        return seconds * self.time_scale * (1.0 - self.grace)

    @classmethod
    def unlimited(cls) -> "TelegramLimits":
        """Limits no test will reach, for tests about something else."""
        big = 10**9
        return cls(group_messages=big, private_messages=big, global_messages=big)


@dataclass
class _Window:
    """Send times inside one rolling window, plus the end of a refusal period."""

    capacity: int
    seconds: float
    sends: deque[float] = field(default_factory=deque)
    banned_until: float = 0.0

    def forget_before(self, now: float) -> None:
        while self.sends and self.sends[0] <= now - self.seconds:
            self.sends.popleft()

    def retry_after(self, now: float) -> int | None:
        """Seconds to wait if this window refuses a send now, else None."""
        if now < self.banned_until:
            return max(1, math.ceil(self.banned_until - now))
        self.forget_before(now)
        if len(self.sends) < self.capacity:
            return None
        wait = max(1, math.ceil(self.sends[0] + self.seconds - now))
        self.banned_until = now + wait
        return wait


@dataclass(frozen=True)
class Refusal:
    """A 429 the server answered: which limit, and for how long."""

    scope: str  # "chat" or "global"
    retry_after: int


class FloodControl:
    """Decides, send by send, whether Telegram would accept it or answer 429."""

    def __init__(self, limits: TelegramLimits) -> None:
        self.limits = limits
        self._chats: dict[int, _Window] = {}
        self._global = _Window(limits.global_messages, limits.window(limits.global_window))

    def _chat_window(self, chat_id: int, is_group: bool) -> _Window:
        window = self._chats.get(chat_id)
        if window is None:
            lim = self.limits
            window = (
                _Window(lim.group_messages, lim.window(lim.group_window))
                if is_group
                else _Window(lim.private_messages, lim.window(lim.private_window))
            )
            self._chats[chat_id] = window
        return window

    def admit(self, chat_id: int, is_group: bool, now: float) -> Refusal | None:
        """Count a send to ``chat_id`` at ``now``, or return why it is refused.

        Refused sends do not use up quota; a global refusal blocks every chat.
        """
        chat = self._chat_window(chat_id, is_group)
        if now < self._global.banned_until:
            return Refusal("global", self._global.retry_after(now) or 1)
        wait = chat.retry_after(now)
        if wait is not None:
            return Refusal("chat", wait)
        wait = self._global.retry_after(now)
        if wait is not None:
            return Refusal("global", wait)
        chat.sends.append(now)
        self._global.sends.append(now)
        return None

    def banned_until(self, chat_id: int) -> float:
        """When sends to ``chat_id`` are accepted again (0.0 if they are now)."""
        window = self._chats.get(chat_id)
        return max(self._global.banned_until, window.banned_until if window else 0.0)

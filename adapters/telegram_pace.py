"""Telegram's flood limits, kept on our side so the bot never earns a 429 by itself.

The courier already paces whole outbox rows; this guard counts the Bot API calls actually
made (one row may need several: a long text, a file, a poll) and counts each call from the
moment Telegram has answered it, so network latency can never squeeze two calls into one
of Telegram's windows. In-flight calls hold their place until they finish.

Windows derive from the delivery `Pace`: `chat_window` is "a minute" (60 s, or less when
tests shrink time), groups get `per_chat` calls in it, private chats about one a second,
and the whole bot `global_per_second` (scaled the same way).
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from core.delivery import Pace


@dataclass
class _Window:
    capacity: int
    seconds: float
    done: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    blocked_until: float = 0.0

    def wait(self, now: float) -> float:
        """Seconds until one more call may start (0.0: now)."""
        while self.done and self.done[0] <= now - self.seconds:
            self.done.popleft()
        wait = max(0.0, self.blocked_until - now)
        if len(self.done) + self.in_flight >= self.capacity:
            # Enough finished calls must leave the window, oldest first.
            index = len(self.done) + self.in_flight - self.capacity
            if index < len(self.done):
                wait = max(wait, self.done[index] + self.seconds - now)
            else:
                wait = max(wait, self.seconds / max(1, self.capacity))  # look again soon
        return wait


class FloodGuard:
    """Per-chat and global sliding windows over Bot API calls that post into chats."""

    def __init__(self, pace: Pace, clock: Callable[[], float] = time.monotonic) -> None:
        self.scale = pace.chat_window / 60.0
        self.group_capacity = pace.per_chat
        self.group_seconds = pace.chat_window
        self.private_seconds = 1.0 * self.scale
        self.clock = clock
        self.global_window = _Window(max(1, round(pace.global_per_second * self.scale)),
                                     1.0 * self.scale)
        self.chats: dict[str, _Window] = {}

    def _chat(self, chat_id: str) -> _Window:
        window = self.chats.get(chat_id)
        if window is None:
            # Telegram's ids: people (private chats) are positive, groups negative.
            if str(chat_id).startswith("-"):
                window = _Window(self.group_capacity, self.group_seconds)
            else:
                window = _Window(1, self.private_seconds)
            self.chats[chat_id] = window
        return window

    def chat_wait(self, chat_id: str) -> float:
        """Seconds before a call to `chat_id` may start, from this chat's window alone."""
        return self._chat(chat_id).wait(self.clock())

    def block(self, chat_id: str, seconds: float) -> None:
        """Telegram said retry_after: hold this chat back that long."""
        window = self._chat(chat_id)
        window.blocked_until = max(window.blocked_until, self.clock() + seconds)

    async def acquire(self, chat_id: str) -> None:
        """Wait for room in the chat's and the global window, then take a place in both."""
        chat = self._chat(chat_id)
        while True:
            now = self.clock()
            wait = max(chat.wait(now), self.global_window.wait(now))
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        chat.in_flight += 1
        self.global_window.in_flight += 1

    def release(self, chat_id: str) -> None:
        """The call finished (whatever the answer): it counts from now."""
        now = self.clock()
        for window in (self._chat(chat_id), self.global_window):
            window.in_flight = max(0, window.in_flight - 1)
            window.done.append(now)

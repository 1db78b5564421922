"""Clocks: the only place that reads the time.

Domain rules never read the clock; services receive a `Clock` and pass `now` down.
Tests use `FakeClock`; demos use `OffsetClock` to jump ahead ("wait three days") without
waiting.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


def utc(dt: datetime) -> datetime:
    """Return `dt` as an aware UTC datetime (naive values are taken to be UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


class Clock(Protocol):
    """Something that tells the current instant (aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class OffsetClock:
    """The real clock shifted by an offset that can grow: used by the console demo."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Jump ahead by `delta`."""
        self.offset += delta


class FakeClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = utc(start or datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Jump ahead by `delta`."""
        self._now += delta

    def set(self, instant: datetime) -> None:
        """Set the current instant."""
        self._now = utc(instant)

"""Relay rules: pure functions about chains, legs, deadlines and reminders.

A relay passes a field report from circle to circle. Each circle holds one *leg*: it opens,
is reported (one or more parts), and is handed off to the next circle when its time box
closes or a coordinator passes early. These rules take `now` and time zones as arguments
and never touch storage or the clock; `core.relay_service` applies them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from core.timekeeping import local_wall, resolve_local

DEFAULT_LEG = timedelta(hours=72)
MIN_LEG = timedelta(hours=1)
MAX_LEG = timedelta(days=30)
# With nothing reported at the deadline a circle gets one automatic extension of this share
# of its leg (at least a day, so a busy week still has room), then it is skipped.
AUTO_EXTENSIONS = 1
EXTENSION_SHARE = 0.5
MIN_EXTENSION = timedelta(hours=24)
# Reminders before a deadline, moved out of the night in the circle's own time.
REMINDER_OFFSETS = (timedelta(hours=24), timedelta(hours=3))
QUIET_FROM, QUIET_UNTIL, EVENING = time(22, 0), time(8, 0), time(20, 0)

# Leg states.
INVITED, DECLINED, WAITING, OPEN, REPORTED = "invited", "declined", "waiting", "open", "reported"
HANDED_OFF, SKIPPED, CANCELLED = "handed_off", "skipped", "cancelled"
LIVE_LEG = (OPEN, REPORTED)
DONE_LEG = (HANDED_OFF, SKIPPED, CANCELLED, DECLINED)
# Relay states.
INVITING, RUNNING, COMPLETED, RELAY_CANCELLED = "inviting", "running", "completed", "cancelled"
ACTIVE_RELAY = (INVITING, RUNNING)

# Part kinds; anything not audio is kept as a file.
PART_KINDS = ("text", "voice", "audio", "file")


class RelayRuleError(ValueError):
    """A rule was broken; `key` names the catalog message, `params` fill it."""

    def __init__(self, key: str, **params) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class StartRequest:
    """What `/relay start` asked for: a title, circle references in order and a leg length."""

    title: str
    circles: list[str]
    leg: timedelta


_DURATION_WORD = re.compile(r"^(?:leg=)?(\d+(?:\.\d+)?\s*(?:w|d|h|m|min))+$", re.I)


def parse_start(words: str) -> StartRequest:
    """Read "Rent strikes chicago,gaziantep,lagos 48h" (the leg is optional, `leg=` too).

    The circles are the last comma-separated word (or words after "circles="); the title is
    everything before it. Raises RelayRuleError when something is missing.
    """
    from core.commands import ArgError, parse_duration

    tokens = words.split()
    leg = DEFAULT_LEG
    if tokens and _DURATION_WORD.match(tokens[-1]):
        try:
            leg = parse_duration(tokens.pop().lower().removeprefix("leg="))
        except ArgError:
            raise RelayRuleError("relay.bad_leg") from None
    if not tokens:
        raise RelayRuleError("relay.start_needs_circles")
    chain_word = tokens.pop().removeprefix("circles=")
    circles = [c.strip().replace("_", " ") for c in chain_word.split(",") if c.strip()]
    title = " ".join(tokens).strip().strip("\"'“”")
    if len(circles) < 2:
        raise RelayRuleError("relay.start_needs_circles")
    if not title:
        raise RelayRuleError("relay.start_needs_title")
    if not MIN_LEG <= leg <= MAX_LEG:
        raise RelayRuleError("relay.bad_leg")
    return StartRequest(title, circles, leg)


def deadline_decision(has_report: bool, extensions: int) -> str:
    """At a leg's deadline: "handoff" what was reported, else "extend" once, else "skip"."""
    if has_report:
        return "handoff"
    return "extend" if extensions < AUTO_EXTENSIONS else "skip"


def auto_extension(leg: timedelta) -> timedelta:
    """How long the automatic extension of an unreported leg lasts."""
    return max(MIN_EXTENSION, timedelta(seconds=leg.total_seconds() * EXTENSION_SHARE))


def _out_of_night(instant: datetime, tz: str) -> datetime:
    """Move an instant that falls in the circle's night to the evening before."""
    wall = local_wall(instant, tz)
    t = wall.time()
    if QUIET_FROM <= t or t < QUIET_UNTIL:
        day = wall.date() if t >= QUIET_FROM else wall.date() - timedelta(days=1)
        return resolve_local(datetime.combine(day, EVENING), tz)
    return instant


def reminder_instants(opened_at: datetime, deadline: datetime, tz: str, now: datetime,
                      offsets=REMINDER_OFFSETS) -> list[datetime]:
    """When to remind a circle of its deadline: 24 h and 3 h before, never in its night.

    A reminder falling between 22:00 and 08:00 in the circle's zone moves to 20:00 of the
    evening before. Reminders before the leg opened, in the past, or too close to another
    one are dropped.
    """
    out: list[datetime] = []
    for off in offsets:
        at = _out_of_night(deadline - off, tz)
        if at <= max(opened_at, now) or at >= deadline:
            continue
        if any(abs((at - o).total_seconds()) < 3600 for o in out):
            continue
        out.append(at)
    return sorted(out)


def reorder_remaining(remaining: list[int], requested: list[int]) -> list[int]:
    """The new order of the legs still waiting: `requested` must name each exactly once."""
    if sorted(remaining) != sorted(requested) or len(set(requested)) != len(requested):
        raise RelayRuleError("relay.reorder_mismatch")
    return list(requested)


def check_media(size: int, duration: float | None, max_bytes: int,
                max_seconds: float) -> RelayRuleError | None:
    """The reason a part is refused for its size or length, or None when it fits."""
    if size > max_bytes:
        return RelayRuleError("relay.too_large", size_mb=f"{size / 1048576:.1f}",
                              max_mb=f"{max_bytes / 1048576:.0f}")
    if duration is not None and duration > max_seconds:
        return RelayRuleError("relay.too_long", minutes=f"{duration / 60:.1f}",
                              max_minutes=f"{max_seconds / 60:.0f}")
    return None


def part_kind(attachment_kind: str, mime_type: str) -> str:
    """The report part kind for an attachment: voice, audio or file."""
    if attachment_kind == "voice":
        return "voice"
    if attachment_kind == "audio" or (mime_type or "").startswith("audio/"):
        return "audio"
    return "file"


def format_duration(seconds: float | None) -> str:
    """"1:05" for 65 seconds; "" when unknown."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"

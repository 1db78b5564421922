"""Finding a meeting time that is humane for every circle.

A slot qualifies only when the whole meeting lies inside waking hours in every zone. Waking
hours are read as a span of real time on each local day (from `resolve_local(day + wake)` to
`resolve_local(day + sleep)`), so a DST day that is 23 or 25 hours long, a meeting that would
run past midnight, and offsets of :30 or :45 are all judged on the clock people actually see.

Ranking is by comfort: the slot's score is the smallest distance, over all zones, between the
meeting and the edge of that zone's waking hours (nobody should have to join at 07:59 or
leave at 22:01). Higher is better; ties go to the earliest start. Pure: nothing reads the clock.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from core.clock import utc
from core.timekeeping import resolve_local, zone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_CANDIDATES = 50_000  # a year of half hours fits; anything larger is a caller's mistake


@dataclass(frozen=True)
class Slot:
    """A proposed meeting: its UTC span, comfort score and how it reads in each zone.

    `score` is the smallest margin between the meeting and any zone's waking edges.
    """

    start_utc: datetime
    end_utc: datetime
    score: timedelta
    local_starts: dict[str, datetime] = field(compare=False)
    local_ends: dict[str, datetime] = field(compare=False)


def _waking_span(day: date, tz: str, waking: tuple[time, time]) -> tuple[datetime, datetime]:
    wake, sleep = waking
    start = resolve_local(datetime.combine(day, wake), tz)
    # A sleep time of 00:00 means midnight at the end of the day.
    end_day = day + timedelta(days=1) if sleep == time(0) else day
    return start, resolve_local(datetime.combine(end_day, sleep), tz)


def _first_step(after: datetime, step: timedelta) -> datetime:
    # Candidates sit on a grid counted from midnight UTC, so proposals read as round times.
    n = -((_EPOCH - after) // step)  # ceiling division
    return _EPOCH + n * step


def find_slots(zones: Sequence[str], duration: timedelta, window_start_utc: datetime,
               window_end_utc: datetime, waking: tuple[time, time] = (time(8), time(22)),
               step: timedelta = timedelta(minutes=30), limit: int = 5,
               allow_overlap: bool = False) -> list[Slot]:
    """The most comfortable meeting times for all `zones` between the two instants.

    Candidates start every `step` (on a grid from midnight UTC) and must end by
    `window_end_utc`. Proposals do not overlap each other unless `allow_overlap`, so five
    proposals are five different choices. Returns [] when no time fits everyone.
    """
    if duration <= timedelta(0):
        raise ValueError("a meeting needs a positive duration")
    if step <= timedelta(0):
        raise ValueError("the step between candidate times must be positive")
    wake, sleep = waking
    if wake.tzinfo or sleep.tzinfo:
        raise ValueError("waking hours are wall-clock times: give them without a zone")
    if not (wake < sleep or sleep == time(0)):
        raise ValueError("waking hours must start before they end (use 00:00 for midnight)")
    names = list(dict.fromkeys(zones))
    if not names:
        raise ValueError("at least one time zone is needed")
    zinfo = {tz: zone(tz) for tz in names}
    begin, finish = utc(window_start_utc), utc(window_end_utc)
    if (finish - begin) / step > _MAX_CANDIDATES:
        raise ValueError("the search window is too long for this step")

    spans: dict[tuple[str, date], tuple[datetime, datetime]] = {}
    found: list[Slot] = []
    start = _first_step(begin, step)
    while start + duration <= finish:
        end = start + duration
        margin: timedelta | None = None
        for tz in names:
            local_day = start.astimezone(zinfo[tz]).date()
            key = (tz, local_day)
            if key not in spans:
                spans[key] = _waking_span(local_day, tz, waking)
            up, down = spans[key]
            if start < up or end > down:
                margin = None
                break
            edge = min(start - up, down - end)
            margin = edge if margin is None else min(margin, edge)
        if margin is not None:
            found.append(Slot(start, end, margin,
                              {tz: start.astimezone(zinfo[tz]) for tz in names},
                              {tz: end.astimezone(zinfo[tz]) for tz in names}))
        start += step

    found.sort(key=lambda s: (-s.score, s.start_utc))
    chosen: list[Slot] = []
    for slot in found:
        if len(chosen) >= limit:
            break
        if allow_overlap or all(slot.end_utc <= c.start_utc or slot.start_utc >= c.end_utc
                                for c in chosen):
            chosen.append(slot)
    return chosen

"""iCalendar export of a circle's action calendar, for phones and desktop calendar apps.

Each event is written in its home zone (DTSTART;TZID=Europe/Berlin:...) with a VTIMEZONE for
every zone used, so a weekly 18:00 meeting stays at 18:00 in Berlin after the clocks change,
exactly as `core.timekeeping.occurrences` expands it. Repeat rules are checked and written
with UNTIL in UTC, as RFC 5545 asks once DTSTART has a TZID. Pure: `now_utc` is an argument.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from icalendar import Calendar, Event, vRecur

from core.clock import utc
from core.timekeeping import normalize_rrule, zone

PRODID = "-//Tessera//Action calendar//EN"
_OPEN_ENDED_YEARS = 10  # how far ahead zone rules are written for a rule with no end


@dataclass(frozen=True)
class IcsEvent:
    """One calendar entry: a meeting, an action, a sync-day kickoff.

    `tz` is the event's home zone: where its wall-clock time is fixed and its RRULE repeats.
    `uid` must stay the same across exports so calendar apps update instead of duplicating.
    """

    uid: str
    title: str
    start_utc: datetime
    duration: timedelta
    tz: str
    description: str = ""
    location: str = ""
    url: str = ""
    rrule: str | None = None
    last_modified_utc: datetime | None = None
    sequence: int = 0

    def __post_init__(self) -> None:
        if not self.uid.strip():
            raise ValueError("a calendar event needs a uid")
        if not self.title.strip():
            raise ValueError("a calendar event needs a title")
        if self.duration <= timedelta(0):
            raise ValueError("a calendar event needs a positive duration")
        zone(self.tz)


def _is_utc(tz: str) -> bool:
    return zone(tz).key in ("UTC", "Etc/UTC", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu")


def _vevent(ev: IcsEvent, now: datetime) -> tuple[Event, date]:
    start = utc(ev.start_utc)
    home = timezone.utc if _is_utc(ev.tz) else zone(ev.tz)
    local_start = start.astimezone(home)
    # The end is an exact duration after the start, even across a clock change.
    local_end = (start + ev.duration).astimezone(home)
    event = Event()
    event.add("uid", ev.uid)
    event.add("dtstamp", now)
    event.add("dtstart", local_start)
    event.add("dtend", local_end)
    event.add("summary", ev.title)
    if ev.description:
        event.add("description", ev.description)
    if ev.location:
        event.add("location", ev.location)
    if ev.url:
        event.add("url", ev.url)
    event.add("last-modified", utc(ev.last_modified_utc) if ev.last_modified_utc else now)
    event.add("sequence", ev.sequence)
    horizon = local_end.date() + timedelta(days=366)
    if ev.rrule:
        rule = normalize_rrule(ev.rrule, ev.tz, local_start.replace(tzinfo=None))
        event.add("rrule", vRecur.from_ical(rule))
        until = vRecur.from_ical(rule).get("UNTIL")
        if until:
            horizon = max(horizon, until[0].date() + timedelta(days=366))
        else:
            horizon = max(horizon, date(local_start.year + _OPEN_ENDED_YEARS, 1, 1))
    return event, horizon


def build_calendar(name: str, events: Sequence[IcsEvent], now_utc: datetime) -> bytes:
    """A complete VCALENDAR (bytes, CRLF, folded) with `events`, ready to serve as .ics.

    Carries PRODID, VERSION, CALSCALE, NAME/X-WR-CALNAME, one VTIMEZONE per home zone in use
    covering the events' years, and per event UID, DTSTAMP, DTSTART/DTEND with TZID, SUMMARY,
    optional DESCRIPTION/LOCATION/URL, RRULE, LAST-MODIFIED and SEQUENCE.
    """
    now = utc(now_utc).replace(microsecond=0)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    first: date | None = None
    last: date | None = None
    for ev in events:
        vevent, horizon = _vevent(ev, now)
        cal.add_component(vevent)
        begins = utc(ev.start_utc).date() - timedelta(days=1)
        first = begins if first is None else min(first, begins)
        last = horizon if last is None else max(last, horizon)
    if first is not None and last is not None:
        # VTIMEZONE blocks from the tz database for the years the events touch; calendar
        # apps that know IANA names use their own rules, the others need these.
        cal.add_missing_timezones(first_date=date(first.year, 1, 1),
                                  last_date=date(last.year + 1, 1, 1))
    return cal.to_ical()

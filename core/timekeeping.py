"""Time rules for action calendars and synchronized days.

Circles live in many time zones, and every time the bots show must be right in each circle's
local time, on ordinary days and on the days clocks change. Everything here is pure: `now` is
always an argument, nothing reads the clock.

Instants are aware UTC datetimes. Arguments that expect an instant follow `core.clock.utc`:
a naive value is taken to be UTC (that is what SQLite hands back). Wall-clock times that
people type ("Saturday 18:00 in Berlin") are naive datetimes plus a zone name, and become
instants only through `resolve_local`, which has one documented DST policy:

* a wall time that does not exist (the spring-forward gap) moves forward by the length of the
  gap: 02:30 in Berlin's 02:00->03:00 gap becomes 03:30 CEST;
* a wall time that happens twice (the fall-back hour) takes its first occurrence (fold=0),
  so nobody turns up an hour late.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel.numbers import format_decimal
from dateutil.rrule import rrulestr

from core.clock import utc

Note = Literal["ok", "shifted_forward", "ambiguous_first"]
SyncMode = Literal["same_instant", "same_local_hour"]
CircleId = TypeVar("CircleId", bound=Hashable)

UTC = timezone.utc


class TimeProblem(ValueError):
    """A time zone or repeat rule that cannot be used, said in the reader's language.

    `key` names the catalog message (`args.bad_zone`, `calendar.rule.*`) and `params` fill
    it; `str()` stays the English explanation, for logs and for callers that only need to
    know that the value was refused.
    """

    def __init__(self, message: str, key: str, /, **params: object) -> None:
        super().__init__(message)
        self.key, self.params = key, params


# --- zones -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _known_zones() -> dict[str, str]:
    # lower-case name -> canonical IANA name, so "europe/berlin" finds "Europe/Berlin"
    return {name.lower(): name for name in available_timezones()}


@lru_cache(maxsize=1)
def zone_lookup() -> tuple[dict[str, str], dict[str, str]]:
    """Two tables of canonical IANA names: by lower-case full name ("europe/berlin", plus
    "utc"), and by lower-case city with spaces ("new york"), for parsing what people type."""
    names = sorted(available_timezones() | {"UTC"})
    by_name = {n.lower(): n for n in names}
    by_city = {n.rsplit("/", 1)[-1].lower().replace("_", " "): n for n in names if "/" in n}
    return by_name, by_city


def suggest_zones(name: str, n: int = 3) -> list[str]:
    """The IANA zone names closest to `name` (a typo, a city, "new york"), best first."""
    wanted = name.strip().lower().replace(" ", "_")
    known = _known_zones()
    by_full = difflib.get_close_matches(wanted, known.keys(), n=n, cutoff=0.6)
    # People often type only the city: compare with the last part of each name too.
    cities: dict[str, list[str]] = {}
    for low in known:
        cities.setdefault(low.rsplit("/", 1)[-1], []).append(low)
    by_city = [low for city in difflib.get_close_matches(wanted.rsplit("/", 1)[-1], cities, n=n,
                                                         cutoff=0.75)
               for low in cities[city]]
    out: list[str] = []
    for low in by_city + by_full:
        if known[low] not in out:
            out.append(known[low])
    return out[:n]


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (IANA, e.g. "America/Chicago"; case does not matter).

    Raises `TimeProblem` (key `args.bad_zone`) naming the closest real zones when `name` is
    unknown.
    """
    if not isinstance(name, str) or not name.strip():
        raise TimeProblem("a time zone name is needed, e.g. 'Europe/Berlin'", "args.bad_zone",
                          value=name if isinstance(name, str) else "", suggestion="Europe/Berlin")
    canonical = _known_zones().get(name.strip().lower())
    if canonical is None and name.strip().upper() == "UTC":
        canonical = "UTC"
    if canonical is not None:
        try:
            return _zone_info(canonical)
        except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - broken tz database
            pass
    hints = suggest_zones(name)
    hint = (f"; did you mean {', '.join(hints)}?" if hints
            else "; use an IANA name like 'Europe/Berlin'")
    raise TimeProblem(f"unknown time zone {name!r}{hint}", "args.bad_zone", value=name,
                      suggestion=hints[0] if hints else "Europe/Berlin")


@lru_cache(maxsize=None)
def _zone_info(canonical: str) -> ZoneInfo:
    # Held for the life of the process: ZoneInfo keeps only the last 8 zones it made, so
    # circles in more zones than that (one per city) re-read tz files on every command.
    return ZoneInfo(canonical)


def local_wall(instant_utc: datetime, tz: str) -> datetime:
    """The instant as an aware datetime in zone `tz` (its wall-clock reading there)."""
    return utc(instant_utc).astimezone(zone(tz))


# --- wall time -> instant -----------------------------------------------------------------

@dataclass(frozen=True)
class Resolved:
    """A wall-clock time turned into an instant, and what the DST policy had to do."""

    instant_utc: datetime
    note: Note


def resolve_local_explain(local: datetime, tz: str) -> Resolved:
    """Resolve a naive wall-clock time in `tz` to a UTC instant, saying which case applied.

    "ok": the time exists once; "shifted_forward": it fell in a spring-forward gap and moved
    forward by the gap; "ambiguous_first": it happens twice and the first one was taken.
    """
    if local.tzinfo is not None:
        raise ValueError("resolve_local wants a naive wall-clock time; this one has a zone")
    z = zone(tz)
    first = local.replace(tzinfo=z, fold=0)
    second = local.replace(tzinfo=z, fold=1)
    instant = first.astimezone(UTC)
    if first.utcoffset() == second.utcoffset():
        return Resolved(instant, "ok")
    if instant.astimezone(z).replace(tzinfo=None) != local:
        # In a gap zoneinfo's fold=0 applies the offset from before the change, which lands
        # the instant exactly one gap-length later on the wall clock: the policy we want.
        return Resolved(instant, "shifted_forward")
    return Resolved(instant, "ambiguous_first")


def resolve_local(local: datetime, tz: str) -> datetime:
    """Resolve a naive wall-clock time in `tz` to an aware UTC instant (policy: module doc)."""
    return resolve_local_explain(local, tz).instant_utc


# --- showing times -------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _locale(lang: str) -> Locale:
    try:
        return Locale.parse((lang or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


_OFFSET_ONLY = re.compile(r"^[+-]\d{2,4}$")


def zone_label(instant_utc: datetime, tz: str, lang: str = "en") -> str:
    """A short name for the zone at that instant, as readers of `lang` know it.

    The locale's own abbreviation when CLDR has one ("MEZ" in German), else the tz database's
    letters ("CET", "IST", "ACDT"), else a localized offset ("GMT+05:45").
    """
    loc = _locale(lang)
    wall = local_wall(instant_utc, tz)
    cldr = babel_dates.get_timezone_name(wall, width="short", locale=loc)
    if cldr and not _OFFSET_ONLY.match(cldr):
        return cldr
    letters = wall.tzname() or ""
    if letters.isalpha():
        return letters
    return babel_dates.get_timezone_gmt(wall, width="long", locale=loc)


@lru_cache(maxsize=4096)
def format_local(instant_utc: datetime, tz: str, lang: str, style: str = "medium") -> str:
    """The instant as people in `tz` read it, in `lang`: weekday, date, time and zone.

    style "short" leaves out the year, "medium" (e.g. "Sat, Mar 14, 2026, 10:00 AM CET"),
    "long" spells out weekday and month and adds the offset from UTC.
    """
    # Remembered: the same deadline or kickoff is shown again and again (every vote on a
    # ballot repeats its deadline), and CLDR formatting costs more than the command's query.
    loc = _locale(lang)
    wall = local_wall(instant_utc, tz)
    if style == "short":
        day = babel_dates.format_skeleton("MMMEd", wall, locale=loc)
    elif style == "medium":
        day = babel_dates.format_skeleton("yMMMEd", wall, locale=loc)
    elif style == "long":
        day = babel_dates.format_date(wall, "full", locale=loc)
    else:
        raise ValueError(f"unknown style {style!r}: use short, medium or long")
    clock = babel_dates.format_time(wall, "short", locale=loc)
    label = zone_label(instant_utc, tz, lang)
    offset = babel_dates.get_timezone_gmt(wall, width="long", locale=loc)
    if style == "long" and label != offset:
        label = f"{label} ({offset})"
    pattern = babel_dates.get_datetime_format(style, locale=loc)
    return pattern.replace("{1}", day).replace("{0}", f"{clock} {label}")


def _unit(value: int, unit: str, loc: Locale) -> str:
    # Babel's format_unit misses CLDR's inheritance (Turkish has only "short" day patterns,
    # and gets "3 duration-day"): look through the widths ourselves.
    patterns = loc._data["unit_patterns"][f"duration-{unit}"]
    form = loc.plural_form(value)
    for width in ("long", "short", "narrow"):
        table = patterns.get(width) or {}
        chosen = table.get(form) or table.get("other")
        if chosen:
            return chosen.replace("{0}", format_decimal(value, locale=loc))
    return f"{value} {unit}"  # pragma: no cover - every CLDR locale has some width


def format_countdown(delta: timedelta, lang: str) -> str:
    """Time left, in words of `lang`, with the two largest units: "3 days 4 hours".

    Rounded down (a countdown never promises more time than there is); a negative delta
    reads as zero minutes.
    """
    loc = _locale(lang)
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    if not parts:
        return _unit(secs, "second", loc) if secs else _unit(0, "minute", loc)
    shown = [p for p in parts[:2] if p[0]]
    return " ".join(_unit(v, u, loc) for v, u in shown)


# --- synchronized days ---------------------------------------------------------------------

@dataclass(frozen=True)
class Kickoff:
    """When one circle starts on a sync day: the instant, its local reading and any DST note.

    `day_shift` is how many days the local date differs from the plan's date (a same-instant
    kickoff at 16:00 UTC is already tomorrow in Adelaide: +1).
    """

    circle_id: Hashable
    tz: str
    instant_utc: datetime
    local: datetime
    note: Note
    day_shift: int = 0

    @property
    def local_date(self) -> date:
        """The date the circle sees on its own calendar."""
        return self.local.date()


@dataclass(frozen=True)
class SyncDayPlan:
    """A synchronized day of action: everyone at one moment, or each at the same local hour.

    `instant_tz` is the zone in which `day` and `at` are read for "same_instant" plans.
    """

    mode: SyncMode
    day: date
    at: time
    instant_tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.mode not in ("same_instant", "same_local_hour"):
            raise ValueError(f"unknown sync mode {self.mode!r}: same_instant or same_local_hour")
        zone(self.instant_tz)

    def kickoffs(self, circle_zones: Mapping[CircleId, str]) -> dict[CircleId, Kickoff]:
        """Every circle's kickoff for this plan (see `kickoff_instants`)."""
        return kickoff_instants(self.mode, self.day, self.at, circle_zones, self.instant_tz)


def kickoff_instants(mode: SyncMode, day: date, at: time,
                     circle_zones: Mapping[CircleId, str],
                     instant_tz: str = "UTC") -> dict[CircleId, Kickoff]:
    """When each circle kicks off.

    same_instant: `day` at `at` in `instant_tz` is one moment for all, shown in each circle's
    zone (possibly on another date). same_local_hour: `day` at `at` on each circle's own wall
    clock, resolved with `resolve_local`, so a circle whose clocks change that day still
    starts at the stated local hour (or gets the DST note saying what happened).
    """
    if at.tzinfo is not None:
        raise ValueError("the kickoff hour is a wall-clock time: give it without a zone")
    wall = datetime.combine(day, at)
    out: dict[CircleId, Kickoff] = {}
    if mode == "same_instant":
        shared = resolve_local_explain(wall, instant_tz)
        for circle, tz in circle_zones.items():
            local = local_wall(shared.instant_utc, tz)
            out[circle] = Kickoff(circle, tz, shared.instant_utc, local, shared.note,
                                  (local.date() - day).days)
    elif mode == "same_local_hour":
        for circle, tz in circle_zones.items():
            own = resolve_local_explain(wall, tz)
            local = local_wall(own.instant_utc, tz)
            out[circle] = Kickoff(circle, tz, own.instant_utc, local, own.note,
                                  (local.date() - day).days)
    else:
        raise ValueError(f"unknown sync mode {mode!r}: same_instant or same_local_hour")
    return out


def wave_order(kickoffs: Mapping[Hashable, Kickoff] | Iterable[Kickoff]) -> list[Kickoff]:
    """Kickoffs in the order they happen: the wave of action travelling round the world."""
    items = kickoffs.values() if isinstance(kickoffs, Mapping) else kickoffs
    return sorted(items, key=lambda k: (k.instant_utc, k.tz, str(k.circle_id)))


class Countdown(NamedTuple):
    """One announcement before something starts: how long before, and when (UTC)."""

    offset: timedelta
    instant_utc: datetime


def _before(start_utc: datetime, offsets: Iterable[timedelta], now: datetime) -> list[Countdown]:
    start, now = utc(start_utc), utc(now)
    out = []
    for offset in offsets:
        if offset < timedelta(0):
            raise ValueError(f"offsets count back from the start and cannot be negative: {offset}")
        moment = start - offset
        if moment >= now:  # due right now still counts; already past is skipped
            out.append(Countdown(offset, moment))
    return sorted(set(out), key=lambda c: c.instant_utc)


def countdown_instants(kickoff_utc: datetime,
                       offsets: Sequence[timedelta] = (timedelta(days=7), timedelta(days=1),
                                                       timedelta(hours=1)),
                       *, now: datetime) -> list[Countdown]:
    """The countdown announcements still to come before a kickoff, earliest first.

    Offsets are exact durations (a week before is 168 hours before, DST or not).
    """
    return _before(kickoff_utc, offsets, now)


def reminder_instants(start_utc: datetime,
                      offsets: Sequence[timedelta] = (timedelta(days=1), timedelta(hours=1)),
                      *, now: datetime) -> list[Countdown]:
    """The reminders still to send before a calendar event, earliest first."""
    return _before(start_utc, offsets, now)


# --- recurrence ----------------------------------------------------------------------------

_FREQS = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_DAY = r"(?:[+-]?(?:[1-9]|[1-4]\d|5[0-3]))?(?:MO|TU|WE|TH|FR|SA|SU)"
_LISTS = {
    "BYDAY": (re.compile(_DAY), None),
    "BYMONTH": (None, (1, 12)),
    "BYMONTHDAY": (None, (1, 31)),
    "BYYEARDAY": (None, (1, 366)),
    "BYWEEKNO": (None, (1, 53)),
    "BYSETPOS": (None, (1, 366)),
}
# How many candidates one period can hold: a BYSETPOS beyond that never matches.
_SETPOS_MAX = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")


def _rule_problem(message: str, name: str, /, **params: object) -> TimeProblem:
    # Repeat-rule messages live in the calendar catalog under calendar.rule.
    return TimeProblem(message, f"calendar.rule.{name}", **params)


def _until_utc(value: str, tz: str) -> datetime:
    m = _UNTIL.match(value)
    if not m:
        raise _rule_problem(f"UNTIL {value!r} is not a date (20261231) "
                            "or a date-time (20261231T180000Z)", "until_format", value=value)
    day, clock, zulu = m.groups()
    try:
        if clock is None:
            # A bare date means "through that day" in the event's own zone.
            last_second = datetime.strptime(day, "%Y%m%d") + timedelta(days=1, seconds=-1)
            return resolve_local(last_second, tz)
        stamp = datetime.strptime(day + clock, "%Y%m%d%H%M%S")
    except ValueError as err:
        raise _rule_problem(f"UNTIL {value!r} is not a real date: {err}", "until_invalid",
                            value=value) from None
    return stamp.replace(tzinfo=UTC) if zulu else resolve_local(stamp, tz)


@dataclass(frozen=True)
class _Rule:
    parts: dict[str, str]
    until_utc: datetime | None

    def without_until(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.parts.items())

    def ical(self) -> str:
        text = self.without_until()
        if self.until_utc is not None:
            text += ";UNTIL=" + self.until_utc.strftime("%Y%m%dT%H%M%SZ")
        return text


def _parse_rrule(rule: str, tz: str) -> _Rule:
    if not isinstance(rule, str) or not rule.strip():
        raise _rule_problem("the repeat rule is empty", "empty")
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if "\n" in text or "\r" in text:
        raise _rule_problem("a repeat rule is a single RRULE line", "one_line")
    parts: dict[str, str] = {}
    until = None
    for chunk in text.split(";"):
        key, eq, value = chunk.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not eq or not key or not value:
            raise _rule_problem(f"{chunk!r} is not NAME=VALUE", "not_pair", part=chunk.strip())
        if key in parts or (key == "UNTIL" and until is not None):
            raise _rule_problem(f"{key} appears twice", "twice", name=key)
        if key == "FREQ":
            if value not in _FREQS:
                raise _rule_problem(f"FREQ={value} is not supported: use DAILY, WEEKLY, MONTHLY "
                                    "or YEARLY (the time of day comes from the event's start)",
                                    "freq", value=value)
        elif key in ("INTERVAL", "COUNT"):
            if not value.isdigit() or int(value) < 1:
                raise _rule_problem(f"{key} must be a whole number of at least 1, not {value!r}",
                                    "whole_number", name=key, value=value)
        elif key == "UNTIL":
            until = _until_utc(value, tz)
            continue
        elif key == "WKST":
            if value not in ("MO", "TU", "WE", "TH", "FR", "SA", "SU"):
                raise _rule_problem(f"WKST={value} is not a weekday (MO..SU)", "wkst",
                                    value=value)
        elif key in _LISTS:
            pattern, bounds = _LISTS[key]
            for item in value.split(","):
                if pattern is not None:
                    ok = bool(pattern.fullmatch(item))
                else:
                    ok = bool(re.fullmatch(r"[+-]?\d{1,3}", item)) and (
                        bounds[0] <= abs(int(item)) <= bounds[1] and
                        (key != "BYMONTH" or not item.startswith("-")))
                if not ok:
                    raise _rule_problem(f"{key}={value}: {item!r} is out of range",
                                        "out_of_range", name=key, value=value, item=item)
        else:
            raise _rule_problem(f"{key} is not supported in a repeat rule", "unsupported",
                                name=key)
        parts[key] = value
    if "FREQ" not in parts:
        raise _rule_problem("a repeat rule needs FREQ (e.g. FREQ=WEEKLY)", "no_freq")
    if "COUNT" in parts and until is not None:
        raise _rule_problem("COUNT and UNTIL cannot both be given", "count_and_until")
    for item in parts.get("BYDAY", "").split(","):
        ordinal = item[:-2]
        if ordinal and parts["FREQ"] not in ("MONTHLY", "YEARLY"):
            raise _rule_problem(f"BYDAY={item} (the nth weekday) needs FREQ=MONTHLY or YEARLY",
                                "nth_weekday", item=item)
        if ordinal and parts["FREQ"] == "MONTHLY" and abs(int(ordinal)) > 5:
            raise _rule_problem(f"BYDAY={item}: no month has more than five of a weekday",
                                "five_weekdays", item=item)
    if "BYSETPOS" in parts:
        most = _SETPOS_MAX[parts["FREQ"]]
        if any(abs(int(n)) > most for n in parts["BYSETPOS"].split(",")):
            raise _rule_problem(f"BYSETPOS beyond {most} never matches with "
                                f"FREQ={parts['FREQ']}", "setpos", most=most, freq=parts["FREQ"])
    parts = {"FREQ": parts.pop("FREQ"), **parts}
    return _Rule(parts, until)


@lru_cache(maxsize=256)
def _ever_happens(rule_text: str, start_local: datetime) -> bool:
    # dateutil searches until the year 9999 for a rule that never matches (Feb 30, a seventh
    # Monday...), which takes seconds. The Gregorian calendar repeats exactly every 400 years,
    # so moving the start by whole cycles changes nothing but bounds that search to ~400 years.
    cycles = (9999 - 400 - start_local.year) // 400
    probe = start_local.replace(year=start_local.year + 400 * cycles) if cycles > 0 else start_local
    return next(iter(rrulestr(rule_text, dtstart=probe)), None) is not None


def _expansion(rule: _Rule, start_local: datetime):
    start = start_local.replace(microsecond=0)
    try:
        expanded = rrulestr(rule.without_until(), dtstart=start)
    except (ValueError, TypeError) as err:  # pragma: no cover - our checks come first
        raise _rule_problem(f"invalid repeat rule: {err}", "invalid") from None
    if not _ever_happens(rule.without_until(), start):
        raise _rule_problem("this repeat rule never happens (e.g. the 30th of February)",
                            "never")
    return expanded


def normalize_rrule(rule: str, tz: str, start_local: datetime | None = None) -> str:
    """Check an RRULE and return it canonically: upper case, FREQ first, UNTIL in UTC.

    Raises `TimeProblem` with the reason for a bad rule (a `calendar.rule.*` key, or
    `args.bad_zone` for `tz`). UNTIL without "Z" is read in `tz`
    (a bare date means through that day), as RFC 5545 wants UTC once DTSTART has a TZID.
    With `start_local` it also refuses rules that never happen from that start.
    """
    zone(tz)
    rule_ = _parse_rrule(rule, tz)
    if start_local is not None:
        _expansion(rule_, start_local.replace(tzinfo=None))
    return rule_.ical()


def occurrences(start_local: datetime, tz: str, rrule: str, after_utc: datetime,
                before_utc: datetime, limit: int = 500) -> list[datetime]:
    """The UTC instants of a repeating event from `after_utc` (inclusive) to `before_utc`.

    The RRULE is expanded in local wall time from `start_local` (naive, in `tz`), so a weekly
    18:00 meeting stays at 18:00 local across DST; each wall time goes through
    `resolve_local`. At most `limit` instants, earliest first.
    """
    if start_local.tzinfo is not None:
        raise ValueError("start_local is a wall-clock time: give it without a zone")
    z = zone(tz)
    rule = _parse_rrule(rrule, tz)
    after, before = utc(after_utc), utc(before_utc)
    if before <= after or limit <= 0:
        return []
    expanded = _expansion(rule, start_local)
    # Local bounds with two days' slack: no zone's offset moves by more than a day at once.
    slack = timedelta(days=2)
    first_local = after.astimezone(z).replace(tzinfo=None) - slack
    last_local = before.astimezone(z).replace(tzinfo=None) + slack
    out: list[datetime] = []
    for wall in expanded.xafter(first_local, inc=True):
        if wall > last_local:
            break
        instant = resolve_local(wall, tz)
        if rule.until_utc is not None and instant > rule.until_utc:
            break
        if after <= instant < before:
            out.append(instant)
    return sorted(out)[:limit]

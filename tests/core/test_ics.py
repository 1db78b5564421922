"""iCalendar export: what we write must read back the same, in icalendar and by the rules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar

from core.ics import PRODID, IcsEvent, build_calendar
from core.timekeeping import occurrences


def U(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


NOW = U(2026, 3, 1, 8, 30, 15)

ASSEMBLY = IcsEvent(
    uid="assembly-7@berlin.tessera",
    title="Weekly assembly; everyone welcome, bring friends",
    start_utc=U(2026, 3, 19, 17, 0),          # Thursday 18:00 CET
    duration=timedelta(hours=1, minutes=30),
    tz="Europe/Berlin",
    description="Agenda:\n1. Rent strike, next steps\n2. Solidarity fund; vote\nKüche öffnet 17:30",
    location="Nachbarschaftshaus, Raum 2",
    url="https://example.org/circles/berlin?x=1&y=2",
    rrule="FREQ=WEEKLY;UNTIL=20261231",
)
QUARTERLY = IcsEvent(
    uid="quarterly@chicago.tessera",
    title="Quarterly delegates' call",
    start_utc=U(2026, 1, 16, 1, 0),           # Thursday 15 January 19:00 CST
    duration=timedelta(hours=1),
    tz="America/Chicago",
    rrule="FREQ=MONTHLY;INTERVAL=3",
    last_modified_utc=U(2026, 2, 20, 12, 0),
    sequence=2,
)
KICKOFF = IcsEvent(
    uid="syncday-2026-03-29@tessera",
    title="Day of action: kickoff (عمل مشترك)",
    start_utc=U(2026, 3, 29, 16, 0),
    duration=timedelta(hours=2),
    tz="UTC",
)


@pytest.fixture()
def ics() -> bytes:
    return build_calendar("Berlin circle: actions", [ASSEMBLY, QUARTERLY, KICKOFF], NOW)


def _event(cal: Calendar, uid: str):
    return next(e for e in cal.walk("VEVENT") if str(e["UID"]) == uid)


def test_calendar_header(ics):
    cal = Calendar.from_ical(ics)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == PRODID
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    assert str(cal["X-WR-CALNAME"]) == "Berlin circle: actions"
    assert ics.startswith(b"BEGIN:VCALENDAR\r\n") and ics.endswith(b"END:VCALENDAR\r\n")


def test_lines_are_crlf_and_folded_to_75_octets(ics):
    assert b"\n" not in ics.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in ics.split(b"\r\n"))


def test_one_vtimezone_per_home_zone(ics):
    cal = Calendar.from_ical(ics)
    assert sorted(str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")) == [
        "America/Chicago", "Europe/Berlin"]
    # the written rules give the right offsets on both sides of the change
    berlin = next(tz for tz in cal.walk("VTIMEZONE") if str(tz["TZID"]) == "Europe/Berlin")
    rules = berlin.to_tz()
    assert datetime(2026, 3, 28, 12, tzinfo=rules).utcoffset() == timedelta(hours=1)
    assert datetime(2026, 3, 30, 12, tzinfo=rules).utcoffset() == timedelta(hours=2)
    assert datetime(2026, 10, 26, 12, tzinfo=rules).utcoffset() == timedelta(hours=1)


def test_events_round_trip(ics):
    cal = Calendar.from_ical(ics)
    assert {str(e["UID"]) for e in cal.walk("VEVENT")} == {ASSEMBLY.uid, QUARTERLY.uid, KICKOFF.uid}
    ev = _event(cal, ASSEMBLY.uid)
    assert str(ev["SUMMARY"]) == ASSEMBLY.title
    assert str(ev["DESCRIPTION"]) == ASSEMBLY.description
    assert str(ev["LOCATION"]) == ASSEMBLY.location
    assert str(ev["URL"]) == ASSEMBLY.url
    assert ev["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert ev.decoded("DTSTART").replace(tzinfo=None) == datetime(2026, 3, 19, 18, 0)
    assert ev.decoded("DTSTART") == ASSEMBLY.start_utc
    assert ev.decoded("DTEND").astimezone(timezone.utc) == U(2026, 3, 19, 18, 30)
    assert ev.decoded("DTSTAMP") == NOW
    assert ev.decoded("LAST-MODIFIED") == NOW
    # escaped on the wire, plain after parsing
    assert b"Weekly assembly\\; everyone welcome\\, bring friends" in ics
    q = _event(cal, QUARTERLY.uid)
    assert q.decoded("LAST-MODIFIED") == QUARTERLY.last_modified_utc
    assert int(q["SEQUENCE"]) == 2
    k = _event(cal, KICKOFF.uid)
    assert "TZID" not in k["DTSTART"].params
    assert b"DTSTART:20260329T160000Z" in ics
    assert str(k["SUMMARY"]) == KICKOFF.title


def test_rrule_round_trips_with_until_in_utc(ics):
    cal = Calendar.from_ical(ics)
    rule = _event(cal, ASSEMBLY.uid)["RRULE"]
    assert rule["FREQ"] == ["WEEKLY"]
    # "through 31 December" in Berlin: 23:59:59 CET is 22:59:59 UTC
    assert rule["UNTIL"][0] == U(2026, 12, 31, 22, 59, 59)
    assert b"RRULE:FREQ=WEEKLY;UNTIL=20261231T225959Z" in ics
    q = _event(cal, QUARTERLY.uid)["RRULE"]
    assert q["FREQ"] == ["MONTHLY"] and q["INTERVAL"] == [3]
    assert "RRULE" not in _event(cal, KICKOFF.uid)


@pytest.mark.parametrize("event", [ASSEMBLY, QUARTERLY], ids=lambda e: e.uid)
def test_a_calendar_app_expanding_the_file_agrees_with_our_occurrences(ics, event):
    # Expand DTSTART;TZID + RRULE as a calendar app would (in the event's own wall time).
    ev = _event(Calendar.from_ical(ics), event.uid)
    start = ev.decoded("DTSTART")
    expanded = rrulestr(ev["RRULE"].to_ical().decode(), dtstart=start)
    window = (U(2026, 1, 1), U(2027, 6, 1))
    theirs = [d.astimezone(timezone.utc) for d in expanded.between(*window, inc=True)]
    ours = occurrences(start.replace(tzinfo=None), event.tz, event.rrule, *window)
    assert theirs == ours
    assert len(ours) > 4


def test_end_is_an_exact_duration_across_the_change():
    # 01:30 CET on the night clocks go forward, two hours long: ends 04:30 CEST
    night = IcsEvent("night@tessera", "Night shift picket", U(2026, 3, 29, 0, 30),
                     timedelta(hours=2), "Europe/Berlin")
    ics = build_calendar("Pickets", [night], NOW)
    assert b"DTSTART;TZID=Europe/Berlin:20260329T013000" in ics
    assert b"DTEND;TZID=Europe/Berlin:20260329T043000" in ics
    ev = _event(Calendar.from_ical(ics), night.uid)
    # (subtracting two times of one zone in Python counts wall-clock hours: compare in UTC)
    end, start = (ev.decoded(k).astimezone(timezone.utc) for k in ("DTEND", "DTSTART"))
    assert end - start == timedelta(hours=2)


def test_output_is_deterministic(ics):
    assert build_calendar("Berlin circle: actions", [ASSEMBLY, QUARTERLY, KICKOFF], NOW) == ics


def test_an_empty_calendar_is_still_a_calendar():
    cal = Calendar.from_ical(build_calendar("Nothing yet", [], NOW))
    assert cal.walk("VEVENT") == [] and str(cal["X-WR-CALNAME"]) == "Nothing yet"


def test_bad_events_are_refused():
    with pytest.raises(ValueError, match="duration"):
        IcsEvent("u", "t", NOW, timedelta(0), "UTC")
    with pytest.raises(ValueError, match="uid"):
        IcsEvent(" ", "t", NOW, timedelta(hours=1), "UTC")
    with pytest.raises(ValueError, match="unknown time zone"):
        IcsEvent("u", "t", NOW, timedelta(hours=1), "Europe/Berln")
    bad_rule = IcsEvent("u", "t", NOW, timedelta(hours=1), "UTC", rrule="FREQ=SECONDLY")
    with pytest.raises(ValueError, match="not supported"):
        build_calendar("x", [bad_rule], NOW)


def test_open_ended_series_get_zone_rules_for_years_ahead(ics):
    berlin = next(tz for tz in Calendar.from_ical(ics).walk("VTIMEZONE")
                  if str(tz["TZID"]) == "Europe/Berlin")
    rules = berlin.to_tz()
    # the Chicago series never ends, so the calendar carries rules at least ten years on
    assert datetime(2035, 7, 1, 12, tzinfo=rules).utcoffset() == timedelta(hours=2)

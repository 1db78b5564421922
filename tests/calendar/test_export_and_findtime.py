"""Exported calendars read back with a real iCalendar parser; finding humane meeting times."""
from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from icalendar import Calendar

from bots.calendar_feature import add_cli
from tests.calendar.test_events import BERLIN, CHICAGO, LAGOS, sent_to

HONOLULU = ("honolulu", "Honolulu", "US", "Pacific/Honolulu", "en")
KOLKATA = ("kolkata", "Kolkata", "IN", "Asia/Kolkata", "en")


def events_of(data: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(data)
    return {str(e["summary"]): e for e in cal.walk("VEVENT")}


async def test_chat_export_is_an_ics_file_calendar_apps_read(cal_town):
    town = cal_town
    await town.network(CHICAGO, LAGOS)
    await town.say("chicago", "chicago_coord",
                   "/event add Weekly call 2026-03-05 18:00 duration=1h repeat=FREQ=WEEKLY;COUNT=10 "
                   "link=https://meet.example.net/x scope=network")
    await town.say("lagos", "lagos_coord", "/event add Lagos tenants 2026-03-07 10:00 place=Yaba")
    await town.say("chicago", "chicago_coord", "/event add Chicago only 2026-03-08 09:00")
    out = await town.say("lagos", "amaka", "/event export")
    assert "as a file your calendar app can import" in out[-1]
    att = sent_to(town, "lagos")[-1].attachments[0]
    assert (att.kind, att.mime_type, att.filename) == ("file", "text/calendar", "tessera-lagos.ics")
    found = events_of(town.app.services.media.get(att.path))
    assert set(found) == {"Weekly call", "Lagos tenants"}  # not Chicago's own event
    weekly = found["Weekly call"]
    start = weekly.decoded("dtstart")
    assert start == datetime(2026, 3, 5, 18, 0, tzinfo=ZoneInfo("America/Chicago"))
    assert start.tzinfo.key == "America/Chicago"
    assert weekly.decoded("dtend") - start == timedelta(hours=1)
    assert weekly["rrule"]["FREQ"] == ["WEEKLY"] and weekly["rrule"]["COUNT"] == [10]
    assert str(weekly["url"]) == "https://meet.example.net/x"
    assert str(weekly["uid"]) == "event-1@tessera"
    assert str(found["Lagos tenants"]["location"]) == "Yaba"
    cal = Calendar.from_ical(town.app.services.media.get(att.path))
    assert {str(z["tzid"]) for z in cal.walk("VTIMEZONE")} == {"America/Chicago", "Africa/Lagos"}
    # the network's calendar has every circle's events, labelled
    await town.say("lagos", "amaka", "/event export network")
    att = sent_to(town, "lagos")[-1].attachments[0]
    assert set(events_of(town.app.services.media.get(att.path))) == {
        "Weekly call", "[Lagos] Lagos tenants", "[Chicago] Chicago only"}


async def test_cli_export_writes_the_same_calendar(cal_town, tmp_path):
    town = cal_town
    await town.network(LAGOS)
    await town.say("lagos", "lagos_coord", "/event add Assembly 2026-03-07 10:00")
    cfg = tmp_path / "tessera.toml"
    cfg.write_text(f'[tessera]\ndata_dir = "{tmp_path / "data"}"\n'
                   f'database_url = "{town.app.services.config.database_url()}"\n')
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_cli(parser.add_subparsers())
    for which, ident in (("--circle", "1"), ("--network", "1")):
        target = tmp_path / f"out{which}.ics"
        args = parser.parse_args(["--config", str(cfg), "calendar", "export", which, ident,
                                  "-o", str(target)])
        assert args.func(args) == 0
        assert list(events_of(target.read_bytes())) in (["Assembly"], ["[Lagos] Assembly"])
    args = parser.parse_args(["--config", str(cfg), "calendar", "export", "--circle", "99",
                              "-o", str(tmp_path / "x.ics")])
    assert args.func(args) == 2


async def test_findtime_ranks_the_hand_computed_slots(cal_town):
    # Monday 2 March 2026, 09:00 UTC. Chicago is on CST (UTC-6) until 8 March, Berlin on CET
    # (UTC+1). Waking hours 08:00-22:00 are 14:00-04:00 UTC in Chicago and 07:00-21:00 UTC in
    # Berlin: both awake 14:00-21:00 UTC. A one-hour meeting at 17:00 UTC is three hours from
    # either edge (the best); 16:00 and 18:00 are two hours from one (the 16:30/17:30 ones
    # would overlap 17:00). Within two days, the five proposals are therefore:
    town = cal_town
    await town.network(CHICAGO, BERLIN)
    out = await town.say("chicago", "maria", "/event findtime 1h Chicago Berlin within=2d")
    lines = out[-1].splitlines()
    assert "Best times for Chicago, Berlin" in lines[0]
    assert [line.split(" UTC")[0] for line in lines[1:]] == [
        "1. 2026-03-02 17:00", "2. 2026-03-03 17:00", "3. 2026-03-02 16:00",
        "4. 2026-03-02 18:00", "5. 2026-03-03 16:00"]
    assert "at least 3 hours" in lines[1] and "at least 2 hours" in lines[3]
    assert "Chicago: Mon, Mar 2, 11:00" in lines[1] and "Berlin: Mon, Mar 2, 6:00" in lines[1]


async def test_findtime_respects_configurable_waking_hours(cal_town):
    # Honolulu (UTC-10) and Kolkata (UTC+5:30): 09:00-17:00 is 19:00-03:00 UTC in Honolulu
    # and 03:30-11:30 UTC in Kolkata, which never meet. With 08:00-22:00 they share
    # 02:30-08:00 UTC (on 3 March within the next day). A two-hour meeting starting at s is
    # min(s - 02:30, 06:00 - s) from an edge: best 04:15, so on the half-hour grid 04:00 and
    # 04:30 tie at 1.5 hours and the earlier wins (18:00 HST on 2 March, 09:30 IST).
    town = cal_town
    await town.network(HONOLULU, KOLKATA)
    out = await town.say("kolkata", "ravi", "/event findtime 2h all within=1d waking=09:00-17:00")
    assert "No time fits Honolulu, Kolkata" in out[-1]
    out = await town.say("kolkata", "ravi", "/event findtime 2h all within=1d")
    first = out[-1].splitlines()[1]
    assert first.startswith("1. 2026-03-03 04:00 UTC")
    assert "Honolulu: Mon, Mar 2, 6:00" in first and "Kolkata: Tue, Mar 3, 9:30" in first
    assert "at least 1 hour 30 minutes" in first
    out = await town.say("kolkata", "ravi", "/event findtime 2h Atlantis")
    assert "no circle “Atlantis”" in out[-1]

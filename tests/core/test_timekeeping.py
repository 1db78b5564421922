"""Time rules: zones, the DST policy, local display, sync days, countdowns and repeats.

Every expected instant below was worked out by hand from the published 2026 clock changes:
EU (Berlin, London) 29 Mar and 25 Oct; US/Canada (Chicago, St John's) 8 Mar and 1 Nov;
South Australia (Adelaide) ends 5 Apr, starts 4 Oct; Lord Howe uses a 30-minute shift.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.timekeeping import (
    Countdown,
    Kickoff,
    SyncDayPlan,
    countdown_instants,
    format_countdown,
    format_local,
    kickoff_instants,
    local_wall,
    normalize_rrule,
    occurrences,
    reminder_instants,
    resolve_local,
    resolve_local_explain,
    wave_order,
    zone,
    zone_label,
)

NNBSP = "\u202f"  # CLDR puts a narrow no-break space before AM/PM in English


def U(*parts: int) -> datetime:
    """An aware UTC instant."""
    return datetime(*parts, tzinfo=timezone.utc)


# --- zones ---------------------------------------------------------------------------------

def test_zone_accepts_iana_names_in_any_case():
    assert zone("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert zone("  asia/kathmandu ").key == "Asia/Kathmandu"
    assert zone("utc").key == "UTC"


@pytest.mark.parametrize("typed, suggested", [
    ("Europe/Berln", "Europe/Berlin"),
    ("New York", "America/New_York"),
    ("Gaziantep/Istanbul", "Europe/Istanbul"),
    ("America/Chicgo", "America/Chicago"),
])
def test_unknown_zone_suggests_the_closest_names(typed, suggested):
    with pytest.raises(ValueError) as err:
        zone(typed)
    assert "unknown time zone" in str(err.value)
    assert suggested in str(err.value)


@pytest.mark.parametrize("bad", ["", "   ", "../../etc/passwd", "Mars/Olympus_Mons"])
def test_nonsense_zone_is_refused(bad):
    with pytest.raises(ValueError):
        zone(bad)


# --- the DST policy ------------------------------------------------------------------------

@pytest.mark.parametrize("local, tz, expected_utc, note", [
    # spring-forward gaps: forward by the gap length
    (datetime(2026, 3, 29, 2, 30), "Europe/Berlin", U(2026, 3, 29, 1, 30), "shifted_forward"),
    (datetime(2026, 3, 8, 2, 30), "America/Chicago", U(2026, 3, 8, 8, 30), "shifted_forward"),
    (datetime(2026, 3, 8, 2, 30), "America/St_Johns", U(2026, 3, 8, 6, 0), "shifted_forward"),
    (datetime(2026, 10, 4, 2, 30), "Australia/Adelaide", U(2026, 10, 3, 17, 0), "shifted_forward"),
    # Lord Howe's gap is only 30 minutes: 02:15 becomes 02:45 (+11:00)
    (datetime(2026, 10, 4, 2, 15), "Australia/Lord_Howe", U(2026, 10, 3, 15, 45),
     "shifted_forward"),
    # Samoa skipped 30 December 2011 entirely: noon that day is noon on the 31st (+14:00)
    (datetime(2011, 12, 30, 12, 0), "Pacific/Apia", U(2011, 12, 30, 22, 0), "shifted_forward"),
    # fall-back repeats: the first occurrence, still on summer time
    (datetime(2026, 10, 25, 2, 30), "Europe/Berlin", U(2026, 10, 25, 0, 30), "ambiguous_first"),
    (datetime(2026, 11, 1, 1, 30), "America/Chicago", U(2026, 11, 1, 6, 30), "ambiguous_first"),
    (datetime(2026, 4, 5, 2, 30), "Australia/Adelaide", U(2026, 4, 4, 16, 0), "ambiguous_first"),
    (datetime(2026, 4, 5, 1, 45), "Australia/Lord_Howe", U(2026, 4, 4, 14, 45), "ambiguous_first"),
    # ordinary times, including half-hour and 45-minute offsets
    (datetime(2026, 3, 14, 10, 0), "Asia/Kolkata", U(2026, 3, 14, 4, 30), "ok"),
    (datetime(2026, 3, 14, 10, 0), "Asia/Kathmandu", U(2026, 3, 14, 4, 15), "ok"),
    (datetime(2026, 1, 10, 10, 0), "America/St_Johns", U(2026, 1, 10, 13, 30), "ok"),
    (datetime(2026, 7, 10, 10, 0), "America/St_Johns", U(2026, 7, 10, 12, 30), "ok"),
    (datetime(2026, 1, 10, 10, 0), "Australia/Adelaide", U(2026, 1, 9, 23, 30), "ok"),
    (datetime(2026, 7, 10, 10, 0), "Australia/Adelaide", U(2026, 7, 10, 0, 30), "ok"),
    (datetime(2026, 3, 29, 3, 0), "Europe/Berlin", U(2026, 3, 29, 1, 0), "ok"),
    (datetime(2026, 10, 25, 3, 0), "Europe/Berlin", U(2026, 10, 25, 2, 0), "ok"),
])
def test_resolve_local_policy(local, tz, expected_utc, note):
    resolved = resolve_local_explain(local, tz)
    assert resolved.instant_utc == expected_utc
    assert resolved.note == note
    assert resolve_local(local, tz) == expected_utc


def test_gap_time_reads_as_the_shifted_wall_time():
    instant = resolve_local(datetime(2026, 3, 29, 2, 30), "Europe/Berlin")
    assert local_wall(instant, "Europe/Berlin").replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_resolve_local_refuses_an_aware_time():
    with pytest.raises(ValueError, match="naive"):
        resolve_local(datetime(2026, 3, 1, 12, tzinfo=timezone.utc), "Europe/Berlin")


PROPERTY_ZONES = ["Europe/Berlin", "America/Chicago", "America/St_Johns", "Australia/Adelaide",
                  "Australia/Lord_Howe", "Asia/Kathmandu", "America/Sao_Paulo", "Pacific/Apia",
                  "Europe/London", "Africa/Casablanca"]


@st.composite
def _near_a_clock_change(draw):
    """A zone and a wall time within three hours of one of its clock changes."""
    tz = draw(st.sampled_from(PROPERTY_ZONES))
    z = ZoneInfo(tz)
    year = draw(st.integers(2000, 2037))
    days = [datetime(year, 1, 1, 12, tzinfo=timezone.utc) + timedelta(days=d) for d in range(366)]
    changes = [d for d, nxt in zip(days, days[1:]) if d.astimezone(z).utcoffset() !=
               nxt.astimezone(z).utcoffset()]
    if not changes:
        return draw(st.datetimes(datetime(year, 1, 1), datetime(year, 12, 31))), tz
    day = draw(st.sampled_from(changes))
    # find the changing hour, then wander around it on the wall clock
    hour = day
    while hour.astimezone(z).utcoffset() == day.astimezone(z).utcoffset():
        hour += timedelta(minutes=15)
    wall = hour.astimezone(z).replace(tzinfo=None)
    return wall + timedelta(minutes=draw(st.integers(-180, 180))), tz


@settings(max_examples=300, deadline=None)
@given(case=st.one_of(_near_a_clock_change(),
                      st.tuples(st.datetimes(min_value=datetime(1990, 1, 1),
                                             max_value=datetime(2037, 12, 31)),
                                st.sampled_from(PROPERTY_ZONES))))
@example(case=(datetime(2026, 3, 29, 2, 30), "Europe/Berlin"))
@example(case=(datetime(2026, 10, 25, 2, 30), "Europe/Berlin"))
@example(case=(datetime(2026, 10, 4, 2, 15), "Australia/Lord_Howe"))
@example(case=(datetime(2011, 12, 30, 9, 0), "Pacific/Apia"))
def test_resolve_local_keeps_the_wall_time_unless_it_falls_in_a_gap(case):
    local, tz = case
    z = ZoneInfo(tz)
    resolved = resolve_local_explain(local, tz)
    wall = resolved.instant_utc.astimezone(z).replace(tzinfo=None)
    before = local.replace(tzinfo=z, fold=0).utcoffset()
    after = local.replace(tzinfo=z, fold=1).utcoffset()
    if resolved.note == "shifted_forward":
        # forward by exactly the gap, which is the offset jump
        assert wall == local + (after - before)
        assert wall > local
    else:
        assert wall == local
    if resolved.note == "ambiguous_first":
        other = local.replace(tzinfo=z, fold=1).astimezone(timezone.utc)
        assert resolved.instant_utc < other
        assert other.astimezone(z).replace(tzinfo=None) == local
    if resolved.note == "ok":
        assert before == after


# --- showing times to people ---------------------------------------------------------------

@pytest.mark.parametrize("instant, tz, lang, expected", [
    (U(2026, 3, 14, 9, 0), "Europe/Berlin", "en", f"Sat, Mar 14, 2026, 10:00{NNBSP}AM CET"),
    (U(2026, 3, 14, 9, 0), "Europe/Berlin", "de", "Sa., 14. März 2026, 10:00 MEZ"),
    (U(2026, 3, 29, 16, 0), "Europe/Berlin", "en", f"Sun, Mar 29, 2026, 6:00{NNBSP}PM CEST"),
    (U(2026, 3, 29, 16, 0), "Europe/Berlin", "de", "So., 29. März 2026, 18:00 MESZ"),
    # Zone labels come from CLDR, which renames some between Babel releases (Babel 2.19
    # says "CDT" and "TSİ" where earlier ones said "HEC" and "GMT+03:00"): either is right.
    (U(2026, 3, 29, 16, 0), "America/Chicago", "fr",
     {"dim. 29 mars 2026, 11:00 HEC", "dim. 29 mars 2026, 11:00 CDT"}),
    (U(2026, 3, 29, 16, 0), "Asia/Kolkata", "en", f"Sun, Mar 29, 2026, 9:30{NNBSP}PM IST"),
    (U(2026, 3, 29, 16, 0), "Asia/Kathmandu", "en",
     f"Sun, Mar 29, 2026, 9:45{NNBSP}PM GMT+05:45"),
    (U(2026, 3, 29, 16, 0), "America/St_Johns", "es", "dom, 29 mar 2026, 13:30 NDT"),
    (U(2026, 3, 29, 16, 0), "Australia/Adelaide", "en", f"Mon, Mar 30, 2026, 2:30{NNBSP}AM ACDT"),
    (U(2026, 7, 1, 16, 0), "Australia/Adelaide", "en", f"Thu, Jul 2, 2026, 1:30{NNBSP}AM ACST"),
    (U(2026, 3, 29, 16, 0), "Europe/Istanbul", "tr",
     {"29 Mar 2026 Paz 19:00 GMT+03:00", "29 Mar 2026 Paz 19:00 TSİ"}),
])
def test_format_local_shows_weekday_date_time_and_zone(instant, tz, lang, expected):
    accepted = expected if isinstance(expected, set) else {expected}
    assert format_local(instant, tz, lang) in accepted


def test_format_local_styles():
    instant = U(2026, 3, 29, 16, 0)
    short = format_local(instant, "Europe/Berlin", "en", "short")
    assert short == f"Sun, Mar 29, 6:00{NNBSP}PM CEST"
    assert format_local(instant, "Europe/Berlin", "en", "long") == (
        f"Sunday, March 29, 2026, 6:00{NNBSP}PM CEST (GMT+02:00)")
    # an offset-only label is not repeated
    assert format_local(instant, "Asia/Kathmandu", "de", "long") == (
        "Sonntag, 29. März 2026, 21:45 GMT+05:45")
    with pytest.raises(ValueError):
        format_local(instant, "Europe/Berlin", "en", "huge")


def test_format_local_takes_region_tags_and_falls_back_to_english():
    instant = U(2026, 3, 29, 16, 0)
    assert format_local(instant, "Europe/Lisbon", "pt-BR").startswith("dom., 29 de mar. de 2026")
    assert format_local(instant, "Europe/Berlin", "xx-nope") == format_local(
        instant, "Europe/Berlin", "en")


def test_naive_instants_are_taken_as_utc():
    assert format_local(datetime(2026, 3, 14, 9, 0), "Europe/Berlin", "de") == (
        "Sa., 14. März 2026, 10:00 MEZ")


def test_zone_label_prefers_the_readers_own_abbreviation():
    assert zone_label(U(2026, 1, 5, 12), "Europe/Berlin", "de") == "MEZ"
    assert zone_label(U(2026, 1, 5, 12), "Europe/Berlin", "en") == "CET"
    assert zone_label(U(2026, 1, 5, 12), "Asia/Kathmandu", "fr") == "UTC+05:45"


@pytest.mark.parametrize("delta, lang, expected", [
    (timedelta(days=3, hours=4, minutes=59), "en", "3 days 4 hours"),
    (timedelta(days=1), "en", "1 day"),
    (timedelta(hours=1, minutes=30), "en", "1 hour 30 minutes"),
    (timedelta(minutes=5), "de", "5 Minuten"),
    (timedelta(days=2, hours=1), "de", "2 Tage 1 Stunde"),
    (timedelta(days=3, hours=4), "tr", "3 gün 4 saat"),
    (timedelta(days=3, hours=4), "es", "3 días 4 horas"),
    (timedelta(seconds=20), "en", "20 seconds"),
    (timedelta(seconds=-5), "en", "0 minutes"),
])
def test_format_countdown(delta, lang, expected):
    assert format_countdown(delta, lang) == expected


# --- synchronized days ---------------------------------------------------------------------

# Sunday 29 March 2026: Berlin and London change to summer time that very night.
SYNC_DAY = date(2026, 3, 29)
CIRCLES = {
    "berlin": "Europe/Berlin",        # CEST +2 from 01:00 UTC that day
    "london": "Europe/London",        # BST +1 from 01:00 UTC that day
    "chicago": "America/Chicago",     # CDT -5 since 8 March
    "lagos": "Africa/Lagos",          # +1, no DST
    "gaziantep": "Europe/Istanbul",   # +3, no DST
    "kolkata": "Asia/Kolkata",        # +5:30
    "kathmandu": "Asia/Kathmandu",    # +5:45
    "adelaide": "Australia/Adelaide",  # ACDT +10:30 until 5 April
    "st_johns": "America/St_Johns",   # NDT -2:30 since 8 March
    "sao_paulo": "America/Sao_Paulo",  # -3, no DST since 2019
    "honolulu": "Pacific/Honolulu",   # -10
    "tokyo": "Asia/Tokyo",            # +9
}


def test_same_local_hour_sync_day_across_twelve_zones():
    kickoffs = kickoff_instants("same_local_hour", SYNC_DAY, time(12, 0), CIRCLES)
    expected = {
        "berlin": U(2026, 3, 29, 10, 0),
        "london": U(2026, 3, 29, 11, 0),
        "chicago": U(2026, 3, 29, 17, 0),
        "lagos": U(2026, 3, 29, 11, 0),
        "gaziantep": U(2026, 3, 29, 9, 0),
        "kolkata": U(2026, 3, 29, 6, 30),
        "kathmandu": U(2026, 3, 29, 6, 15),
        "adelaide": U(2026, 3, 29, 1, 30),
        "st_johns": U(2026, 3, 29, 14, 30),
        "sao_paulo": U(2026, 3, 29, 15, 0),
        "honolulu": U(2026, 3, 29, 22, 0),
        "tokyo": U(2026, 3, 29, 3, 0),
    }
    assert {c: k.instant_utc for c, k in kickoffs.items()} == expected
    for circle, kick in kickoffs.items():
        assert kick.local.replace(tzinfo=None) == datetime(2026, 3, 29, 12, 0), circle
        assert kick.local_date == SYNC_DAY
        assert kick.note == "ok"
        assert kick.day_shift == 0
    # Berlin a day earlier (still winter time) would have started an hour later in UTC
    before = kickoff_instants("same_local_hour", date(2026, 3, 28), time(12),
                              {"b": "Europe/Berlin"})
    assert before["b"].instant_utc == U(2026, 3, 28, 11, 0)


def test_wave_order_follows_the_sun():
    kickoffs = kickoff_instants("same_local_hour", SYNC_DAY, time(12, 0), CIRCLES)
    order = [k.circle_id for k in wave_order(kickoffs)]
    assert order == ["adelaide", "tokyo", "kathmandu", "kolkata", "gaziantep", "berlin",
                     "lagos", "london", "st_johns", "sao_paulo", "chicago", "honolulu"]
    assert wave_order(list(kickoffs.values())) == wave_order(kickoffs)


def test_same_local_hour_inside_the_night_of_the_change_says_what_happened():
    kickoffs = kickoff_instants("same_local_hour", SYNC_DAY, time(2, 30), CIRCLES)
    berlin, london = kickoffs["berlin"], kickoffs["london"]
    # Berlin's clocks jump 02:00 -> 03:00: the kickoff moves to 03:30 CEST
    assert berlin.note == "shifted_forward"
    assert berlin.instant_utc == U(2026, 3, 29, 1, 30)
    assert berlin.local.replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)
    # London jumps 01:00 -> 02:00, so 02:30 BST exists: the same instant, no note
    assert london.note == "ok"
    assert london.instant_utc == U(2026, 3, 29, 1, 30)
    assert kickoffs["chicago"].note == "ok"


def test_same_local_hour_on_the_fall_back_night_takes_the_first_one():
    circles = {"chicago": "America/Chicago", "st_johns": "America/St_Johns"}
    kickoffs = kickoff_instants("same_local_hour", date(2026, 11, 1), time(1, 30), circles)
    assert kickoffs["chicago"].instant_utc == U(2026, 11, 1, 6, 30)
    assert kickoffs["chicago"].note == "ambiguous_first"
    assert kickoffs["st_johns"].instant_utc == U(2026, 11, 1, 4, 0)
    assert kickoffs["st_johns"].note == "ambiguous_first"


def test_same_instant_is_one_moment_shown_in_each_circles_time():
    kickoffs = kickoff_instants("same_instant", SYNC_DAY, time(16, 0), CIRCLES)
    assert {k.instant_utc for k in kickoffs.values()} == {U(2026, 3, 29, 16, 0)}
    shown = {c: format_local(k.instant_utc, k.tz, "en") for c, k in kickoffs.items()}
    assert shown["berlin"] == f"Sun, Mar 29, 2026, 6:00{NNBSP}PM CEST"
    assert shown["london"] == f"Sun, Mar 29, 2026, 5:00{NNBSP}PM BST"
    assert shown["chicago"] == f"Sun, Mar 29, 2026, 11:00{NNBSP}AM CDT"
    assert shown["kolkata"] == f"Sun, Mar 29, 2026, 9:30{NNBSP}PM IST"
    assert shown["kathmandu"] == f"Sun, Mar 29, 2026, 9:45{NNBSP}PM GMT+05:45"
    assert shown["st_johns"] == f"Sun, Mar 29, 2026, 1:30{NNBSP}PM NDT"
    assert shown["honolulu"] == f"Sun, Mar 29, 2026, 6:00{NNBSP}AM HST"
    assert shown["adelaide"] == f"Mon, Mar 30, 2026, 2:30{NNBSP}AM ACDT"
    assert kickoffs["adelaide"].day_shift == 1
    assert kickoffs["adelaide"].local_date == date(2026, 3, 30)
    assert kickoffs["tokyo"].day_shift == 1
    assert kickoffs["honolulu"].day_shift == 0


def test_same_instant_read_in_a_home_zone():
    # 19:00 in Chicago on 29 March is already Monday in Europe
    plan = SyncDayPlan("same_instant", SYNC_DAY, time(19, 0), instant_tz="America/Chicago")
    kickoffs = plan.kickoffs(CIRCLES)
    assert kickoffs["berlin"].instant_utc == U(2026, 3, 30, 0, 0)
    assert kickoffs["berlin"].local.replace(tzinfo=None) == datetime(2026, 3, 30, 2, 0)
    assert kickoffs["berlin"].day_shift == 1
    assert kickoffs["honolulu"].local.replace(tzinfo=None) == datetime(2026, 3, 29, 14, 0)
    assert kickoffs["honolulu"].day_shift == 0


def test_sync_day_plan_checks_its_mode_and_zone():
    with pytest.raises(ValueError, match="mode"):
        SyncDayPlan("whenever", SYNC_DAY, time(12))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown time zone"):
        SyncDayPlan("same_instant", SYNC_DAY, time(12), instant_tz="Berlin/Europe")
    plan = SyncDayPlan("same_local_hour", SYNC_DAY, time(12))
    assert plan.kickoffs(CIRCLES) == kickoff_instants("same_local_hour", SYNC_DAY, time(12),
                                                      CIRCLES)


def test_countdown_skips_what_is_already_past():
    kickoff = U(2026, 3, 29, 10, 0)
    assert countdown_instants(kickoff, now=U(2026, 3, 25, 0, 0)) == [
        Countdown(timedelta(days=1), U(2026, 3, 28, 10, 0)),
        Countdown(timedelta(hours=1), U(2026, 3, 29, 9, 0)),
    ]
    # a week before is 168 real hours: in Berlin that is 11:00 CET for a 12:00 CEST kickoff
    full = countdown_instants(kickoff, now=U(2026, 3, 1))
    assert [c.instant_utc for c in full] == [U(2026, 3, 22, 10), U(2026, 3, 28, 10),
                                              U(2026, 3, 29, 9)]
    assert local_wall(full[0].instant_utc, "Europe/Berlin").hour == 11
    # due right now still counts; after the kickoff nothing is left
    assert countdown_instants(kickoff, now=U(2026, 3, 29, 9, 0)) == [
        Countdown(timedelta(hours=1), U(2026, 3, 29, 9, 0))]
    assert countdown_instants(kickoff, now=U(2026, 3, 29, 10, 1)) == []
    with pytest.raises(ValueError):
        countdown_instants(kickoff, (timedelta(hours=-1),), now=U(2026, 3, 1))


def test_reminders_before_an_event():
    start = U(2026, 4, 2, 16, 0)
    assert reminder_instants(start, now=U(2026, 3, 30)) == [
        Countdown(timedelta(days=1), U(2026, 4, 1, 16, 0)),
        Countdown(timedelta(hours=1), U(2026, 4, 2, 15, 0)),
    ]
    # ten minutes before has already gone by at 15:55
    assert reminder_instants(start, (timedelta(minutes=10),), now=U(2026, 4, 2, 15, 55)) == []
    assert reminder_instants(start, (timedelta(minutes=10), timedelta(minutes=2)),
                             now=U(2026, 4, 2, 15, 55)) == [
        Countdown(timedelta(minutes=2), U(2026, 4, 2, 15, 58))]


def test_kickoff_is_a_value():
    a = Kickoff("x", "UTC", U(2026, 1, 1), U(2026, 1, 1), "ok")
    with pytest.raises(AttributeError):
        a.note = "shifted_forward"  # type: ignore[misc]


# --- repeating events ----------------------------------------------------------------------

def test_weekly_meeting_keeps_its_local_hour_across_the_change():
    # Thursdays 18:00 in Berlin; clocks change on Sunday 29 March
    got = occurrences(datetime(2026, 3, 19, 18, 0), "Europe/Berlin", "FREQ=WEEKLY",
                      U(2026, 3, 1), U(2026, 4, 10))
    assert got == [U(2026, 3, 19, 17), U(2026, 3, 26, 17), U(2026, 4, 2, 16), U(2026, 4, 9, 16)]
    assert {local_wall(g, "Europe/Berlin").hour for g in got} == {18}


def test_quarterly_meeting_keeps_its_local_hour_all_year():
    got = occurrences(datetime(2026, 1, 15, 19, 0), "America/Chicago", "FREQ=MONTHLY;INTERVAL=3",
                      U(2026, 1, 1), U(2027, 2, 1))
    assert got == [U(2026, 1, 16, 1), U(2026, 4, 16, 0), U(2026, 7, 16, 0), U(2026, 10, 16, 0),
                   U(2027, 1, 16, 1)]


def test_weekly_in_adelaide_across_the_end_of_summer_time():
    # Mondays 09:00 in Adelaide; summer time ends Sunday 5 April 2026
    got = occurrences(datetime(2026, 3, 30, 9, 0), "Australia/Adelaide", "RRULE:FREQ=WEEKLY",
                      U(2026, 3, 1), U(2026, 4, 14))
    assert got == [U(2026, 3, 29, 22, 30), U(2026, 4, 5, 23, 30), U(2026, 4, 12, 23, 30)]


def test_repeat_landing_in_the_gap_or_the_repeat_follows_the_policy():
    got = occurrences(datetime(2026, 3, 22, 2, 30), "Europe/Berlin", "FREQ=WEEKLY",
                      U(2026, 3, 20), U(2026, 4, 1))
    # 22 March 02:30 CET; 29 March 02:30 does not exist -> 03:30 CEST
    assert got == [U(2026, 3, 22, 1, 30), U(2026, 3, 29, 1, 30)]
    got = occurrences(datetime(2026, 10, 18, 2, 30), "Europe/Berlin", "FREQ=WEEKLY",
                      U(2026, 10, 1), U(2026, 11, 2))
    # 25 October 02:30 happens twice -> the first (CEST)
    assert got == [U(2026, 10, 18, 0, 30), U(2026, 10, 25, 0, 30), U(2026, 11, 1, 1, 30)]


def test_occurrence_window_is_after_inclusive_before_exclusive_and_limited():
    rule = "FREQ=DAILY"
    start = datetime(2026, 1, 1, 9, 0)
    got = occurrences(start, "Asia/Kathmandu", rule, U(2026, 1, 2, 3, 15), U(2026, 1, 4, 3, 15))
    assert got == [U(2026, 1, 2, 3, 15), U(2026, 1, 3, 3, 15)]
    assert len(occurrences(start, "Asia/Kathmandu", rule, U(2026, 1, 1), U(2027, 1, 1),
                           limit=10)) == 10
    assert occurrences(start, "Asia/Kathmandu", rule, U(2026, 2, 1), U(2026, 1, 1)) == []


def test_count_and_until_end_a_series():
    start = datetime(2026, 3, 19, 18, 0)
    counted = occurrences(start, "Europe/Berlin", "FREQ=WEEKLY;COUNT=3", U(2026, 3, 26),
                          U(2027, 1, 1))
    assert counted == [U(2026, 3, 26, 17), U(2026, 4, 2, 16)]
    # a bare UNTIL date means through that day, in the event's zone
    until_day = occurrences(start, "Europe/Berlin", "FREQ=WEEKLY;UNTIL=20260402", U(2026, 1, 1),
                            U(2027, 1, 1))
    assert until_day[-1] == U(2026, 4, 2, 16)
    until_utc = occurrences(start, "Europe/Berlin", "FREQ=WEEKLY;UNTIL=20260402T155959Z",
                            U(2026, 1, 1), U(2027, 1, 1))
    assert until_utc[-1] == U(2026, 3, 26, 17)


def test_last_friday_of_the_month():
    got = occurrences(datetime(2026, 1, 1, 17, 0), "Africa/Lagos", "FREQ=MONTHLY;BYDAY=-1FR",
                      U(2026, 1, 1), U(2026, 4, 1))
    assert got == [U(2026, 1, 30, 16), U(2026, 2, 27, 16), U(2026, 3, 27, 16)]


@pytest.mark.parametrize("rule, reason", [
    ("", "empty"),
    ("INTERVAL=2", "needs FREQ"),
    ("FREQ=HOURLY", "not supported"),
    ("FREQ=FORTNIGHTLY", "not supported"),
    ("FREQ=WEEKLY;BYHOUR=9", "BYHOUR"),
    ("FREQ=WEEKLY;INTERVAL=0", "at least 1"),
    ("FREQ=WEEKLY;COUNT=two", "at least 1"),
    ("FREQ=WEEKLY;COUNT=3;UNTIL=20261231", "COUNT and UNTIL"),
    ("FREQ=WEEKLY;UNTIL=2026-12-31", "UNTIL"),
    ("FREQ=WEEKLY;UNTIL=20261331", "real date"),
    ("FREQ=WEEKLY;BYDAY=XX", "out of range"),
    ("FREQ=YEARLY;BYMONTH=13", "out of range"),
    ("FREQ=WEEKLY;FREQ=DAILY", "twice"),
    ("FREQ=WEEKLY;BYDAY", "NAME=VALUE"),
    ("FREQ=WEEKLY\nFREQ=DAILY", "single"),
    ("FREQ=WEEKLY;BYDAY=2MO", "MONTHLY or YEARLY"),
    ("FREQ=MONTHLY;BYDAY=6FR", "five"),
    ("FREQ=WEEKLY;BYSETPOS=8;BYDAY=MO", "BYSETPOS"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never happens"),
    ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "never happens"),
])
def test_bad_repeat_rules_are_refused_with_a_reason(rule, reason):
    with pytest.raises(ValueError, match=reason):
        occurrences(datetime(2026, 1, 5, 18, 0), "Europe/Berlin", rule, U(2026, 1, 1),
                    U(2026, 6, 1))


def test_normalize_rrule_writes_until_in_utc():
    assert normalize_rrule("freq=weekly;byday=th;until=20261231", "Europe/Berlin") == (
        "FREQ=WEEKLY;BYDAY=TH;UNTIL=20261231T225959Z")
    assert normalize_rrule("INTERVAL=3;FREQ=MONTHLY", "America/Chicago") == (
        "FREQ=MONTHLY;INTERVAL=3")
    with pytest.raises(ValueError, match="never happens"):
        normalize_rrule("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=31", "UTC", datetime(2026, 1, 1))


def test_occurrences_want_a_wall_clock_start():
    with pytest.raises(ValueError, match="wall-clock"):
        occurrences(U(2026, 1, 1), "Europe/Berlin", "FREQ=DAILY", U(2026, 1, 1), U(2026, 2, 1))

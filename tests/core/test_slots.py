"""Finding a meeting time: worked examples computed by hand, and properties for any zones.

Waking hours are 08:00-22:00 unless a test says otherwise. Each hand computation turns every
zone's waking hours into a UTC span for the day and intersects them.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.slots import Slot, find_slots

H = timedelta(hours=1)
M = timedelta(minutes=1)


def U(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


CHICAGO_LAGOS_GAZIANTEP = ["America/Chicago", "Africa/Lagos", "Europe/Istanbul"]


def test_chicago_lagos_gaziantep_in_june():
    # June: Chicago CDT -5 -> awake 13:00-03:00 UTC; Lagos +1 -> 07:00-21:00 UTC;
    # Gaziantep (Europe/Istanbul) +3 -> 05:00-19:00 UTC. Together: 13:00-19:00 UTC.
    # A 1h meeting at s is min(s - 13:00, 18:00 - s) from the nearest edge: best at 15:30.
    slots = find_slots(CHICAGO_LAGOS_GAZIANTEP, H, U(2026, 6, 10), U(2026, 6, 11))
    assert [(s.start_utc, s.score) for s in slots] == [
        (U(2026, 6, 10, 15, 30), 150 * M),
        (U(2026, 6, 10, 14, 30), 90 * M),   # 15:00 and 16:00 overlap the first proposal
        (U(2026, 6, 10, 16, 30), 90 * M),
        (U(2026, 6, 10, 13, 30), 30 * M),
        (U(2026, 6, 10, 17, 30), 30 * M),
    ]
    best = slots[0]
    assert best.end_utc == U(2026, 6, 10, 16, 30)
    assert {tz: t.strftime("%H:%M") for tz, t in best.local_starts.items()} == {
        "America/Chicago": "10:30", "Africa/Lagos": "16:30", "Europe/Istanbul": "18:30"}
    assert best.local_ends["Europe/Istanbul"].strftime("%H:%M") == "19:30"


def test_chicago_lagos_gaziantep_in_january_moves_with_chicagos_clock():
    # January: Chicago CST -6 -> awake 14:00-04:00 UTC; together 14:00-19:00 UTC; best 16:00.
    slots = find_slots(CHICAGO_LAGOS_GAZIANTEP, H, U(2026, 1, 14), U(2026, 1, 15), limit=1)
    assert [(s.start_utc, s.score) for s in slots] == [(U(2026, 1, 14, 16, 0), 2 * H)]
    assert slots[0].local_starts["America/Chicago"].hour == 10


def test_overlapping_proposals_when_asked():
    slots = find_slots(CHICAGO_LAGOS_GAZIANTEP, H, U(2026, 6, 10), U(2026, 6, 11), limit=3,
                       allow_overlap=True)
    assert [s.start_utc for s in slots] == [U(2026, 6, 10, 15, 30), U(2026, 6, 10, 15, 0),
                                            U(2026, 6, 10, 16, 0)]


def test_several_days_offer_the_best_time_of_each_day_first():
    slots = find_slots(CHICAGO_LAGOS_GAZIANTEP, H, U(2026, 6, 10), U(2026, 6, 13), limit=3)
    assert [s.start_utc for s in slots] == [U(2026, 6, 10, 15, 30), U(2026, 6, 11, 15, 30),
                                            U(2026, 6, 12, 15, 30)]


def test_honolulu_kolkata_london_has_room_only_for_a_short_meeting_in_summer():
    # July: Honolulu -10 awake 18:00-08:00 UTC; Kolkata +5:30 awake 02:30-16:30 UTC;
    # London BST +1 awake 07:00-21:00 UTC. Together: exactly 07:00-08:00 UTC.
    zones = ["Pacific/Honolulu", "Asia/Kolkata", "Europe/London"]
    slots = find_slots(zones, H, U(2026, 7, 1), U(2026, 7, 2))
    assert len(slots) == 1
    only = slots[0]
    assert (only.start_utc, only.end_utc, only.score) == (U(2026, 7, 1, 7), U(2026, 7, 1, 8),
                                                        timedelta(0))
    assert only.local_starts["Pacific/Honolulu"].replace(tzinfo=None) == datetime(2026, 6, 30, 21)
    assert only.local_starts["Asia/Kolkata"].replace(tzinfo=None) == datetime(2026, 7, 1, 12, 30)
    assert only.local_starts["Europe/London"].replace(tzinfo=None) == datetime(2026, 7, 1, 8)
    # longer meetings do not fit at all
    assert find_slots(zones, 90 * M, U(2026, 7, 1), U(2026, 7, 8)) == []
    # in winter London is awake 08:00-22:00 UTC and the three never overlap
    assert find_slots(zones, 30 * M, U(2026, 1, 12), U(2026, 1, 19)) == []


def test_half_hour_and_45_minute_zones():
    # June: St John's NDT -2:30 awake 10:30-00:30 UTC; Kolkata 02:30-16:30; Kathmandu +5:45
    # 02:15-16:15. Together 10:30-16:15; a 1h meeting scores min(s - 10:30, 15:15 - s).
    zones = ["America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu"]
    on_half_hours = find_slots(zones, H, U(2026, 6, 10), U(2026, 6, 11), limit=1)
    assert [(s.start_utc, s.score) for s in on_half_hours] == [(U(2026, 6, 10, 13, 0), 135 * M)]
    on_quarters = find_slots(zones, H, U(2026, 6, 10), U(2026, 6, 11), step=15 * M, limit=1)
    # 12:45 and 13:00 both score 2h15; the earlier wins
    assert [(s.start_utc, s.score) for s in on_quarters] == [(U(2026, 6, 10, 12, 45), 135 * M)]
    assert on_quarters[0].local_starts["Asia/Kathmandu"].strftime("%H:%M") == "18:30"


def test_a_meeting_may_not_run_past_midnight():
    # awake 20:00-24:00 in UTC: a 3h meeting can start at 20:00, 20:30 or 21:00 only
    slots = find_slots(["UTC"], 3 * H, U(2026, 5, 1), U(2026, 5, 3), waking=(time(20), time(0)),
                       allow_overlap=True, limit=10)
    assert sorted(s.start_utc for s in slots) == [
        U(2026, 5, 1, 20), U(2026, 5, 1, 20, 30), U(2026, 5, 1, 21),
        U(2026, 5, 2, 20), U(2026, 5, 2, 20, 30), U(2026, 5, 2, 21)]
    assert slots[0].start_utc == U(2026, 5, 1, 20, 30)
    assert slots[0].score == 30 * M


def test_the_short_night_of_spring_forward_is_short():
    # Berlin 29 March 2026, awake 01:00-04:00 on the wall clock: 01:00 CET is 00:00 UTC and
    # 04:00 CEST is 02:00 UTC, so only two real hours.
    night = (time(1), time(4))
    slots = find_slots(["Europe/Berlin"], 2 * H, U(2026, 3, 28, 12), U(2026, 3, 29, 12),
                       waking=night)
    assert [(s.start_utc, s.score) for s in slots] == [(U(2026, 3, 29, 0), timedelta(0))]
    assert find_slots(["Europe/Berlin"], 150 * M, U(2026, 3, 28, 12), U(2026, 3, 29, 12),
                      waking=night) == []


def test_the_long_night_of_fall_back_is_long():
    # Berlin 25 October 2026: 01:00 CEST is 23:00 UTC the day before, 04:00 CET is 03:00 UTC
    night = (time(1), time(4))
    slots = find_slots(["Europe/Berlin"], 210 * M, U(2026, 10, 24, 12), U(2026, 10, 25, 12),
                       waking=night)
    assert [s.start_utc for s in slots] == [U(2026, 10, 24, 23, 0)]


def test_london_new_york_on_the_day_london_changes():
    # 29 March: London BST awake 07:00-21:00 UTC, New York EDT 12:00-02:00 UTC -> best 16:00;
    # a week earlier London was on GMT (08:00-22:00 UTC) -> best 16:30.
    zones = ["Europe/London", "America/New_York"]
    assert find_slots(zones, H, U(2026, 3, 29), U(2026, 3, 30), limit=1)[0].start_utc == (
        U(2026, 3, 29, 16, 0))
    assert find_slots(zones, H, U(2026, 3, 22), U(2026, 3, 23), limit=1)[0].start_utc == (
        U(2026, 3, 22, 16, 30))


def test_bad_requests_are_refused():
    window = (U(2026, 1, 1), U(2026, 1, 2))
    with pytest.raises(ValueError, match="duration"):
        find_slots(["UTC"], timedelta(0), *window)
    with pytest.raises(ValueError, match="unknown time zone"):
        find_slots(["Europe/Berln"], H, *window)
    with pytest.raises(ValueError, match="waking"):
        find_slots(["UTC"], H, *window, waking=(time(22), time(8)))
    with pytest.raises(ValueError, match="zone"):
        find_slots([], H, *window)
    with pytest.raises(ValueError, match="too long"):
        find_slots(["UTC"], H, U(2026, 1, 1), U(2030, 1, 1), step=M)


def test_window_edges_are_respected():
    # a window that closes before the shared waking hours leaves nothing
    assert find_slots(CHICAGO_LAGOS_GAZIANTEP, H, U(2026, 6, 10, 0), U(2026, 6, 10, 13, 59)) == []
    slots = find_slots(CHICAGO_LAGOS_GAZIANTEP, H, U(2026, 6, 10, 16, 10), U(2026, 6, 10, 18, 0))
    assert slots[0].start_utc == U(2026, 6, 10, 16, 30)  # first grid point after 16:10
    assert all(s.end_utc <= U(2026, 6, 10, 18) for s in slots)


ZONES = ["Europe/Berlin", "America/Chicago", "Africa/Lagos", "Europe/Istanbul", "Asia/Kolkata",
         "Asia/Kathmandu", "Australia/Adelaide", "America/St_Johns", "Pacific/Honolulu",
         "America/Sao_Paulo", "Asia/Tokyo", "Europe/London"]


@settings(max_examples=40, deadline=None)
@given(zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=4, unique=True),
       minutes=st.integers(15, 240),
       start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 1)),
       days=st.integers(1, 3))
def test_every_proposal_is_inside_everyones_waking_hours(zones, minutes, start, days):
    begin = start.replace(tzinfo=timezone.utc)
    duration = timedelta(minutes=minutes)
    slots = find_slots(zones, duration, begin, begin + timedelta(days=days), limit=5)
    for slot in slots:
        assert isinstance(slot, Slot)
        assert begin <= slot.start_utc and slot.end_utc == slot.start_utc + duration
        for tz in zones:
            s, e = slot.local_starts[tz], slot.local_ends[tz]
            assert s.date() == e.date(), "meeting crosses midnight"
            assert time(8) <= s.time() and e.time() <= time(22)
            assert e.time() >= s.time()
    scores = [s.score for s in slots]
    assert scores == sorted(scores, reverse=True)
    ordered = sorted(slots, key=lambda s: s.start_utc)
    assert all(a.end_utc <= b.start_utc for a, b in zip(ordered, ordered[1:]))

"""Pure relay rules: starting, deadlines, reminders in local time, reordering, limits."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core import relay as rules
from core.relay_audio import audio_duration
from core.timekeeping import local_wall
from tests.relay.media import ogg_opus, wav

UTC = timezone.utc


def test_start_reads_title_circles_and_leg():
    req = rules.parse_start("Rent strikes in winter Chicago,Gaziantep,New_York 48h")
    assert req == rules.StartRequest("Rent strikes in winter", ["Chicago", "Gaziantep", "New York"],
                                     timedelta(hours=48))
    assert rules.parse_start('"Wages" 1,2 leg=3d').leg == timedelta(days=3)
    assert rules.parse_start("Wages 1,2").leg == rules.DEFAULT_LEG


@pytest.mark.parametrize("words, key", [
    ("Wages Chicago", "relay.start_needs_circles"),
    ("Chicago,Lagos", "relay.start_needs_title"),
    ("Wages Chicago,Lagos 31d", "relay.bad_leg"),
    ("", "relay.start_needs_circles"),
])
def test_start_explains_what_is_missing(words, key):
    with pytest.raises(rules.RelayRuleError) as err:
        rules.parse_start(words)
    assert err.value.key == key


def test_at_the_deadline_report_is_handed_off_else_extended_once_then_skipped():
    assert rules.deadline_decision(True, 0) == "handoff"
    assert rules.deadline_decision(True, 1) == "handoff"
    assert rules.deadline_decision(False, 0) == "extend"
    assert rules.deadline_decision(False, 1) == "skip"
    assert rules.auto_extension(timedelta(hours=72)) == timedelta(hours=36)
    assert rules.auto_extension(timedelta(hours=6)) == timedelta(hours=24)


def test_reminders_never_wake_a_circle_at_night():
    # A deadline at 02:00 in Istanbul: 24 h before is also 02:00, 3 h before is 23:00;
    # both move to 20:00 of the evening before, in Istanbul's time.
    tz = "Europe/Istanbul"
    deadline = datetime(2026, 3, 12, 23, 0, tzinfo=UTC)  # 02:00 on the 13th in Istanbul
    opened = deadline - timedelta(hours=72)
    got = rules.reminder_instants(opened, deadline, tz, now=opened)
    walls = [local_wall(t, tz).strftime("%d %H:%M") for t in got]
    assert walls == ["11 20:00", "12 20:00"]


def test_reminders_in_the_day_stay_put_and_past_ones_are_dropped():
    tz = "America/Chicago"
    deadline = datetime(2026, 7, 1, 20, 0, tzinfo=UTC)  # 15:00 in Chicago
    opened = deadline - timedelta(hours=72)
    assert rules.reminder_instants(opened, deadline, tz, now=opened) == [
        deadline - timedelta(hours=24), deadline - timedelta(hours=3)]
    late = deadline - timedelta(hours=10)
    assert rules.reminder_instants(opened, deadline, tz, now=late) == [deadline - timedelta(hours=3)]


def test_reorder_must_name_each_waiting_circle_once():
    assert rules.reorder_remaining([3, 4, 5], [5, 3, 4]) == [5, 3, 4]
    for wrong in ([5, 3], [5, 3, 3], [5, 3, 4, 6]):
        with pytest.raises(rules.RelayRuleError):
            rules.reorder_remaining([3, 4, 5], wrong)


def test_media_limits_say_what_was_too_much():
    assert rules.check_media(1000, 60.0, 2_000_000, 900) is None
    big = rules.check_media(30 * 1048576, None, 20 * 1048576, 900)
    assert (big.key, big.params) == ("relay.too_large", {"size_mb": "30.0", "max_mb": "20"})
    long = rules.check_media(1000, 1200.0, 2_000_000, 900)
    assert (long.key, long.params["minutes"]) == ("relay.too_long", "20.0")


def test_audio_length_is_read_from_ogg_and_wav_headers():
    assert audio_duration(ogg_opus(12.5)) == pytest.approx(12.5)
    assert audio_duration(wav(2.0)) == pytest.approx(2.0)
    assert audio_duration(b"not audio at all") is None
    assert rules.format_duration(65.4) == "1:05" and rules.format_duration(None) == ""
    assert rules.part_kind("file", "audio/mpeg") == "audio"
    assert rules.part_kind("voice", "audio/ogg") == "voice"
    assert rules.part_kind("file", "application/pdf") == "file"

"""Refused time zones and repeat rules carry a catalog key, so the reason reaches a circle in
its own language instead of as the English text of an exception."""
from __future__ import annotations

import re
from datetime import datetime

import pytest

from core import i18n
from core.timekeeping import TimeProblem, normalize_rrule, zone

LANGS = ("en", "es", "fr", "pt", "de", "tr", "uk", "ar")
ARABIC = re.compile(r"[\u0600-\u06FF]{2,}")
# Latin words a reason may show in any language: rule names and values people type.
_CODE_WORDS = re.compile(r"\b[A-Z][A-Z0-9]*\b|\w+=\S*")

BAD_RULES = [
    ("", "calendar.rule.empty"),
    ("INTERVAL=2", "calendar.rule.no_freq"),
    ("FREQ=HOURLY", "calendar.rule.freq"),
    ("FREQ=WEEKLY;BYHOUR=9", "calendar.rule.unsupported"),
    ("FREQ=WEEKLY;INTERVAL=0", "calendar.rule.whole_number"),
    ("FREQ=WEEKLY;COUNT=3;UNTIL=20261231", "calendar.rule.count_and_until"),
    ("FREQ=WEEKLY;UNTIL=2026-12-31", "calendar.rule.until_format"),
    ("FREQ=WEEKLY;UNTIL=20261331", "calendar.rule.until_invalid"),
    ("FREQ=WEEKLY;BYDAY=XX", "calendar.rule.out_of_range"),
    ("FREQ=WEEKLY;WKST=XX", "calendar.rule.wkst"),
    ("FREQ=WEEKLY;FREQ=DAILY", "calendar.rule.twice"),
    ("FREQ=WEEKLY;BYDAY", "calendar.rule.not_pair"),
    ("FREQ=WEEKLY\nFREQ=DAILY", "calendar.rule.one_line"),
    ("FREQ=WEEKLY;BYDAY=2MO", "calendar.rule.nth_weekday"),
    ("FREQ=MONTHLY;BYDAY=6FR", "calendar.rule.five_weekdays"),
    ("FREQ=WEEKLY;BYSETPOS=8;BYDAY=MO", "calendar.rule.setpos"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "calendar.rule.never"),
]


def _refusal(rule: str) -> TimeProblem:
    with pytest.raises(TimeProblem) as refused:
        normalize_rrule(rule, "Europe/Berlin", datetime(2026, 1, 5, 18, 0))
    return refused.value


@pytest.mark.parametrize("rule, key", BAD_RULES)
def test_each_bad_rule_names_its_reason_for_the_catalogs(rule, key):
    err = _refusal(rule)
    assert err.key == key
    for lang in LANGS:
        message = i18n.messages(lang)[key]  # every language has it (no English fallback)
        assert i18n.placeholders(message) <= set(err.params), (lang, key)
    said = i18n.t("ar", key, **err.params)
    assert ARABIC.search(said)
    # Nothing of the English explanation: only rule names and values stay in Latin letters.
    assert not re.findall(r"[a-z]{2,}", _CODE_WORDS.sub(" ", said)), said


def test_the_english_explanation_stays_for_logs():
    err = _refusal("FREQ=SOMETIMES")
    assert "FREQ=SOMETIMES is not supported" in str(err)
    assert isinstance(err, ValueError)  # callers that only need "refused" still catch it


def test_an_unknown_zone_is_refused_with_a_zone_to_try():
    with pytest.raises(TimeProblem) as refused:
        zone("Mars/Olympus")
    assert refused.value.key == "args.bad_zone"
    assert refused.value.params == {"value": "Mars/Olympus", "suggestion": "Europe/Berlin"}
    with pytest.raises(TimeProblem) as typo:
        zone("Europe/Berln")
    assert typo.value.params["suggestion"] == "Europe/Berlin"
    said = i18n.t("uk", typo.value.key, **typo.value.params)
    assert "Europe/Berln" in said and "unknown" not in said

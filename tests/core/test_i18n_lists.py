"""Lists in a sentence with the reader's separators, and reasons said in the reader's language."""
from __future__ import annotations

from core import i18n
from core.i18n import Phrase


def test_lists_use_the_readers_comma():
    assert i18n.join_list(["Egypt", "Ukraine", "Spain"], "en") == "Egypt, Ukraine, Spain"
    assert i18n.join_list(["مصر", "أوكرانيا"], "ar") == "مصر، أوكرانيا"
    assert i18n.join_list(["a", "b"], "ar-EG") == "a، b"
    assert i18n.join_list(["a; b", "c"], "es", strong=True) == "a; b; c"
    assert i18n.join_list(["أ", "ب"], "ar", strong=True) == "أ؛ ب"
    assert i18n.join_list([1, 2], "uk") == "1, 2"
    assert i18n.join_list([], "ar") == ""
    assert i18n.join_list((x for x in "ab"), "fr") == "a, b"  # any iterable


def test_a_phrase_is_said_in_the_language_of_its_sentence():
    reason = Phrase.of("calendar.rule.freq", value="SOMETIMES")
    for lang in ("ar", "uk", "es"):
        said = i18n.t(lang, "calendar.bad_rule", reason=reason)
        assert i18n.t(lang, "calendar.rule.freq", value="SOMETIMES") in said
        assert "not supported" not in said
    assert "is not supported" in i18n.t("en", "calendar.bad_rule", reason=reason)
    assert str(reason) == reason.render("en")

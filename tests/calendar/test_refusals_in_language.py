"""Refusals in a non-English circle give their reason in the circle's language: a time zone
nobody knows, a repeat rule the calendar cannot keep, waking hours written backwards. Lists
in replies use the reader's separators (Arabic writes "،")."""
from __future__ import annotations

from datetime import timedelta

from core import i18n, markup
from core.timekeeping import format_countdown

CAIRO = ("cairo", "Cairo", "EG", "Africa/Cairo", "ar")
KHARKIV = ("kharkiv", "Kharkiv", "UA", "Europe/Kyiv", "uk")
MADRID = ("madrid", "Madrid", "ES", "Europe/Madrid", "es")
# What these refusals said before their reasons had catalog keys.
ENGLISH = ("unknown time zone", "use an IANA name", "not supported", "waking hours must")


def plain(lang: str, key: str, **params) -> str:
    return markup.to_plain(i18n.t(lang, key, **params)).replace(markup.RLM, "")


async def reply(town, chat: str, text: str) -> str:
    out = await town.say(chat, f"{chat}_coord", text)
    return out[-1].replace(markup.RLM, "")


def no_english(text: str) -> bool:
    return not any(e in text for e in ENGLISH)


async def test_a_repeat_rule_is_refused_with_its_reason_in_arabic(cal_town):
    await cal_town.network(CAIRO, KHARKIV)
    said = await reply(cal_town, "cairo", "/event add اجتماع tomorrow 18:00 repeat=FREQ=SOMETIMES")
    assert said == plain("ar", "calendar.bad_rule",
                         reason=i18n.t("ar", "calendar.rule.freq", value="SOMETIMES"))
    assert no_english(said)
    said = await reply(cal_town, "kharkiv", "/event add Збори tomorrow 18:00 repeat=FREQ=WEEKLY;BYDAY=2MO")
    assert plain("uk", "calendar.rule.nth_weekday", item="2MO") in said and no_english(said)


async def test_an_unknown_time_zone_is_refused_in_the_circles_language(cal_town):
    await cal_town.network(CAIRO, KHARKIV)
    said = await reply(cal_town, "cairo", "/event add اجتماع tomorrow 18:00 tz=Mars/Olympus")
    assert said == plain("ar", "args.bad_zone", value="Mars/Olympus", suggestion="Europe/Berlin")
    said = await reply(cal_town, "kharkiv",
                       "/syncday declare Glovo +3d 12:00 same_instant tz=Europe/Kyyiv")
    # A near miss suggests the real zone, in Ukrainian words.
    assert said == plain("uk", "args.bad_zone", value="Europe/Kyyiv", suggestion="Europe/Kyiv")
    assert no_english(said)


async def test_backwards_waking_hours_are_explained_in_the_circles_language(cal_town):
    await cal_town.network(KHARKIV, CAIRO)
    said = await reply(cal_town, "kharkiv", "/event findtime 1h all waking=22:00-08:00")
    assert said == plain("uk", "calendar.findtime_problem",
                         reason=i18n.t("uk", "calendar.waking_backwards"))
    assert no_english(said)


async def test_arabic_lists_are_joined_with_the_arabic_comma(cal_town):
    await cal_town.network(CAIRO, MADRID)
    said = await reply(cal_town, "cairo", "/event add اجتماع tomorrow 18:00")
    day, hour = format_countdown(timedelta(days=1), "ar"), format_countdown(timedelta(hours=1), "ar")
    assert f"{day}، {hour}" in said and f"{day}, {hour}" not in said
    said = await reply(cal_town, "cairo", "/event findtime 1h Cairo Madrid within=3d")
    assert "Cairo، Madrid" in said and "Cairo, Madrid" not in said
    said = await reply(cal_town, "madrid", "/event findtime 1h Cairo Madrid within=3d")
    assert "Cairo, Madrid" in said

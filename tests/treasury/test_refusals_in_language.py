"""The treasury in Arabic, Ukrainian and Spanish circles: why an amount was refused, why a
total cannot be drawn, and how late a ballot closed are said in the circle's language, not
as the English text of an exception or Python's "1 day, 0:00:00"."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core import i18n, markup
from core.clock import utc
from core.storage import unit_of_work
from core.storage.treasury import TreasuryBallot
from core.timekeeping import format_countdown, local_wall
from tests.treasury.conftest import start_town

CAIRO = ("cairo", "Cairo", "EG", "Africa/Cairo", "ar")
KHARKIV = ("kharkiv", "Kharkiv", "UA", "Europe/Kyiv", "uk")
MADRID = ("madrid", "Madrid", "ES", "Europe/Madrid", "es")
# What these replies said before their reasons had catalog keys.
ENGLISH = ("not an amount", "has 2 decimal", "rate on or before", "day,", ":00:00")


def plain(lang: str, key: str, **params) -> str:
    return markup.to_plain(i18n.t(lang, key, **params)).replace(markup.RLM, "")


async def reply(town, chat: str, user: str, text: str) -> str:
    out = await town.say(chat, user, text)
    return out[-1].replace(markup.RLM, "")


def no_english(text: str) -> bool:
    return not any(e in text for e in ENGLISH)


async def test_a_refused_amount_gives_its_reason_in_the_circles_language(ttown):
    await ttown.network(CAIRO, KHARKIV)
    said = await reply(ttown, "cairo", "cairo_coord", "/treasury contribute عشرة EUR")
    assert said == plain("ar", "treasury.bad_amount", value="عشرة EUR",
                         reason=i18n.t("ar", "money.bad_amount"))
    said = await reply(ttown, "kharkiv", "kharkiv_coord", "/treasury contribute 12.345 EUR")
    assert said == plain("uk", "treasury.bad_amount", value="12.345 EUR",
                         reason=i18n.t("uk", "money.too_many_decimals", currency="EUR", digits=2))
    said = await reply(ttown, "kharkiv", "kharkiv_coord", "/treasury contribute 5 XYZ")
    assert plain("uk", "money.unknown_currency", currency="XYZ") in said
    assert no_english(said)


async def test_a_total_without_a_rate_says_why_in_spanish(ttown):
    await ttown.network(MADRID, CAIRO)
    await ttown.say("madrid", "madrid_coord", "/treasury contribute 60 EUR")
    await ttown.say("madrid", "madrid_coord", "/treasury confirm 1")  # Madrid holds the stewardship
    said = await reply(ttown, "madrid", "madrid_coord", "/treasury balance USD")
    today = local_wall(ttown.clock.now(), "Europe/Madrid").date().isoformat()
    assert plain("es", "treasury.no_rate", reason=i18n.t(
        "es", "money.no_rate", base="EUR", quote="USD", date=today)) in said
    assert no_english(said)


async def test_a_ballot_closed_late_says_how_late_in_words_of_the_circle(tmp_path, sqlite_url,
                                                                         clock):
    town = await start_town(tmp_path, sqlite_url, clock)
    await town.network(CAIRO, MADRID)
    await town.say("cairo", "cairo_coord", "/treasury draw 300 EUR strike high 4 إضراب الميناء")
    await town.stop()
    clock.advance(timedelta(days=3, hours=5))  # the bot was down past the deadline (48 h)
    town = await start_town(tmp_path, sqlite_url, clock)
    try:
        await town.wait(timedelta(0))
        with unit_of_work(town.app.services.engine) as s:
            closes_at = s.exec(select(TreasuryBallot.closes_at)).one()
        late = clock.now() - utc(closes_at)
        assert late > timedelta(days=1)
        told = [t.replace(markup.RLM, "") for t in town.direct_to("cairo_coord")]
        expected = plain("ar", "treasury.closed_late", number=1, late=format_countdown(late, "ar"))
        assert expected in told, told
        assert all(no_english(t) for t in told)
    finally:
        await town.stop()

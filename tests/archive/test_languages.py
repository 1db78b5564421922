"""The archive in each circle's language: wage periods, countries, dates, kinds and languages
read the way a Ukrainian, an Arabic-speaking or a Spanish-speaking circle writes them."""
from __future__ import annotations

import re

from tests.archive.conftest import BERLIN

KYIV = ("kyiv", "Kyiv", "UA", "Europe/Kyiv", "uk")
BEIRUT = ("beirut", "Beirut", "LB", "Asia/Beirut", "ar")
MADRID = ("madrid", "Madrid", "ES", "Europe/Madrid", "es")

NBSP, NNBSP = "\u00a0", "\u202f"  # CLDR's no-break spaces (in amounts and dates)

# What each circle must read, and the English words and codes it must not.
EXPECTED = {
    "kyiv": ["за годину", "за місяць", "Німеччина", f"1 жовт. 2026{NNBSP}р."],
    "beirut": ["في الساعة", "في الشهر", "ألمانيا"],
    "madrid": ["por hora", "por mes", "Alemania", "1 oct 2026"],
}
ENGLISH = re.compile(r"\b(?:per|hour|month)\b|\((?:DE|UA|ES)\)|2026-10-01")


async def _wages(town):
    await town.network(BERLIN, KYIV, BEIRUT, MADRID)
    await town.say("berlin", "anna", "/archive wage 14.50 EUR hour warehouse picker "
                   "place=Berlin date=2026-10-01 visibility=network")
    await town.say("kyiv", "olena", "/archive wage 15000 UAH month warehouse picker "
                   "place=Kyiv date=2026-10-01 visibility=network")


async def test_the_wage_comparison_reads_in_each_circles_language(town):
    await _wages(town)
    for chat, words in EXPECTED.items():
        text = (await town.say(chat, f"{chat}_coord", "/archive wages picker"))[-1]
        for word in words:
            assert word in text, (chat, word, text)
        assert not ENGLISH.search(text), (chat, text)
    # Hours come before months, whatever the words are in the reader's language.
    kyiv = town.last("kyiv")
    assert kyiv.index("за годину") < kyiv.index("за місяць")


async def test_an_entry_names_its_language_country_and_kind_in_the_readers_words(town):
    await _wages(town)
    show = {chat: (await town.say(chat, f"{chat}_coord", "/archive show 1"))[-1]
            for chat in ("kyiv", "beirut", "madrid")}
    # Berlin's entry is written in German: its wage text too ("pro Stunde").
    assert f"14,50{NBSP}EUR pro Stunde · warehouse picker · Berlin" in show["madrid"]
    assert "modelo alemán → español" in show["madrid"]  # no German-Spanish model here
    assert "idioma alemán" in show["madrid"] and "salarios" in show["madrid"]
    assert "модель німецька → українська" in show["kyiv"] and "мова: німецька" in show["kyiv"]
    assert "зарплати" in show["kyiv"]
    assert "الألمانية → العربية" in show["beirut"] and "أجور" in show["beirut"]
    for text in show.values():
        assert not re.search(r"\bde\b|→ ?(?:uk|ar|es)\b|\bwages\b", text), text


async def test_actor_kinds_and_countries_in_the_cross_reference(town):
    await town.network(BERLIN, KYIV, MADRID)
    await town.say("berlin", "anna", "/archive add testimony +[Amazon] Lohn visibility=network")
    await town.say("kyiv", "olena", "/archive add testimony +[Amazon] зарплата visibility=network")
    kyiv = (await town.say("kyiv", "olena", "/archive crossref"))[-1]
    assert "Amazon (компанія) — Німеччина, Україна — Berlin, Kyiv" in kyiv
    madrid = (await town.say("madrid", "madrid_coord", "/archive actors"))[-1]
    assert "Amazon · empresa" in madrid and "company" not in madrid

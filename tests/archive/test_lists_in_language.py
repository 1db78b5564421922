"""Lists inside archive replies use the reader's separators: an Arabic-speaking circle reads
countries and circles of the cross-reference joined with "،", not with ","."""
from __future__ import annotations

from core import i18n, markup
from tests.archive.conftest import BERLIN

KYIV = ("kyiv", "Kyiv", "UA", "Europe/Kyiv", "uk")
BEIRUT = ("beirut", "Beirut", "LB", "Asia/Beirut", "ar")


async def test_the_cross_reference_lists_countries_and_circles_with_the_arabic_comma(town):
    await town.network(BERLIN, KYIV, BEIRUT)
    await town.say("berlin", "anna", "/archive add testimony +[Amazon] Lohn visibility=network")
    await town.say("kyiv", "olena", "/archive add testimony +[Amazon] зарплата visibility=network")
    beirut = (await town.say("beirut", "beirut_coord", "/archive crossref"))[-1]
    beirut = beirut.replace(markup.RLM, "")
    countries = sorted(i18n.country_name(c, "ar") for c in ("DE", "UA"))
    assert "، ".join(countries) in beirut and ", ".join(countries) not in beirut
    assert "Berlin، Kyiv" in beirut and "Berlin, Kyiv" not in beirut
    kyiv = (await town.say("kyiv", "olena", "/archive crossref"))[-1]
    assert "Німеччина, Україна — Berlin, Kyiv" in kyiv  # a comma where Ukrainian writes one

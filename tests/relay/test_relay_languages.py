"""Relays name languages the way each circle says them: a Ukrainian circle reads
«англійська», an Arabic one «الإنجليزية», a Spanish one «inglés», never "en"; numbers are
written the circle's way too."""
from __future__ import annotations

import re

from core.messages import Attachment
from tests.relay.conftest import CHICAGO, install, messages

KYIV = ("kyiv", "Kyiv", "UA", "Europe/Kyiv", "uk")
BEIRUT = ("beirut", "Beirut", "LB", "Asia/Beirut", "ar")
MADRID = ("madrid", "Madrid", "ES", "Europe/Madrid", "es")

# The languages' names as each circle writes them.
NAMES = {
    "kyiv": {"en": "англійська", "self": "українська", "es": "іспанська"},
    "beirut": {"en": "الإنجليزية", "self": "العربية", "es": "الإسبانية"},
    "madrid": {"en": "inglés", "self": "español", "es": "español"},
}
_CODE_IN_PARENS = re.compile(r"\((?:en|uk|ar|es)\)|(?:en|uk|ar|es) →|→ (?:en|uk|ar|es)\b")


def _no_codes(text: str) -> None:
    assert not _CODE_IN_PARENS.search(text), text


async def test_the_whole_chain_names_languages_in_each_circles_language(town, tiny_models):
    install(tiny_models, ("en", "es"))  # Madrid gets a machine translation; Kyiv and Beirut
    await town.network(CHICAGO, KYIV, BEIRUT, MADRID)  # have no model for English
    await town.say("chicago", "chicago_coord", "/relay start Docks chicago,kyiv,beirut,madrid 24h")
    for chat in ("kyiv", "beirut", "madrid"):
        await town.say(chat, f"{chat}_coord", "/relay accept")
    await town.say("chicago", "maria", "/relay report We held the picket.")
    await town.say("chicago", "chicago_coord", "/relay pass")
    for _ in ("kyiv", "beirut", "madrid"):
        await town.say("chicago", "chicago_coord", "/relay skip")

    kyiv = messages(town, "kyiv")[-1].text
    assert "🗣 оригінал (англійська): “We held the picket.”" in kyiv
    assert "моделі перекладу англійська → українська" in kyiv
    assert "(Chicago, Сполучені Штати)" in kyiv  # the country by name, not "US"

    beirut = messages(town, "beirut")[-1].text
    assert "الأصل (الإنجليزية)" in beirut and "الإنجليزية → العربية" in beirut

    madrid = messages(town, "madrid")[-1].text
    assert "🤖 traducción automática (inglés → español): “hola”" in madrid
    assert "(Chicago, Estados Unidos)" in madrid

    for text in (kyiv, beirut, madrid):
        _no_codes(text)
        assert ", US)" not in text


async def test_glossary_renderings_name_their_language(town):
    await town.network(CHICAGO, KYIV, BEIRUT, MADRID)
    out = await town.say("kyiv", "kyiv_coord",
                         "/relay glossary add rent strike = huelga de alquileres lang=es")
    assert "(мова: іспанська)" in out[-1] and "(мова: es)" not in out[-1]
    for chat, want in (("madrid", "(al español)"), ("beirut", "(اللغة الإسبانية)"),
                       ("chicago", "(into Spanish)")):
        listing = (await town.say(chat, f"{chat}_coord", "/relay glossary list"))[-1]
        assert want in listing, listing
        assert not re.search(r"\bes\)", listing), listing


async def test_a_too_long_recording_is_measured_in_the_circles_notation(town):
    await town.network(KYIV, CHICAGO)
    await town.say("kyiv", "kyiv_coord", "/relay start Shifts kyiv,chicago")
    await town.say("chicago", "chicago_coord", "/relay accept")
    key = town.app.services.media.put(b"OggS" + bytes(64), "audio/ogg")
    long_note = Attachment(kind="voice", mime_type="audio/ogg", size=68, filename="long.ogg",
                           path=key, duration=1000.5)  # 16.675 minutes; parts may last 15
    out = await town.say("kyiv", "olena", "/relay report", attachments=[long_note])
    assert "16,7 хв" in out[-1] and "15 хв" in out[-1], out
    assert "16.7" not in out[-1]

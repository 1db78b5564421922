"""More of the relay: several at once, silence, translation switched off, the command line."""
from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import timedelta

import feedparser

from bots import cli, cli_extras, relay
from core import i18n
from tests.relay.conftest import (
    CHICAGO, GAZIANTEP, install, messages, says, start_town, three_circles,
)

BOTH = (("en", "tr"), ("tr", "en"))


async def test_two_relays_run_at_once_and_the_cache_spares_the_model(town, tiny_models):
    install(tiny_models, *BOTH)
    await three_circles(town, CHICAGO, GAZIANTEP)
    translator = town.app.services.translator
    for title in ("Wages", "Rent"):
        await town.say("chicago", "chicago_coord", f"/relay start {title} chicago,gaziantep")
    out = await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    assert out[0] == i18n.t("tr", "relay.which_relay", ids="#1, #2", first=1)  # Gaziantep speaks Turkish
    for n in (1, 2):
        await town.say("gaziantep", "gaziantep_coord", f"/relay accept {n}", platform="alpha")
    out = await town.say("chicago", "maria", "/relay report Same words every week.")
    assert "say which, e.g. #1" in out[0]
    calls = []
    for n in (1, 2):
        await town.say("chicago", "maria", f"/relay report #{n} Same words every week.")
        await town.say("chicago", "chicago_coord", f"/relay pass {n}")
        await town.say("gaziantep", "deniz", f"/relay report #{n} Aynı sözler.", platform="alpha")
        await town.say("gaziantep", "gaziantep_coord", f"/relay pass {n}", platform="alpha")
        calls.append(translator.model_calls)
    assert calls[0] >= 2 and calls[1] == calls[0]  # the second relay hit the cache only
    finals = [m.text for m in messages(town, "gaziantep") if says(m.text, "tr", "relay.chain_header")]
    assert len(finals) == 2 and all("“merhaba”" in t for t in finals)


async def test_a_circle_that_never_answers_leaves_the_chain_when_invitations_close(town, tiny_models):
    await three_circles(town)
    await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep,barcelona 24h")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    out = await town.wait(timedelta(hours=24))
    assert any("Barcelona (Barcelona) did not answer" in t for t in out)
    assert "Your leg of relay #1" in town.last("chicago")


async def test_too_few_circles_call_the_relay_off(town, tiny_models):
    await three_circles(town, CHICAGO, GAZIANTEP)
    await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep")
    await town.say("gaziantep", "gaziantep_coord", "/relay decline", platform="alpha")
    assert "needs at least two circles" in town.last("chicago")


async def test_with_translation_switched_off_the_original_arrives_with_a_note(tmp_path, sqlite_url,
                                                                            clock, argos):
    town = await start_town(tmp_path, sqlite_url, clock, translation={"enabled": False})
    try:
        await three_circles(town, CHICAGO, GAZIANTEP)
        await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep")
        await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
        await town.say("chicago", "maria", "/relay report Bread and roses.")
        await town.say("chicago", "chicago_coord", "/relay pass")
        delivered = messages(town, "gaziantep")[-2].text
        original = i18n.t("tr", "relay.original", label="", lang="İngilizce")
        assert f"{original} “Bread and roses.”" in delivered
        assert i18n.t("tr", "relay.translation_off") in delivered
    finally:
        await town.stop()


async def test_the_command_line_exports_a_zip(town, tiny_models, tmp_path, sqlite_url, monkeypatch):
    install(tiny_models, *BOTH)
    await three_circles(town, CHICAGO, GAZIANTEP)
    await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    await town.say("chicago", "maria", "/relay report Bread and roses.")
    await town.say("chicago", "chicago_coord", "/relay pass")
    config = tmp_path / "tessera.toml"
    config.write_text(f'[tessera]\ndata_dir = "{tmp_path / "data"}"\ndatabase_url = "{sqlite_url}"\n')
    monkeypatch.setattr(cli_extras, "extensions", lambda: [relay.add_cli])
    out = tmp_path / "relay.zip"
    # The command line runs on its own, outside the bot's event loop.
    code = await asyncio.to_thread(cli.main, ["--config", str(config), "relay", "export", "1", "--format", "zip",
                     "--out", str(out), "--lang", "tr"])
    assert code == 0
    bundle = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    feed = feedparser.parse(bundle.read("feed.xml"))
    assert feed.feed.language == "tr" and feed.entries[0].title == "1. Chicago (Chicago, US)"
    assert "merhaba" in bundle.read("index.html").decode()
    assert await asyncio.to_thread(
        cli.main, ["--config", str(config), "relay", "export", "9", "--out", str(out)]) == 1


async def test_a_deadline_missed_while_down_still_hands_off_and_coordinators_are_told(town, tiny_models):
    install(tiny_models, *BOTH)
    await three_circles(town, CHICAGO, GAZIANTEP)
    await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep 24h")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    await town.say("chicago", "maria", "/relay report Bread and roses.")
    await town.say("chicago", "maria", "/relay export 1 md")
    assert "Bread and roses" not in town.app.services.media.get(
        messages(town, "chicago")[-1].attachments[0].path).decode()  # not handed off yet
    await town.wait(timedelta(hours=30))  # the bot was down 6 hours past the deadline
    assert "“merhaba”" in messages(town, "gaziantep")[-2].text
    [notice] = town.direct_to("chicago_coord")
    assert "passed while I was offline (6 hours late)" in notice

"""A circle takes all its data with it: with its relays and its archive too, and nothing of
another circle's."""
from __future__ import annotations

import json

from tests.privacy.conftest import complete_relay, voice


async def _export(town, chat: str) -> dict:
    await town.say(chat, f"{chat}_coord", "/circle export")
    row = [r for r in town.log if r[1] == chat and r[4].attachments][-1]
    return json.loads(town.app.services.media.get(row[4].attachments[0].path))


async def test_a_circle_export_carries_its_relays_and_archive(two_networks):
    town = two_networks
    note = voice(town, b"twenty couriers at the gate")
    await complete_relay(town, "lagos", "chicago", "Rent strikes",
                         ("lagos", "amaka", "We held the picket at the depot.", [note]),
                         ("chicago", "maria", "The drivers joined us on Friday.", []))
    await town.say("lagos", "amaka", "/archive add testimony +[DHL] cut the night shift #wages")
    await town.say("chicago", "maria", "/archive add note Our own notes stay ours")

    lagos = await _export(town, "lagos")
    [relay] = lagos["relay"]["relays"]
    assert relay["title"] == "Rent strikes" and relay["started_here"] is True
    [report] = relay["reports"]
    assert report["text"] == "We held the picket at the depot." and report["media"] == note.path
    [entry] = lagos["archive"]["entries"]
    assert entry["kind"] == "testimony" and entry["actors"] == ["DHL"] and entry["tags"] == ["wages"]

    chicago = await _export(town, "chicago")
    assert [r["started_here"] for r in chicago["relay"]["relays"]] == [False]
    assert [p["text"] for p in chicago["relay"]["relays"][0]["reports"]] == \
        ["The drivers joined us on Friday."]
    assert [e["text"] for e in chicago["archive"]["entries"]] == ["Our own notes stay ours"]
    # Berlin, in the other network, took part in none of it.
    berlin = await _export(town, "berlin")
    assert berlin["relay"]["relays"] == [] and berlin["archive"]["entries"] == []

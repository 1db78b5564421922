"""The Discord door end to end: dpytest drives discord.py, the real suite answers.

Amaka organises the Lagos tenants' circle in the #lagos channel; Tunde, Bisi and Kofi are
members. Discord's REST API and gateway are dpytest's; everything else is the real app.
"""
from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import timedelta

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as back
from sqlmodel import select

from core.messages import Attachment, Choice, Outgoing, Poll
from core.storage import unit_of_work
from core.storage.models import AdapterState, Circle, OutboxMessage
from tests.discord.conftest import CHANNELS, PAYLOADS, start_world

OGG = b"OggS" + bytes(range(256)) * 40  # stands in for a recorded voice note


async def register_lagos(world) -> str:
    out = await world.say("lagos", "amaka", "!network create Lagos Tenants")
    code = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", out[-1].content).group(1)
    out = await world.say("lagos", "amaka", f"!circle join {code} Lagos NG Africa/Lagos")
    assert "now the circle" in out[-1].content
    return code


async def test_a_circle_is_registered_from_a_channel_with_prefix_commands(world):
    await register_lagos(world)
    with unit_of_work(world.app.services.engine) as s:
        circle = s.exec(select(Circle)).one()
    assert (circle.platform, circle.chat_id) == ("discord", str(CHANNELS["lagos"]))
    assert (circle.name, circle.city, circle.country) == ("Lagos Tenants #lagos", "Lagos", "NG")
    # Talk that is not a command reaches the listeners, not the command parser.
    assert await world.say("lagos", "tunde", "good morning all") == []
    assert world.app.services.extras["heard"][-1].text == "good morning all"


async def test_the_coordinators_role_and_manage_server_make_coordinators(world):
    await register_lagos(world)
    out = await world.say("lagos", "tunde", "!circle invite")
    assert "Only this circle's coordinators" in out[-1].content
    await dpytest.add_role(world.members["tunde"], world.role)
    out = await world.say("lagos", "tunde", "!circle invite")
    assert "Invite code" in out[-1].content


async def test_long_replies_are_split_at_2000_characters(world):
    paragraph = ("The landlord association met the housing ministry again today. " * 10).strip()
    world.enqueue("lagos", Outgoing(text="\n\n".join([paragraph] * 8)))
    out = await world.delivered()
    assert len(out) == 3
    assert all(len(m.content) <= 2000 for m in out)
    assert " ".join(m.content for m in out).count("housing ministry") == 80


async def test_a_relay_leg_with_audio_arrives_as_a_file(world):
    key = world.app.services.media.put(OGG, "audio/ogg")
    world.enqueue("lagos", Outgoing(text="**Relay leg 2** from Berlin", attachments=[
        Attachment("voice", "audio/ogg", len(OGG), "leg-2-berlin.ogg", duration=4.0, path=key,
                   caption="Report from the Neukölln tenants")]))
    out = await world.delivered()
    assert out[0].content == "**Relay leg 2** from Berlin"
    (att,) = out[1].attachments
    assert att.filename == "leg-2-berlin.ogg"
    assert await att.read() == OGG
    # (dpytest drops the text of messages with files; test_render checks the caption.)


async def test_voice_messages_and_audio_are_downloaded_within_the_size_limit(world, tmp_path):
    await register_lagos(world)
    note = tmp_path / "voice-message.ogg"
    note.write_bytes(OGG)
    # A recorded MESSAGE_CREATE for a voice message (flag 8192) plus an 11 MiB recording;
    # dpytest serves "CDN" downloads from local files.
    p = json.loads((PAYLOADS / "message_voice.json").read_text())
    p["attachments"][0]["url"] = note.as_uri()
    p["attachments"][0]["size"] = len(OGG)
    back.get_state().parse_message_create(p)
    await dpytest.run_all_events()
    inc = world.app.services.extras["heard"][-1]
    assert inc.sender.user_id == "1309300000000000002" and inc.message_id == p["id"]
    voice, recording = inc.attachments
    assert (voice.kind, voice.duration, voice.mime_type) == ("voice", 4.2, "audio/ogg")
    assert world.app.services.media.get(voice.path) == OGG
    assert (recording.kind, recording.path) == ("audio", None)  # over 10 MiB: listed only


async def test_replies_to_the_bot_carry_what_they_answer(world):
    await register_lagos(world)
    world.enqueue("lagos", Outgoing(text="Record your report as a reply to this message."))
    (prompt,) = await world.delivered()
    msg = back.make_message("here it is", world.members["tunde"], world.channels["lagos"])
    msg.reference = discord.MessageReference(message_id=prompt.id, channel_id=prompt.channel.id)
    msg.reference.resolved = prompt
    inc = world.adapter.to_incoming(msg)
    assert inc.reply_to.message_id == str(prompt.id)
    assert inc.reply_to.text.startswith("Record your report")


async def test_a_ballot_with_votes_from_several_members_then_closed(world):
    await register_lagos(world)
    world.enqueue("lagos", Outgoing(text="Ballot 1 is open.", poll=Poll(
        "Fund the strike kitchen with 250 EUR?",
        [Choice("Yes", "/testvote 1 yes"), Choice("No", "/testvote 1 no")], ref="ballot:1")))
    (ballot,) = await world.delivered()
    assert "**Fund the strike kitchen with 250 EUR?**" in ballot.content
    with unit_of_work(world.app.services.engine) as s:
        state = s.get(AdapterState, "discord:poll:ballot:1").value
    assert state["message_id"] == str(ballot.id)
    assert [label for label, _ in state["buttons"]] == ["Yes", "No"]

    await world.click("amaka", "ballot:1", "Yes")
    await world.click("tunde", "ballot:1", "No")
    await world.click("bisi", "ballot:1", "Yes")
    said = [m.content for m in await world.delivered()]
    # (dpytest's members have no nicknames: display names are the user names.)
    assert world.app.services.extras["votes"] == {
        (1, "amaka"): "yes", (1, "tunde"): "no", (1, "bisi"): "yes"}
    assert said == ["amaka voted yes on ballot 1", "tunde voted no on ballot 1",
                    "bisi voted yes on ballot 1"]
    # Each click was acknowledged without a message of its own (type 6: deferred update).
    assert [p["type"] for m, path, p in world.responses.calls] == [6, 6, 6]

    world.enqueue("lagos", Outgoing(text="Ballot 1 is closed: 2 yes, 1 no.", close_ref="ballot:1"))
    (closed,) = await world.delivered()
    assert closed.content.startswith("Ballot 1 is closed")
    stored = next(m for m in back._cur_config.messages[CHANNELS["lagos"]] if m["id"] == ballot.id)
    buttons = [b for row in stored["components"] for b in row["components"]]
    assert [b["label"] for b in buttons] == ["Yes", "No"] and all(b["disabled"] for b in buttons)


async def test_buttons_still_work_after_a_restart(tmp_path, sqlite_url, clock, monkeypatch):
    monkeypatch.chdir(tmp_path)
    world = await start_world(tmp_path, clock, sqlite_url)
    await register_lagos(world)
    world.enqueue("lagos", Outgoing(poll=Poll("Join the rent strike?", [
        Choice("Yes", "/testvote 2 yes"), Choice("No", "/testvote 2 no")], ref="ballot:2")))
    await world.delivered()
    await world.app.stop()
    await dpytest.empty_queue()

    # A new process: new app, new client, same database; the old message's buttons remain.
    world = await start_world(tmp_path, clock, sqlite_url)
    try:
        await world.click("kofi", "ballot:2", "Yes")
        out = await world.delivered()
        assert [m.content for m in out] == ["kofi voted yes on ballot 2"]
        assert world.app.services.extras["votes"] == {(2, "kofi"): "yes"}
    finally:
        await world.app.stop()
        await dpytest.empty_queue()


async def test_slash_commands_answer_the_interaction_and_errors_stay_private(world):
    await register_lagos(world)
    # Tunde is no coordinator: the refusal is shown to him only.
    await world.interact("slash_circle_invite.json")
    (refusal,) = world.responses.messages()
    assert "Only this circle's coordinators" in refusal["content"] and refusal["ephemeral"]
    # With the coordinators role, the same slash command gives everyone the invite code.
    await dpytest.add_role(world.members["tunde"], world.role)
    await world.interact("slash_circle_invite.json", member="tunde")
    answer = world.responses.messages()[-1]
    assert "Invite code" in answer["content"] and not answer["ephemeral"]
    # The replies went to the interaction, not a second time to the channel.
    assert await world.delivered() == []
    with unit_of_work(world.app.services.engine) as s:
        assert {r.state for r in s.exec(select(OutboxMessage)).all()} == {"sent"}


async def test_a_circle_joined_by_slash_command(world):
    out = await world.say("lagos", "amaka", "!network create Lagos Tenants")
    code = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", out[-1].content).group(1)
    await world.interact("slash_circle_join.json", options=[{"name": "join", "type": 1, "options": [
        {"name": "code", "type": 3, "value": code},
        {"name": "city", "type": 3, "value": "Port Harcourt"},
        {"name": "country", "type": 3, "value": "NG"},
        {"name": "timezone", "type": 3, "value": "Africa/Lagos"}]}])
    answer = world.responses.messages()[-1]
    assert "now the circle" in answer["content"] and "Port Harcourt" in answer["content"]
    with unit_of_work(world.app.services.engine) as s:
        circle = s.exec(select(Circle)).one()
    assert (circle.chat_id, circle.name) == (str(CHANNELS["lagos"]), "Lagos Tenants #lagos")


async def test_a_deleted_channel_ends_its_circle(world):
    await register_lagos(world)
    back.delete_channel(world.channels["lagos"])
    await dpytest.run_all_events()
    with unit_of_work(world.app.services.engine) as s:
        assert s.exec(select(Circle)).one().left_at is not None


async def test_the_bot_joining_a_guild_says_hello(world):
    world.adapter.client.dispatch("guild_join", world.guild)
    await dpytest.run_all_events()
    out = await world.delivered()
    assert out and out[0].channel.id == CHANNELS["lagos"]


class _Response:
    def __init__(self, status: int, retry_after: float = 0.01) -> None:
        self.status = status
        self.reason = "Too Many Requests" if status == 429 else "Forbidden"
        self.headers = {"Retry-After": str(retry_after)}


async def test_a_429_never_drops_a_message(world, clock):
    http = world.adapter.client.http
    real_send = http.send_message
    calls = {"n": 0}

    async def send_message(channel_id, *, params):
        channel = sys._getframe(1).f_locals["channel"]  # noqa: F841 (dpytest reads its caller's)
        calls["n"] += 1
        if calls["n"] == 1:
            raise discord.HTTPException(_Response(429), "You are being rate limited.")
        return await real_send(channel_id, params=params)

    http.send_message = send_message
    world.enqueue("lagos", Outgoing(text="Kickoff in one hour."))
    courier = world.app.couriers["discord"]
    await courier.deliver_ready()
    await courier.finish()  # the round's sends run as tasks
    assert courier.retry_after_count == 1 and dpytest.sent_queue.empty()
    await asyncio.sleep(0.02)
    clock.advance(timedelta(seconds=1))
    out = await world.delivered()
    assert [m.content for m in out] == ["Kickoff in one hour."]


async def test_a_429_in_the_middle_of_a_long_message_is_waited_out(world):
    http = world.adapter.client.http
    real_send = http.send_message
    calls = {"n": 0}

    async def send_message(channel_id, *, params):
        channel = sys._getframe(1).f_locals["channel"]  # noqa: F841 (dpytest reads its caller's)
        calls["n"] += 1
        if calls["n"] == 2:
            raise discord.HTTPException(_Response(429), "You are being rate limited.")
        return await real_send(channel_id, params=params)

    http.send_message = send_message
    world.enqueue("lagos", Outgoing(text=("word " * 390).strip() + "\n\n" + ("more " * 390).strip()))
    out = await world.delivered()
    assert [m.content.split()[0] for m in out] == ["word", "more"]  # each part exactly once


async def test_a_forbidden_channel_is_a_permanent_failure(world):
    async def send_message(channel_id, *, params):
        raise discord.Forbidden(_Response(403), "Missing Access")

    world.adapter.client.http.send_message = send_message
    world.enqueue("lagos", Outgoing(text="Hello?"))
    await world.app.couriers["discord"].deliver_ready()
    await world.app.couriers["discord"].finish()
    with unit_of_work(world.app.services.engine) as s:
        row = s.exec(select(OutboxMessage)).one()
    assert (row.state, row.attempts) == ("dead", 1)


async def test_slash_commands_are_synced_per_guild_from_the_registry(world):
    from adapters.discord_slash import check_definitions, slash_definitions
    synced = []

    async def bulk_upsert_guild_commands(application_id, guild_id, payload):
        synced.append((application_id, guild_id, payload))
        return payload

    world.adapter.client.http.bulk_upsert_guild_commands = bulk_upsert_guild_commands
    world.adapter.client._connection.application_id = 1309000000000000001
    world.adapter.client.dispatch("guild_join", world.guild)  # also what on_ready does
    await dpytest.run_all_events()
    ((app_id, guild_id, defs),) = synced
    assert (app_id, guild_id) == (1309000000000000001, world.guild.id)
    assert defs == slash_definitions(world.app.registry.commands) and check_definitions(defs) == []
    assert {"circle", "network", "testvote", "help"} <= {d["name"] for d in defs}

"""Tessera on a real Synapse: members in nio clients talk to the real suite through the
Matrix adapter (real dispatcher, outbox, couriers, SQLite)."""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Callable

import pytest
from nio import (
    AsyncClient,
    JoinResponse,
    MemoryDownloadResponse,
    RoomCreateResponse,
    RoomPutStateResponse,
    RoomSendResponse,
    SyncResponse,
)
from sqlmodel import select

from adapters.matrix_adapter import MatrixAdapter
from bots import circles, help as help_
from bots.app import build_app
from core import outbox
from core.commands import Arg, Feature, Word
from core.messages import Attachment, Choice, Outgoing, Poll
from core.storage import unit_of_work
from core.storage.models import Account, AdapterState, Circle, Membership, OutboxMessage
from tests.conftest import make_config
from tests.support.synapse import Homeserver

pytestmark = pytest.mark.synapse

# A stand-in for the ballot feature (being written elsewhere): it records every vote, so a
# poll response proves the whole path poll -> Incoming(Choice.command) -> dispatcher.
testvote = Feature("testvote")


@testvote.command("testvote", args=[Arg("ballot", Word), Arg("choice", Word)])
async def _testvote(ctx, ballot: str, choice: str) -> None:
    ctx.services.extras.setdefault("votes", []).append(
        (ballot, choice, ctx.incoming.sender.user_id, ctx.incoming.is_direct))


@testvote.listener("record attachments")
async def _record(ctx) -> bool:
    if ctx.incoming.attachments:
        ctx.services.extras.setdefault("attachments", []).extend(ctx.incoming.attachments)
        return True
    return False


# --------------------------------------------------------------------------- people


def _name(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:6]}"


class Member:
    """A person in their own Matrix client; remembers every event they have seen."""

    def __init__(self, server: Homeserver, name: str) -> None:
        self.user_id, token, device_id = server.register_user(_name(name))
        self.client = AsyncClient(server.url, self.user_id, device_id=device_id)
        self.client.restore_login(self.user_id, device_id, token)
        self.seen: list[tuple[str, dict]] = []
        self.invites: list[str] = []

    async def sync(self, timeout: int = 1000) -> None:
        answer = await self.client.sync(timeout=timeout)
        assert isinstance(answer, SyncResponse), answer
        self.invites += list(answer.rooms.invite)
        for room_id, info in answer.rooms.join.items():
            self.seen += [(room_id, e.source) for e in info.timeline.events]

    async def wait_for(self, found: Callable[[str, dict], bool], syncs: int = 40) -> dict:
        """The first event (room, source) matching `found`, syncing as needed."""
        for _ in range(syncs):
            for room_id, event in self.seen:
                if found(room_id, event):
                    return event
            await self.sync()
        pytest.fail(f"{self.user_id} never saw the awaited event")

    async def say(self, room_id: str, body: str, event_type: str = "m.room.message",
                  **content) -> str:
        payload = {"msgtype": "m.text", "body": body, **content} if event_type == "m.room.message" else content
        answer = await self.client.room_send(room_id, event_type, payload)
        assert isinstance(answer, RoomSendResponse), answer
        return answer.event_id

    async def join(self, room_id: str) -> None:
        assert isinstance(await self.client.join(room_id), JoinResponse)

    async def close(self) -> None:
        await self.client.close()


def bot_notice(bot_id: str, room: str, contains: str = "") -> Callable[[str, dict], bool]:
    def match(room_id: str, ev: dict) -> bool:
        return (room_id == room and ev.get("sender") == bot_id and ev["type"] == "m.room.message"
                and contains in ev["content"].get("body", ""))
    return match


def joined(user_id: str, room: str) -> Callable[[str, dict], bool]:
    return lambda room_id, ev: (room_id == room and ev["type"] == "m.room.member"
                                and ev.get("state_key") == user_id
                                and ev["content"].get("membership") == "join")


async def eventually(check: Callable[[], object], rounds: int = 400) -> object:
    """Wait (bounded) until `check()` is truthy, giving the bot's tasks time to run."""
    for _ in range(rounds):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    pytest.fail("the bot never got there")


# --------------------------------------------------------------------------- the bot


class Bot:
    """The bot's account; `run()` starts the real suite with a Matrix adapter on it."""

    def __init__(self, server: Homeserver, tmp_path, allowed=()) -> None:
        self.server = server
        self.user_id, self.token, _device = server.register_user(_name("tessera"))
        self.config = make_config(tmp_path, f"sqlite:///{tmp_path / 'tessera.db'}",
                                  matrix={"per_chat_per_minute": 120, "global_per_second": 50})
        self.allowed = allowed

    @asynccontextmanager
    async def run(self, features=None, **adapter_options):
        app = build_app(self.config, features=features or [help_.feature, circles.feature,
                                                           testvote])
        adapter = MatrixAdapter(self.server.url, self.user_id, app.services.media,
                                app.services.engine, token=self.token,
                                allowed_inviters=self.allowed, **adapter_options)
        app.add_adapter(adapter)
        await app.start(scheduler=False)
        try:
            yield app, adapter
        finally:
            await app.stop()


@pytest.fixture
async def people(homeserver):
    made: list[Member] = []

    def make(name: str) -> Member:
        made.append(Member(homeserver, name))
        return made[-1]

    yield make
    for member in made:
        await member.close()


async def room_with_bot(owner: Member, bot: Bot, *others: Member, **create) -> str:
    """`owner` creates a room, invites the bot and `others`; everyone is in when it returns."""
    created = await owner.client.room_create(invite=[bot.user_id, *(m.user_id for m in others)],
                                             **create)
    assert isinstance(created, RoomCreateResponse), created
    for member in others:
        await member.join(created.room_id)
    await owner.wait_for(joined(bot.user_id, created.room_id))
    return created.room_id


def enqueue(app, room_id: str, message: Outgoing, direct: bool = False) -> None:
    with unit_of_work(app.services.engine) as session:
        outbox.enqueue(session, "matrix", room_id, message, now=app.services.clock.now(),
                       direct=direct)
    for courier in app.couriers.values():
        courier.wake()


def votes(app) -> list[tuple]:
    return app.services.extras.get("votes", [])


# --------------------------------------------------------------------------- tests


async def test_a_room_becomes_a_circle_and_moderators_become_coordinators(
        homeserver, tmp_path, people, matrix_numbers):
    began = time.monotonic()
    alice, bob = people("alice"), people("bob")
    bot = Bot(homeserver, tmp_path, allowed=[alice.user_id])
    async with bot.run() as (app, adapter):
        room = await room_with_bot(alice, bot, bob, name="Berlin delivery riders")
        await alice.wait_for(bot_notice(bot.user_id, room, "Hello! I'm Tessera"))

        await alice.say(room, "/network create Riders Across Borders")
        created = await alice.wait_for(bot_notice(bot.user_id, room, "Riders Across Borders"))
        code = re.search(r"[A-Z0-9]{3,5}(?:-[A-Z0-9]{3,5})+", created["content"]["body"]).group(0)

        # Addressing the bot by name works like a slash command.
        await alice.say(room, f"{adapter.bot_names[0]}: circle join {code} Berlin DE Europe/Berlin")
        joined_reply = await alice.wait_for(bot_notice(bot.user_id, room, "is now the circle"))
        assert "Europe/Berlin" in joined_reply["content"]["body"]
        assert "<b>Riders Across Borders</b>" in joined_reply["content"]["formatted_body"]
        with unit_of_work(app.services.engine) as s:
            circle = s.exec(select(Circle).where(Circle.platform == "matrix",
                                                 Circle.chat_id == room)).one()
        assert circle.city == "Berlin"

        # alice makes bob a moderator: he becomes a coordinator of the circle.
        levels = await alice.client.room_get_state_event(room, "m.room.power_levels")
        content = dict(levels.content)
        content["users"] = {**content["users"], bob.user_id: 50}
        put = await alice.client.room_put_state(room, "m.room.power_levels", content)
        assert isinstance(put, RoomPutStateResponse), put

        def bob_is_coordinator():
            with unit_of_work(app.services.engine) as s:
                row = s.exec(select(Membership).join(Account, Account.person_id == Membership.person_id)
                             .where(Account.platform == "matrix", Account.platform_user_id == bob.user_id,
                                    Membership.circle_id == circle.id)).first()
                return row is not None and row.is_coordinator
        await eventually(bob_is_coordinator)

        await bob.say(room, "!circle info")
        info = await bob.wait_for(bot_notice(bot.user_id, room, "Time zone: Europe/Berlin"))
        assert "Network: Riders Across Borders" in info["content"]["body"]
        assert "coordinators: " in info["content"]["body"]
    matrix_numbers["test: room becomes a circle"] = time.monotonic() - began


async def test_a_relay_leg_arrives_as_playable_voice(homeserver, tmp_path, people, matrix_numbers):
    began = time.monotonic()
    amaka = people("amaka")
    bot = Bot(homeserver, tmp_path)
    async with bot.run() as (app, adapter):
        room = await room_with_bot(amaka, bot, name="Lagos circle")
        voice = b"OggS" + bytes(range(256)) * 40  # stands for a translated field report
        key = app.services.media.put(voice, "audio/ogg")
        enqueue(app, room, Outgoing(text="Leg 2 of **the night-shift relay**", attachments=[
            Attachment("voice", "audio/ogg", len(voice), "leg-2.ogg", duration=4.2, path=key)]))

        audio = await amaka.wait_for(lambda r, ev: r == room and ev.get("sender") == bot.user_id
                                     and ev["content"].get("msgtype") == "m.audio")
        text = await amaka.wait_for(bot_notice(bot.user_id, room, "Leg 2"))
        assert "<b>the night-shift relay</b>" in text["content"]["formatted_body"]
        assert text["content"]["body"] == "Leg 2 of the night-shift relay"

        content = audio["content"]
        assert content["org.matrix.msc3245.voice"] == {}
        assert content["org.matrix.msc1767.audio"]["duration"] == 4200
        assert content["info"] == {"mimetype": "audio/ogg", "size": len(voice), "duration": 4200}
        downloaded = await amaka.client.download(mxc=content["url"])
        assert isinstance(downloaded, MemoryDownloadResponse), downloaded
        assert downloaded.body == voice

        # And the other way: amaka's voice note lands in the media store.
        upload, _ = await amaka.client.upload(lambda *_: voice, content_type="audio/ogg",
                                              filename="report.ogg", filesize=len(voice))
        await amaka.say(room, "report.ogg", msgtype="m.audio", url=upload.content_uri,
                        info={"mimetype": "audio/ogg", "size": len(voice), "duration": 4200},
                        **{"org.matrix.msc3245.voice": {}})
        [att] = await eventually(lambda: app.services.extras.get("attachments"))
        assert att.kind == "voice" and att.duration == 4.2
        assert app.services.media.get(att.path) == voice
    matrix_numbers["test: relay leg as voice"] = time.monotonic() - began


async def test_a_ballot_is_a_poll_counted_from_responses_and_closed(
        homeserver, tmp_path, people, matrix_numbers):
    began = time.monotonic()
    ana, bola, chen, dara = people("ana"), people("bola"), people("chen"), people("dara")
    bot = Bot(homeserver, tmp_path)
    async with bot.run() as (app, adapter):
        room = await room_with_bot(ana, bot, bola, chen, dara, name="Treasury circle")
        enqueue(app, room, Outgoing(poll=Poll("Release 300 EUR to the strike fund?", [
            Choice("Yes", "/testvote 1 yes"), Choice("No", "/testvote 1 no")], ref="ballot:1")))

        poll = await ana.wait_for(lambda r, ev: r == room
                                  and ev["type"] == "org.matrix.msc3381.poll.start")
        start = poll["content"]["org.matrix.msc3381.poll.start"]
        assert start["question"]["body"] == "Release 300 EUR to the strike fund?"
        yes, no = (a["id"] for a in start["answers"])
        fallback = await ana.wait_for(bot_notice(bot.user_id, room, "/testvote 1 yes"))
        assert "/testvote 1 no" in fallback["content"]["body"]

        relates = {"rel_type": "m.reference", "event_id": poll["event_id"]}
        await ana.say(room, "", "org.matrix.msc3381.poll.response", **{
            "org.matrix.msc3381.poll.response": {"answers": [yes]}, "m.relates_to": relates})
        await bola.say(room, "", "m.poll.response", **{  # the stable form
            "m.selections": [no], "m.relates_to": relates})
        await chen.say(room, "", "org.matrix.msc3381.poll.response", **{
            "org.matrix.msc3381.poll.response": {"answers": [yes]}, "m.relates_to": relates})
        await eventually(lambda: len(votes(app)) == 3)
        assert sorted(votes(app)) == sorted([("1", "yes", ana.user_id, False),
                                             ("1", "no", bola.user_id, False),
                                             ("1", "yes", chen.user_id, False)])

        enqueue(app, room, Outgoing(close_ref="ballot:1"))
        end = await ana.wait_for(lambda r, ev: r == room
                                 and ev["type"] == "org.matrix.msc3381.poll.end")
        assert end["content"]["m.relates_to"]["event_id"] == poll["event_id"]

        # A vote after the end does not count; a typed command after it still works.
        await dara.say(room, "", "org.matrix.msc3381.poll.response", **{
            "org.matrix.msc3381.poll.response": {"answers": [no]}, "m.relates_to": relates})
        await dara.say(room, "/testvote 2 typed")
        await eventually(lambda: len(votes(app)) == 4)
        assert votes(app)[-1] == ("2", "typed", dara.user_id, False)

        # RSVP by reaction: the bot puts the choices under its message, a click answers.
        enqueue(app, room, Outgoing(text="Saturday picket at the depot: coming?", choices=[
            Choice("Going", "/testvote rsvp going"), Choice("Not this time", "/testvote rsvp no")]))
        ask = await bola.wait_for(bot_notice(bot.user_id, room, "Saturday picket"))
        await bola.wait_for(lambda r, ev: ev["type"] == "m.reaction" and ev.get("sender") == bot.user_id
                            and ev["content"]["m.relates_to"]["key"] == "Going")
        await bola.say(room, "", "m.reaction", **{"m.relates_to": {
            "rel_type": "m.annotation", "event_id": ask["event_id"], "key": "Going"}})
        await eventually(lambda: len(votes(app)) == 5)
        assert votes(app)[-1] == ("rsvp", "going", bola.user_id, False)
    matrix_numbers["test: ballot as poll + RSVP reactions"] = time.monotonic() - began


async def test_a_restart_neither_replays_nor_loses_commands(
        homeserver, tmp_path, people, matrix_numbers):
    began = time.monotonic()
    rosa = people("rosa")
    bot = Bot(homeserver, tmp_path)
    # Before the bot ever runs: the room's backlog is history, not commands.
    created = await rosa.client.room_create(name="Tenants of Block C", invite=[bot.user_id])
    room = created.room_id
    await rosa.say(room, "/testvote 0 before-the-bot-joined")

    async with bot.run() as (app, adapter):
        await rosa.wait_for(joined(bot.user_id, room))
        await rosa.say(room, "/testvote 1 while-running")
        await eventually(lambda: votes(app))
        assert votes(app) == [("1", "while-running", rosa.user_id, False)]
        token = (await asyncio.to_thread(_state, app, "matrix:next_batch"))["token"]

    # While the bot is down, five commands are said: more than one sync's timeline holds
    # here (timeline_limit=2), so the gap must be fetched back page by page.
    missed = [(str(n), "while-down") for n in range(2, 7)]
    for number, word in missed:
        await rosa.say(room, f"/testvote {number} {word}")

    async with bot.run(timeline_limit=2) as (app, adapter):
        # start() returns once the catch-up batch is handled.
        assert [v[:2] for v in votes(app)] == missed
        await rosa.say(room, "/testvote 7 after-restart")
        await eventually(lambda: len(votes(app)) > len(missed))
        assert [v[:2] for v in votes(app)] == [*missed, ("7", "after-restart")]
        assert _state(app, "matrix:next_batch")["token"] != token
    matrix_numbers["test: restart"] = time.monotonic() - began


def _state(app, key: str) -> dict:
    with unit_of_work(app.services.engine) as s:
        return dict(s.get(AdapterState, key).value)


async def test_direct_messages_reuse_one_room_and_are_direct(homeserver, tmp_path, people):
    lena = people("lena")
    bot = Bot(homeserver, tmp_path)
    async with bot.run() as (app, adapter):
        enqueue(app, lena.user_id, Outgoing(text="Your pledge is recorded."), direct=True)
        for _ in range(40):
            await lena.sync()
            if lena.invites:
                break
        [dm] = lena.invites
        await lena.join(dm)
        first = await lena.wait_for(bot_notice(bot.user_id, dm, "pledge is recorded"))
        enqueue(app, lena.user_id, Outgoing(text="Reminder: picket at 7."), direct=True)
        await lena.wait_for(bot_notice(bot.user_id, dm, "picket at 7"))
        assert lena.invites == [dm]  # the same room, not a new one
        assert first["event_id"]
        await lena.say(dm, "/testvote dm yes")
        await eventually(lambda: votes(app))
        assert votes(app) == [("dm", "yes", lena.user_id, True)]


async def test_invitations_from_strangers_are_declined(homeserver, tmp_path, people):
    ana, mallory = people("ana"), people("mallory")
    bot = Bot(homeserver, tmp_path, allowed=[ana.user_id])
    async with bot.run():
        created = await mallory.client.room_create(name="Not ours", invite=[bot.user_id])
        await mallory.wait_for(lambda r, ev: r == created.room_id and ev["type"] == "m.room.member"
                               and ev.get("state_key") == bot.user_id
                               and ev["content"]["membership"] == "leave")


async def test_encrypted_rooms_are_told_what_works(homeserver, tmp_path, people):
    ines = people("ines")
    bot = Bot(homeserver, tmp_path)
    async with bot.run() as (app, adapter):
        room = await room_with_bot(ines, bot, name="Encrypted circle", initial_state=[{
            "type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        notice = await ines.wait_for(bot_notice(bot.user_id, room, "end-to-end encrypted"))
        assert "unencrypted room" in notice["content"]["body"]
        await ines.say(room, "", "m.room.encrypted", algorithm="m.megolm.v1.aes-sha2",
                       ciphertext="AwgAEnB...", sender_key="k", session_id="s", device_id="D")
        await ines.wait_for(bot_notice(bot.user_id, room, "your message is encrypted"))


async def test_rate_limits_delay_but_lose_nothing(default_limits_homeserver, tmp_path):
    server = default_limits_homeserver()
    noor = Member(server, "noor")
    bot = Bot(server, tmp_path)
    try:
        async with bot.run(features=[testvote]) as (app, adapter):
            adapter.text_limit = 120  # so one message needs several events
            room = await room_with_bot(noor, bot, name="Port workers")
            for n in range(8):
                enqueue(app, room, Outgoing(text=f"call-out {n}"))
            long = " ".join(f"long-{i:02d}-part" for i in range(18))  # ~250 chars: 3 events
            enqueue(app, room, Outgoing(text=long))
            enqueue(app, room, Outgoing(text="call-out 9"))

            bodies: list[str] = []

            def all_arrived(_r, _ev) -> bool:
                bodies[:] = [ev["content"]["body"] for r, ev in noor.seen if r == room
                             and ev.get("sender") == bot.user_id and ev["type"] == "m.room.message"]
                return "call-out 9" in bodies

            await noor.wait_for(all_arrived, syncs=90)
            courier = app.couriers["matrix"]
            assert courier.retry_after_count >= 1  # Synapse did say 429 to a first event
            assert adapter.waited_out >= 1  # ... and to a later part, waited out in place
            expected = [f"call-out {n}" for n in range(8)]
            assert bodies[:8] == expected and bodies[-1] == "call-out 9"
            assert " ".join(bodies[8:-1]) == long  # the long one, once, in order
            with unit_of_work(app.services.engine) as s:
                states = s.exec(select(OutboxMessage.state)).all()
            assert states == ["sent"] * 10
    finally:
        await noor.close()


async def test_tessera_run_serves_matrix_rooms_from_configuration(
        homeserver, tmp_path, people, matrix_numbers):
    """The production path: `tessera run` with a homeserver URL and a token in the config."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    began = time.monotonic()
    ana = people("ana")
    bot_id, token, _device = homeserver.register_user(_name("tessera"))
    config = tmp_path / "tessera.toml"
    config.write_text(
        f'[tessera]\ndata_dir = "{tmp_path / "data"}"\n\n'
        f'[console]\nenabled = "false"\n\n'
        f'[matrix]\nenabled = true\nhomeserver = "{homeserver.url}"\nuser_id = "{bot_id}"\n'
        f'allowed_inviters = ["{ana.user_id}"]\n', encoding="utf-8")
    env = {**os.environ, "TESSERA_MATRIX_TOKEN": token}
    tessera = Path(sys.executable).with_name("tessera")
    process = subprocess.Popen([str(tessera), "--config", str(config), "run"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        created = await ana.client.room_create(name="Night shift", invite=[bot_id])
        room = created.room_id
        await ana.wait_for(joined(bot_id, room), syncs=60)
        await ana.say(room, "/help")
        reply = await ana.wait_for(bot_notice(bot_id, room, "/circle"))
        assert reply["content"]["msgtype"] == "m.notice"
    finally:
        process.send_signal(signal.SIGTERM)  # by its PID, as a service manager would
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode(errors="replace")[-2000:]
    assert token not in output.decode(errors="replace")  # the secret never reaches the log
    matrix_numbers["test: tessera run (subprocess)"] = time.monotonic() - began


async def test_a_password_logs_in_once_and_the_device_is_kept(homeserver, tmp_path):
    localpart = _name("tessera")
    homeserver.register_user(localpart, password="solidarity forever")
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'tessera.db'}")
    devices = []
    for _restart in range(2):
        app = build_app(config, features=[testvote])
        adapter = MatrixAdapter(homeserver.url, homeserver.user_id(localpart),
                                app.services.media, app.services.engine,
                                password="solidarity forever")
        app.add_adapter(adapter)
        await app.start(scheduler=False)
        try:
            devices.append(adapter.client.device_id)
            stored = _state(app, "matrix:login")
            assert stored["access_token"] and stored["device_id"] == adapter.client.device_id
        finally:
            await app.stop()
    assert devices[0] and devices[0] == devices[1]  # one device, however often it restarts

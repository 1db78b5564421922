"""The Matrix door's pure halves: events in, events out (no homeserver needed)."""
from __future__ import annotations

import pytest

from adapters.matrix_adapter import RetryAfter, _own_join_index, _raise_for
from adapters.matrix_events import MatrixEvent, RoomView, command_text, to_incoming
from adapters.matrix_render import POLL_END, POLL_START, render
from core.adapter import DeliveryError
from core.messages import Attachment, Choice, Outgoing, Poll

BOT = "@tessera:example.org"
ROOM = "!depot:example.org"


def event(type_: str, sender: str = "@ana:example.org", **content) -> dict:
    return {"type": type_, "sender": sender, "event_id": "$e1", "room_id": ROOM,
            "origin_server_ts": 1_700_000_000_000, "content": content}


def incoming(ev: dict, choices=None, levels=None, direct=False):
    view = RoomView(ROOM, title="Depot", is_direct=direct,
                    power_levels=levels or {"users": {"@ana:example.org": 50}},
                    display_names={"@ana:example.org": "Ana"})
    return to_incoming(MatrixEvent(view, ev, BOT, "Tessera", choices or {}))


@pytest.mark.parametrize("body, expected", [
    ("/circle info", "/circle info"),
    ("!circle info", "!circle info"),
    ("Tessera: circle info", "/circle info"),
    ("tessera, /circle info", "/circle info"),
    ("@tessera:example.org circle info", "/circle info"),
    ("tessera is on strike too", "tessera is on strike too"),
    ("see you at the picket", "see you at the picket"),
])
def test_commands_arrive_as_slash_commands_however_they_are_addressed(body, expected):
    assert command_text(body, {}, BOT, "Tessera") == expected


def test_a_mention_pill_counts_as_addressing_the_bot():
    content = {"m.mentions": {"user_ids": [BOT]}}
    assert command_text("Tessera circle info", content, BOT, "Tessera") == "/circle info"


def test_a_text_command_from_a_moderator_is_from_a_chat_admin():
    inc = incoming(event("m.room.message", msgtype="m.text", body="/circle info"))
    assert inc.text == "/circle info" and inc.chat_id == ROOM and inc.chat_title == "Depot"
    assert inc.sender.is_chat_admin and inc.sender.display_name == "Ana"
    assert inc.received_at.year == 2023


def test_a_reply_drops_the_quoted_fallback_and_names_the_message():
    inc = incoming(event("m.room.message", msgtype="m.text",
                         body="> <@tessera:example.org> Leg 2?\n\nyes, sending now",
                         **{"m.relates_to": {"m.in_reply_to": {"event_id": "$bot"}}}))
    assert inc.text == "yes, sending now" and inc.reply_to.message_id == "$bot"


def test_notices_edits_and_our_own_echo_are_ignored():
    assert incoming(event("m.room.message", msgtype="m.notice", body="/help")) is None
    assert incoming(event("m.room.message", msgtype="m.text", body="/help",
                          **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}})) is None
    assert incoming(event("m.room.message", BOT, msgtype="m.text", body="/help")) is None


def test_a_voice_note_is_an_attachment_to_download():
    inc = incoming(event("m.room.message", msgtype="m.audio", body="report.ogg",
                         url="mxc://example.org/abc", info={"mimetype": "audio/ogg",
                                                            "size": 1234, "duration": 4200},
                         **{"org.matrix.msc3245.voice": {}}))
    [att] = inc.attachments
    assert (att.kind, att.duration, att.size, att.platform_ref) == ("voice", 4.2, 1234,
                                                                    "mxc://example.org/abc")


def test_poll_responses_and_reactions_become_the_choice_command():
    relates = {"rel_type": "m.reference", "event_id": "$poll"}
    unstable = event("org.matrix.msc3381.poll.response", **{
        "org.matrix.msc3381.poll.response": {"answers": ["2"]}, "m.relates_to": relates})
    stable = event("m.poll.response", **{"m.selections": ["1"], "m.relates_to": relates})
    choices = {"1": "/vote 12 yes", "2": "/vote 12 no"}
    assert incoming(unstable, choices).text == "/vote 12 no"
    assert incoming(stable, choices).text == "/vote 12 yes"
    assert incoming(stable, {}) is None  # not a poll of ours (or closed)
    reaction = event("m.reaction", **{"m.relates_to": {"rel_type": "m.annotation",
                                                       "event_id": "$ask", "key": "Going"}})
    assert incoming(reaction, {"Going": "/rsvp 3 going"}).text == "/rsvp 3 going"
    assert incoming(reaction, {"Not this time": "/rsvp 3 no"}) is None


def test_membership_and_power_changes_become_chat_events():
    join = event("m.room.member", "@bo:example.org", membership="join", displayname="Bo")
    join.update(state_key="@bo:example.org", unsigned={"prev_content": {"membership": "invite"}})
    assert incoming(join).event == "joined"
    assert incoming(join).data["users"] == [{"user_id": "@bo:example.org", "display_name": "Bo"}]
    rename = dict(join, unsigned={"prev_content": {"membership": "join"}})
    assert incoming(rename) is None
    kicked = event("m.room.member", "@ana:example.org", membership="leave")
    kicked.update(state_key=BOT, unsigned={"prev_content": {"membership": "join"}})
    assert incoming(kicked).event == "bot_removed"
    levels = event("m.room.power_levels", users={"@ana:example.org": 100, "@bo:example.org": 50})
    levels["unsigned"] = {"prev_content": {"users": {"@ana:example.org": 100}}}
    promoted = incoming(levels)
    assert promoted.event == "admins"
    assert [u["user_id"] for u in promoted.data["users"]] == ["@bo:example.org"]


def test_a_fresh_rooms_backlog_ends_at_our_own_join():
    old = event("m.room.message", msgtype="m.text", body="/testvote old")
    ours = event("m.room.member", BOT, membership="join")
    ours.update(state_key=BOT, unsigned={"prev_content": {"membership": "invite"}})
    assert _own_join_index([old, ours, old], BOT) == 1
    assert _own_join_index([old], BOT) is None


def test_text_renders_as_html_with_a_plain_body_and_choices_as_reactions():
    [part] = render(Outgoing(text="**Strike** at [the depot](https://x.org)",
                             choices=[Choice("Going", "/rsvp 1 going")]))
    assert part.content["msgtype"] == "m.notice"
    assert part.content["body"].startswith("Strike at the depot (https://x.org)")
    assert '<b>Strike</b> at <a href="https://x.org">the depot</a>' in part.content["formatted_body"]
    assert "/rsvp 1 going" in part.content["body"]
    assert part.reactions == ("Going",) and part.choices == {"Going": "/rsvp 1 going"}


def test_a_long_text_is_split_and_a_reply_goes_on_the_first_part():
    parts = render(Outgoing(text="word " * 5000, reply_to="$asked"), text_limit=4000)
    assert len(parts) > 1
    assert parts[0].content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$asked"}}
    assert all("m.relates_to" not in p.content for p in parts[1:])


def test_voice_polls_and_poll_ends_render_as_their_msc_events():
    voice = Attachment("voice", "audio/ogg", 99, "leg.ogg", duration=2.5, path="ab/x.ogg")
    [audio] = render(Outgoing(attachments=[voice]))
    assert audio.attachment is voice and audio.content["msgtype"] == "m.audio"
    assert audio.content["org.matrix.msc3245.voice"] == {}
    assert audio.content["org.matrix.msc1767.audio"] == {"duration": 2500}
    fallback, poll = render(Outgoing(poll=Poll("Strike?", [Choice("Yes", "/vote 1 yes"),
                                                           Choice("No", "/vote 1 no")], "ballot:1")))
    assert "/vote 1 no" in fallback.content["body"]
    assert poll.event_type == POLL_START and poll.poll_ref == "ballot:1"
    assert poll.choices == {"1": "/vote 1 yes", "2": "/vote 1 no"}
    [end] = render(Outgoing(close_ref="ballot:1"))
    assert end.event_type == POLL_END and end.close_ref == "ballot:1"


def test_a_429_becomes_retry_after_for_the_whole_account():
    from nio import RoomSendError
    limited = RoomSendError.from_dict({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many",
                                       "retry_after_ms": 2500}, ROOM)
    with pytest.raises(RetryAfter) as caught:
        _raise_for(limited)
    assert caught.value.seconds == 2.5 and caught.value.scope == "global"
    forbidden = RoomSendError.from_dict({"errcode": "M_FORBIDDEN", "error": "not in room"}, ROOM)
    with pytest.raises(DeliveryError) as refused:
        _raise_for(forbidden)
    assert refused.value.permanent


def test_encryption_notices_speak_the_circles_or_the_senders_language(tmp_path):
    from datetime import datetime, timezone

    from adapters.matrix_adapter import MatrixAdapter
    from core.storage import make_engine, unit_of_work, upgrade
    from core.storage.models import Account, Circle, Network, Person

    now = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with unit_of_work(engine) as s:
        net = Network(name="Net", created_at=now)
        s.add(net)
        s.flush()
        s.add(Circle(network_id=net.id, name="Cairo", city="Cairo", country="EG",
                     timezone="Africa/Cairo", language="ar", platform="matrix", chat_id=ROOM,
                     active_from=now))
        olena = Person(display_name="Olena", language="uk", created_at=now)
        s.add(olena)
        s.flush()
        s.add(Account(person_id=olena.id, platform="matrix", platform_user_id="@olena:example.org",
                      display_name="Olena"))
    with unit_of_work(engine) as s:
        assert MatrixAdapter._room_language(s, ROOM, "@olena:example.org") == "ar"
        assert MatrixAdapter._room_language(s, "!elsewhere:x", "@olena:example.org") == "uk"
        assert MatrixAdapter._room_language(s, "!elsewhere:x", "@nobody:x") == "en"
    engine.dispose()

"""How Tessera's neutral messages look on Discord (pure rendering, no connection)."""
from __future__ import annotations

from adapters.discord_adapter import intents, is_error_reply, render_parts
from adapters.discord_slash import custom_id
from core import i18n
from core.commands import Registry
from core.dispatcher import usage_reply
from core.messages import Attachment, Choice, Outgoing, Poll


def test_text_is_split_at_2000_characters_without_breaking_markup():
    text = ("Solidarity from **Gaziantep** to the Lagos tenants. " * 120).strip()
    parts = render_parts(Outgoing(text=text))
    assert len(parts) >= 3 and all(len(p.content) <= 2000 for p in parts)
    assert all(p.content.count("**") % 2 == 0 for p in parts)


def test_markup_becomes_discord_markdown():
    (part,) = render_parts(Outgoing(text="**Relay 3** closes __tonight__: see [the map](https://t.example/m)"))
    assert part.content == "**Relay 3** closes *tonight*: see [the map](https://t.example/m)"


def test_audio_and_images_ride_as_files_with_their_captions():
    voice = Attachment("voice", "audio/ogg", 100, "leg-2.ogg", path="ab/abc.ogg", caption="From **Berlin**")
    photo = Attachment("image", "image/png", 100, "banner.png", path="cd/cde.png")
    text, files = render_parts(Outgoing(text="Leg 2", attachments=[voice, photo]))
    assert text.content == "Leg 2" and not text.files
    assert files.files == [voice, photo] and files.content == "**Berlin**".join(["From ", ""])


def test_more_than_ten_files_take_several_messages():
    atts = [Attachment("image", "image/png", 1, f"p{i}.png", path=f"p{i}") for i in range(13)]
    parts = render_parts(Outgoing(attachments=atts))
    assert [len(p.files) for p in parts] == [10, 3]


def test_a_ballot_becomes_buttons_under_its_question():
    ballot = Outgoing(text="Ballot 4 is open until Friday.", poll=Poll(
        "Send 250 EUR to the strike kitchen?",
        [Choice("Yes", "/ballot vote 4 yes"), Choice("No", "/ballot vote 4 no")], ref="ballot:4"))
    (part,) = render_parts(ballot)
    assert part.content == "Ballot 4 is open until Friday.\n\n**Send 250 EUR to the strike kitchen?**"
    assert part.buttons == [("Yes", custom_id("/ballot vote 4 yes")), ("No", custom_id("/ballot vote 4 no"))]


def test_rsvp_choices_sit_on_the_last_part_and_stop_at_25():
    many = [Choice(f"Slot {i}", f"/rsvp 9 {i}") for i in range(30)]
    parts = render_parts(Outgoing(text="x " * 1500, choices=many))
    assert not parts[0].buttons and len(parts[-1].buttons) == 25
    (only,) = render_parts(Outgoing(choices=[Choice("I'll be there", "/rsvp 9 yes")]))
    assert only.content and only.buttons == [("I'll be there", custom_id("/rsvp 9 yes"))]


def test_the_cores_error_replies_are_recognised_and_its_answers_are_not():
    from bots.app import all_features
    cmd = Registry(all_features()).by_name["circle join"]
    usage = usage_reply("en", cmd, "/", i18n.t("en", "args.missing", name="code"))
    assert is_error_reply(Outgoing(text=usage))
    assert is_error_reply(Outgoing(text=i18n.t("en", "errors.coordinators_only", command="circle invite")))
    assert is_error_reply(Outgoing(text=i18n.t("en", "errors.circle_only", command="relay start")))
    assert not is_error_reply(Outgoing(text="Invite code: `AB12-CD34` (5 uses, 14 days)."))


def test_the_intents_are_those_the_docs_ask_for():
    i = intents()
    assert i.message_content and i.members and i.guilds and i.guild_messages and i.dm_messages
    assert not i.presences

"""Circles living in Telegram groups: registered, staffed and followed through changes.

Alice administers the Berlin strike group; Bob and Dana are members. Everything goes
through the real python-telegram-bot and the local Bot API server.
"""
from __future__ import annotations

from sqlmodel import select

from core.storage import unit_of_work
from core.storage.models import Account, Membership, Person
from tests.telegram.conftest import code_in

BERLIN = -1001000000001
OLD_GROUP = -4000000001
NEW_SUPERGROUP = -1004000000001


def roles(suite, circle_id: int) -> dict[str, bool]:
    """Display name -> is coordinator, for the circle's members."""
    with unit_of_work(suite.engine) as s:
        rows = s.exec(select(Person, Membership).join(Membership, Membership.person_id == Person.id)
                      .where(Membership.circle_id == circle_id, Membership.left_at == None)  # noqa: E711
                      ).all()
        return {p.display_name: m.is_coordinator for p, m in rows}


async def register(suite, chat_id, admin, city="Berlin", country="DE", zone="Europe/Berlin"):
    server = suite.server
    before = len(server.sent_to(chat_id))
    server.push_message(chat_id, admin, "/network create Depot Strike Network")
    created = await suite.reply_in(chat_id, before)
    server.push_message(chat_id, admin,
                        f"/circle@tessera_test_bot join {code_in(created.text)} {city} {country} {zone} en")
    joined = await suite.reply_in(chat_id, before + 1)
    return joined


async def test_a_circle_is_registered_from_a_telegram_group(suite):
    server = suite.server
    alice = server.user(1001, "Alice", "alice_berlin")
    bob = server.user(1002, "Bob")
    carol = server.user(1003, "Carol")
    server.add_group(BERLIN, "Berlin depot", admins=[alice, carol], members=[bob])

    joined = await register(suite, BERLIN, alice)

    assert joined.text.startswith("This chat is now the circle")
    assert joined.parse_mode == "HTML"
    circle = suite.circle(BERLIN)
    assert (circle.name, circle.city, circle.timezone) == ("Berlin depot", "Berlin", "Europe/Berlin")
    # Bob, a plain member, asks about the circle with the bare command.
    n = len(server.sent_to(BERLIN))
    server.push_message(BERLIN, bob, "/circle info")
    info = await suite.reply_in(BERLIN, n)
    assert "Berlin" in info.text
    # Both chat administrators are coordinators (Carol never spoke); Bob is a member.
    assert roles(suite, circle.id) == {"Alice": True, "Carol": True, "Bob": False}


async def test_commands_for_another_bot_are_left_alone(suite):
    server = suite.server
    alice = server.user(1001, "Alice", "alice_berlin")
    server.add_group(BERLIN, "Berlin depot", admins=[alice])

    server.push_message(BERLIN, alice, "/help@some_other_bot")
    server.push_message(BERLIN, alice, "/whoami@tessera_test_bot")
    [reply] = await server.wait_for_sent(chat_id=BERLIN)
    await suite.handled(2)

    assert "Alice" in reply.text and len(server.sent_to(BERLIN)) == 1


async def test_new_members_join_and_the_circle_follows_a_supergroup_migration(suite):
    server = suite.server
    alice = server.user(1001, "Alice", "alice_berlin")
    dana = server.user(1004, "Dana")
    server.add_group(OLD_GROUP, "Berlin depot", admins=[alice])
    await register(suite, OLD_GROUP, alice)
    circle_id = suite.circle(OLD_GROUP).id
    handled = suite.adapter.handled_count

    server.push_new_members(OLD_GROUP, [dana], by=alice)
    server.push_migrate(OLD_GROUP, NEW_SUPERGROUP)
    await suite.handled(handled + 3)

    assert roles(suite, circle_id) == {"Alice": True, "Dana": False}
    moved = suite.circle(NEW_SUPERGROUP)
    assert moved is not None and moved.id == circle_id
    assert suite.circle(OLD_GROUP) is None
    # The circle keeps working in the supergroup.
    server.push_message(NEW_SUPERGROUP, dana, "/circle info")
    [info] = await server.wait_for_sent(chat_id=NEW_SUPERGROUP)
    assert "Berlin" in info.text


async def test_the_bot_added_to_a_group_greets_and_removed_leaves_the_circle(suite):
    server = suite.server
    alice = server.user(1001, "Alice", "alice_berlin")
    server.add_group(BERLIN, "Berlin depot", admins=[alice], bot_status="left")

    server.push_bot_added(BERLIN, by=alice)
    [welcome] = await server.wait_for_sent(chat_id=BERLIN)
    assert "/circle join" in welcome.text or "circle" in welcome.text.lower()
    await register(suite, BERLIN, alice)
    circle_id = suite.circle(BERLIN).id
    handled = suite.adapter.handled_count

    server.push_bot_removed(BERLIN, by=alice)
    await suite.handled(handled + 1)

    assert suite.circle(BERLIN) is None  # no active circle lives there any more
    with unit_of_work(suite.engine) as s:
        assert s.exec(select(Account).where(Account.platform_user_id == str(alice.id))).first()
    assert circle_id

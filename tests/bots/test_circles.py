"""Circles and networks, as people in chats experience them."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core.storage import unit_of_work
from core.storage.models import Circle, Membership, Person

THREE = (
    ("chicago", "Chicago", "US", "America/Chicago", "en"),
    ("gaziantep", "Gaziantep", "TR", "Europe/Istanbul", "tr"),
    ("lagos", "Lagos", "NG", "Africa/Lagos", "en"),
)


async def test_a_network_of_three_circles_on_three_platforms(any_town):
    town = any_town
    await town.network(*THREE, platform_of={"gaziantep": "alpha", "lagos": "beta"})
    out = await town.say("lagos", "amaka", "/circles", platform="beta")
    listing = out[-1]
    for city in ("Chicago", "Gaziantep", "Lagos"):
        assert city in listing
    assert "alpha" in listing and "beta" in listing and "console" in listing
    # Chicago heard about both newcomers, in order.
    heard = [t for t in town.texts("chicago") if "new circle joined" in t]
    assert [("Gaziantep" in heard[0]), ("Lagos" in heard[1])] == [True, True]


async def test_joiner_becomes_coordinator_and_others_are_members(town):
    await town.network(THREE[2])
    await town.say("lagos", "tunde", "hello everyone")  # not a command: no reply
    assert town.last("lagos").startswith("This chat is now the circle")
    out = await town.say("lagos", "tunde", "/circle invite")
    assert "Only this circle's coordinators" in out[-1]
    out = await town.say("lagos", "lagos_coord", "/coordinator add tunde")
    assert "Tunde is now a coordinator" in out[-1]
    out = await town.say("lagos", "tunde", "/circle members")
    assert "Tunde · coordinator" in out[-1]


async def test_chat_admins_become_coordinators(town):
    await town.network(THREE[2])
    out = await town.say("lagos", "bisi", "/circle invite", admin=True)
    assert "Invite code" in out[-1]


async def test_bad_invite_codes_are_explained(town):
    out = await town.say("lagos", "amaka", "/circle join NOPE-NOPE Lagos NG Africa/Lagos")
    assert "don't know that invite code" in out[-1]
    out = await town.say("lagos", "amaka", "/circle join ABCD-EFGH Lagos Nigeria Africa/Lagos")
    assert "two-letter country code" in out[-1]
    out = await town.say("lagos", "amaka", "/circle join ABCD-EFGH Lagos NG Mars/Olympus")
    assert "not a time zone" in out[-1] and "Usage: /circle join <code>" in out[-1]


async def test_linking_accounts_makes_one_person(town):
    await town.network(THREE[0], THREE[2], platform_of={"lagos": "beta"})
    await town.say("chicago", "maria", "/whoami")
    out = await town.say("chicago", "maria", "/link")
    assert "private message" in out[-1]
    dm = town.direct_to("maria")[-1]
    code = dm.split("link code is ")[1].split(".")[0].strip()
    out = await town.say("lagos", "maria_on_beta", f"/link {code}", platform="beta")
    assert "now one person" in out[-1]
    with unit_of_work(town.app.services.engine) as s:
        people = s.exec(select(Person).where(Person.display_name.in_(["Maria", "Maria_on_beta"]))).all()
        assert len(people) == 1
        rows = s.exec(select(Membership).where(Membership.person_id == people[0].id)).all()
        assert len(rows) == 2  # member in Chicago (console) and Lagos (beta)
    out = await town.say("lagos", "maria_on_beta", f"/link {code}", platform="beta")
    assert "wrong or has expired" in out[-1]


async def test_circle_leaves_and_others_are_told(town):
    await town.network(THREE[0], THREE[2])
    out = await town.say("lagos", "lagos_coord", "/circle leave")
    assert "has left" in out[-1]
    assert "Lagos (Lagos) has left" in town.last("chicago")
    out = await town.say("lagos", "lagos_coord", "/circle info")
    assert "not a circle" in out[-1] or "works in a circle" in out[-1]


async def test_time_boxed_circle_is_warned_then_closed(town):
    await town.network(THREE[2])
    out = await town.say("lagos", "lagos_coord", "/circle set until 2026-03-10")
    assert "until" in out[-1]
    notice = await town.wait(timedelta(days=6))  # 2026-03-08: three days before the end
    assert any("closes on" in t for t in notice)
    closed = await town.wait(timedelta(days=3))
    assert any("reached its end date" in t for t in closed)
    with unit_of_work(town.app.services.engine) as s:
        assert s.exec(select(Circle)).one().left_at is not None


async def test_chat_moved_keeps_the_circle(town):
    await town.network(THREE[2])
    await town.event("lagos", "chat_moved", new_chat_id="lagos-super")
    out = await town.say("lagos-super", "lagos_coord", "/circle info")
    assert "Lagos" in out[-1] and "Network: Test Network" in out[-1]


async def test_linking_a_person_with_history_keeps_the_audit_trail(town):
    # The person who links has already done things (audit rows) in two circles.
    await town.network(THREE[0], THREE[2], platform_of={"lagos": "beta"})
    await town.say("chicago", "maria", "/circle invite")  # refused, but maria now exists
    await town.say("lagos", "lagos_coord", "/circle invite", platform="beta")
    await town.say("chicago", "maria", "/link")
    code = town.direct_to("maria")[-1].split("link code is ")[1].split(".")[0].strip()
    out = await town.say("lagos", "lagos_coord", f"/link {code}", platform="beta")
    assert "now one person" in out[-1]
    from core.storage.models import AuditEntry
    with unit_of_work(town.app.services.engine) as s:
        maria = s.exec(select(Person).where(Person.display_name == "Maria")).one()
        actions = [a.action for a in s.exec(select(AuditEntry).where(AuditEntry.person_id == maria.id))]
    assert "circle.join" in actions and "circle.invite" in actions and "person.link" in actions


async def test_countries_are_named_in_each_circles_language(town):
    await town.network(("kharkiv", "Kharkiv", "UA", "Europe/Kyiv", "uk"),
                       ("lagos", "Lagos", "NG", "Africa/Lagos", "es"))
    # Kharkiv was told of the newcomer in Ukrainian, Lagos reads about itself in Spanish.
    assert any("(Lagos, Нігерія)" in t for t in town.texts("kharkiv"))
    out = await town.say("lagos", "amaka", "/circle info")
    assert "Lagos, Nigeria" in out[-1] and ", NG" not in out[-1]
    out = await town.say("kharkiv", "olena", "/circles")
    assert "Україна" in out[-1] and "Нігерія" in out[-1]

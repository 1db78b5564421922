"""What every message reads first: who speaks, in which circle. Known senders come as
read-only snapshots; what the platform says about them is still stored."""
from __future__ import annotations

import pytest
from sqlmodel import select

from core.messages import Incoming, Sender
from core.storage import unit_of_work
from core.storage.models import Account, Circle, Membership, Person
from core.storage.snapshot import ReadOnlySnapshot, Snapshot
from core.work import Context

LAGOS = ("lagos", "Lagos", "NG", "Africa/Lagos", "en")


def test_a_snapshot_reads_like_its_row_and_refuses_changes():
    seen = Snapshot(Person, {"id": 7, "display_name": "Amaka", "language": "en"})
    assert (seen.id, seen.display_name, seen.model) == (7, "Amaka", Person)
    with pytest.raises(ReadOnlySnapshot, match="ctx.editable"):
        seen.language = "fr"
    assert seen.language == "en"
    assert seen.changed(language="fr").language == "fr" and seen.language == "en"
    # Equal to the stored row's object, so it is found among loaded rows.
    assert seen == Person(id=7, display_name="someone else", created_at=None)
    assert seen != Person(id=8, display_name="Amaka", created_at=None)
    assert seen != Snapshot(Circle, {"id": 7})
    assert seen in [Person(id=3, display_name="x"), Person(id=7, display_name="y")]


async def _say(town, user: str, name: str, text: str, admin: bool = False) -> None:
    await town.app.dispatcher.handle(Incoming(
        platform="console", chat_id="lagos", chat_title="Lagos",
        sender=Sender(user, name, is_chat_admin=admin), text=text))
    await town.app.settle()


def _rows(town, user: str) -> tuple[Account, Membership]:
    with unit_of_work(town.app.services.engine) as s:
        acc = s.exec(select(Account).where(Account.platform_user_id == user)).one()
        m = s.exec(select(Membership).where(Membership.person_id == acc.person_id)).one()
        return acc, m


async def test_a_new_display_name_and_admin_rights_are_stored(town):
    await town.network(LAGOS)
    await _say(town, "tunde", "Tunde", "/whoami")
    acc, m = _rows(town, "tunde")
    assert acc.display_name == "Tunde" and not m.is_coordinator
    await _say(town, "tunde", "Tunde Bakare", "/whoami", admin=True)
    acc, m = _rows(town, "tunde")
    assert acc.display_name == "Tunde Bakare" and m.is_coordinator
    assert "Tunde Bakare" in town.last("lagos")  # the reply already used the new name


async def test_a_member_who_left_and_speaks_again_is_back(town, clock):
    await town.network(LAGOS)
    await _say(town, "bisi", "Bisi", "/whoami")
    with unit_of_work(town.app.services.engine) as s:
        m = s.exec(select(Membership).join(Person, Person.id == Membership.person_id)
                   .where(Person.display_name == "Bisi")).one()
        m.left_at = clock.now()
        s.add(m)
    await _say(town, "bisi", "Bisi", "/circle members")
    _, m = _rows(town, "bisi")
    assert m.left_at is None and m.joined_at is not None
    assert "Bisi" in town.last("lagos")


async def test_changing_what_a_command_was_given_goes_through_the_stored_row(town):
    await town.network(LAGOS)
    await _say(town, "amaka", "Amaka", "/tz Europe/Berlin")
    assert "Europe/Berlin" in town.last("lagos")  # said in the zone just chosen
    with unit_of_work(town.app.services.engine) as s:
        person = s.exec(select(Person).where(Person.display_name == "Amaka")).one()
        assert person.timezone == "Europe/Berlin"
        # editable() hands the stored row over and the context keeps it from then on.
        from core.circles import whereabouts
        acc, seen, circle, network, m = whereabouts(s, "console", "amaka", "Amaka", "lagos",
                                                    town.clock.now())
        assert isinstance(seen, Snapshot) and isinstance(circle, Snapshot)
        ctx = Context(town.app.services, s, town.clock.now(), None, seen, acc, circle,
                      network, m)
        row = ctx.editable(ctx.circle)
        assert isinstance(row, Circle) and ctx.circle is row and ctx.editable(row) is row
        row.name = "Lagos North"
    with unit_of_work(town.app.services.engine) as s:
        assert s.get(Circle, circle.id).name == "Lagos North"

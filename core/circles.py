"""Networks, circles and people: the service layer every feature stands on.

A *network* is a federation of *circles*; each circle lives in one chat on one platform.
A *person* may have accounts on several platforms (joined with a one-time link code), and
counts once wherever it matters (votes, RSVPs).
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import and_, bindparam, select as sa_select, update as sa_update
from sqlmodel import Session, select

from core.storage import repoint
from core.storage.snapshot import Snapshot, columns_of, snapshots

from core.messages import Incoming
from core.storage.models import (
    Account, AuditEntry, Circle, InviteCode, LinkCode, Membership, Network, Person,
)

# Unambiguous letters and digits for codes people read aloud or type on a phone.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_code(groups: int = 2, size: int = 4) -> str:
    """A random code such as "K7QP-M2XR"."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(size)) for _ in range(groups))


def circle_for_chat(session: Session, platform: str, chat_id: str) -> Circle | None:
    """The active circle living in this chat, if any."""
    return session.exec(
        select(Circle).where(Circle.platform == platform, Circle.chat_id == str(chat_id),
                             Circle.left_at == None)  # noqa: E711
    ).first()


def active_circles(session: Session, network_id: int, now: datetime) -> list[Circle]:
    """Circles of a network that are active at `now`, oldest first."""
    rows = session.exec(
        select(Circle).where(Circle.network_id == network_id, Circle.left_at == None)  # noqa: E711
        .order_by(Circle.id)
    ).all()
    return [c for c in rows if _active(c, now)]


def _active(c: Circle, now: datetime) -> bool:
    return c.active_from <= now and (c.active_until is None or now < c.active_until)


def find_circle(session: Session, network_id: int, ref: str) -> Circle | None:
    """A circle of the network by id ("#3", "3"), name or city (case-insensitive)."""
    ref = ref.strip().lstrip("#")
    rows = session.exec(select(Circle).where(Circle.network_id == network_id,
                                             Circle.left_at == None)).all()  # noqa: E711
    if ref.isdigit():
        return next((c for c in rows if c.id == int(ref)), None)
    low = ref.lower()
    for attr in ("name", "city"):
        hit = [c for c in rows if getattr(c, attr).lower() == low]
        if len(hit) == 1:
            return hit[0]
    return None


def sender_of(session: Session, platform: str, user_id: str, display_name: str,
              now: datetime) -> tuple[Account, Person]:
    """The account and person of a platform user (one query), created on first sight.

    Only the display name and the account id are kept (data minimisation).
    """
    row = session.exec(
        select(Account, Person).join(Person, Person.id == Account.person_id)
        .where(Account.platform == platform, Account.platform_user_id == str(user_id))
    ).first()
    if row is None:
        person = Person(display_name=display_name or str(user_id), created_at=now)
        session.add(person)
        session.flush()
        acc = Account(person_id=person.id, platform=platform, platform_user_id=str(user_id),
                      display_name=display_name)
        session.add(acc)
        session.flush()
        return acc, person
    acc, person = row
    if display_name and acc.display_name != display_name:
        acc.display_name = display_name
        session.add(acc)
    return acc, person


def account_for(session: Session, platform: str, user_id: str, display_name: str,
                now: datetime) -> Account:
    """The account of a platform user, created (with its person) on first sight."""
    return sender_of(session, platform, user_id, display_name, now)[0]


def circle_and_network(session: Session, platform: str, chat_id: str) -> tuple[Circle, Network] | None:
    """The active circle living in this chat and its network (one query), if any."""
    return session.exec(
        select(Circle, Network).join(Network, Network.id == Circle.network_id)
        .where(Circle.platform == platform, Circle.chat_id == str(chat_id),
               Circle.left_at == None)  # noqa: E711
    ).first()


_SEEN = (Account, Person, Circle, Network, Membership)  # in the order of the row's columns


@lru_cache(maxsize=1)
def _whereabouts_statement():
    # Built once: composing a statement costs more than running it on SQLite, and every
    # command needs this one. Circle and membership are outer joins, so a direct message or
    # a chat without a circle still finds the sender. Plain table columns: the row becomes
    # snapshots (core.storage.snapshot), not five objects for the session to track.
    a, p, c, n, m = (model.__table__ for model in _SEEN)
    same_chat = and_(c.c.platform == bindparam("platform"), c.c.chat_id == bindparam("chat"),
                     c.c.left_at == None)  # noqa: E711
    joined = (a.join(p, p.c.id == a.c.person_id).outerjoin(c, same_chat)
              .outerjoin(n, n.c.id == c.c.network_id)
              .outerjoin(m, and_(m.c.person_id == p.c.id, m.c.circle_id == c.c.id)))
    return (sa_select(*columns_of(*_SEEN)).select_from(joined)
            .where(a.c.platform == bindparam("platform"), a.c.platform_user_id == bindparam("user"))
            .limit(1))


def whereabouts(session: Session, platform: str, user_id: str, display_name: str,
                chat_id: str | None, now: datetime, is_admin: bool = False):
    """(account, person, circle, network, membership) of a message, in one query when the
    sender is known: who speaks, in which circle (None in a direct chat or an unknown chat),
    and their membership there (created on first sight, as `membership_for` does).

    A known sender's rows come as read-only snapshots (`Work.editable` loads one to change
    it); rows created here on first sight are ORM objects.
    """
    found = snapshots(session, _whereabouts_statement(), {
        "platform": platform, "user": str(user_id),
        "chat": "" if chat_id is None else str(chat_id)}, *_SEEN)
    if not found:  # first sight of this account: the slower path creates it
        acc, person = sender_of(session, platform, user_id, display_name, now)
        found = None if chat_id is None else circle_and_network(session, platform, chat_id)
        if found is None:
            return acc, person, None, None, None
        circle, network = found
        return acc, person, circle, network, membership_for(session, person.id, circle.id, now,
                                                            is_admin)
    acc, person, circle, network, m = found[0]
    if display_name and acc.display_name != display_name:
        acc = _change(session, acc, display_name=display_name)
    if circle.id is None or chat_id is None:
        return acc, person, None, None, None
    if m.id is None:
        return acc, person, circle, network, membership_for(session, person.id, circle.id, now,
                                                            is_admin)
    changes = _membership_refresh(m, now, is_admin)
    if changes:
        m = _change(session, m, **changes)
    return acc, person, circle, network, m


def _change(session: Session, seen: Snapshot, **values) -> Snapshot:
    """Write `values` to the row behind a snapshot (one UPDATE); the changed snapshot."""
    table = seen.model.__table__
    session.execute(sa_update(table).where(table.c.id == seen.id).values(**values))
    return seen.changed(**values)


def _membership_refresh(m, now: datetime, is_admin: bool) -> dict:
    """What a message from a member says about their membership: back after leaving, or
    made a chat admin (the platform already trusts them with the chat)."""
    changes: dict = {}
    if m.left_at is not None:
        changes.update(left_at=None, joined_at=now)
    if is_admin and not m.is_coordinator:
        changes["is_coordinator"] = True
    return changes


def _refresh_membership(session: Session, m: Membership, now: datetime, is_admin: bool) -> None:
    changes = _membership_refresh(m, now, is_admin)
    for name, value in changes.items():
        setattr(m, name, value)
    if changes:
        session.add(m)


def membership_for(session: Session, person_id: int, circle_id: int, now: datetime,
                   is_admin: bool = False) -> Membership:
    """The person's membership in the circle, created (joined now) on first sight.

    A chat admin becomes a coordinator: the platform already trusts them with the chat.
    """
    m = session.exec(select(Membership).where(Membership.person_id == person_id,
                                              Membership.circle_id == circle_id)).first()
    if m is None:
        m = Membership(person_id=person_id, circle_id=circle_id, joined_at=now,
                       is_coordinator=is_admin)
        session.add(m)
        session.flush()
    else:
        _refresh_membership(session, m, now, is_admin)
    return m


def create_network(session: Session, name: str, founder: Person, now: datetime,
                   invite_days: int = 14, invite_uses: int = 20) -> tuple[Network, InviteCode]:
    """Create a network and its first invite code."""
    net = Network(name=name, created_by=founder.id, created_at=now)
    session.add(net)
    session.flush()
    return net, create_invite(session, net.id, founder.id, now, invite_days, invite_uses)


def create_invite(session: Session, network_id: int, person_id: int | None, now: datetime,
                  days: int = 14, uses: int = 1) -> InviteCode:
    """A code with which `uses` chats may join the network within `days`."""
    code = InviteCode(code=new_code(), network_id=network_id, created_by=person_id,
                      created_at=now, expires_at=now + timedelta(days=days), uses_left=uses)
    session.add(code)
    return code


class InviteProblem(ValueError):
    """The invite code is unknown, used up or expired (the message is a catalog key)."""


def redeem_invite(session: Session, code: str, now: datetime) -> Network:
    """Use one use of an invite code and return its network."""
    inv = session.get(InviteCode, code.strip().upper())
    if inv is None:
        raise InviteProblem("circles.invite_unknown")
    if inv.expires_at <= now:
        raise InviteProblem("circles.invite_expired")
    if inv.uses_left <= 0:
        raise InviteProblem("circles.invite_used")
    inv.uses_left -= 1
    session.add(inv)
    return session.get(Network, inv.network_id)


def register_circle(session: Session, network: Network, incoming: Incoming, *, city: str,
                    country: str, timezone: str, language: str, now: datetime,
                    until: datetime | None = None, name: str | None = None) -> Circle:
    """Make the chat of `incoming` a circle of `network`.

    A chat that left earlier comes back as the same circle (its history kept).
    """
    old = session.exec(select(Circle).where(Circle.platform == incoming.platform,
                                            Circle.chat_id == str(incoming.chat_id))).first()
    circle = old or Circle(network_id=network.id, name="", city="", country="", timezone="",
                           language="", platform=incoming.platform, chat_id=str(incoming.chat_id),
                           active_from=now)
    circle.network_id = network.id
    circle.name = name or incoming.chat_title or city
    circle.city, circle.country = city, country.upper()
    circle.timezone, circle.language = timezone, language
    circle.active_from, circle.active_until, circle.left_at = now, until, None
    circle.expiry_notice_sent = False
    session.add(circle)
    session.flush()
    return circle


def people_in_circle(session: Session, circle_id: int) -> list[tuple[Person, Membership]]:
    """Current members of a circle with their memberships (read-only snapshots)."""
    return snapshots(session, _people_statement(), {"circle": circle_id}, Person, Membership)


@lru_cache(maxsize=1)
def _people_statement():
    # Composed once: /circle info and every roster read it.
    p, m = Person.__table__, Membership.__table__
    return (sa_select(*columns_of(Person, Membership)).join_from(p, m, m.c.person_id == p.c.id)
            .where(m.c.circle_id == bindparam("circle"), m.c.left_at == None))  # noqa: E711


def find_member(session: Session, circle_id: int, ref: str) -> Person | None:
    """A member of the circle by display name (case-insensitive, unique prefix) or "@id"."""
    ref = ref.strip().lstrip("@").lower()
    members = people_in_circle(session, circle_id)
    accounts = {a.person_id: a for a in session.exec(select(Account).where(
        Account.person_id.in_([p.id for p, _ in members] or [-1]))).all()}
    exact = [p for p, _ in members if p.display_name.lower() == ref
             or (accounts.get(p.id) and accounts[p.id].platform_user_id.lower().lstrip("@") == ref)]
    if len(exact) == 1:
        return exact[0]
    prefix = [p for p, _ in members if p.display_name.lower().startswith(ref)]
    return prefix[0] if len(prefix) == 1 else None


def create_link_code(session: Session, person: Person, now: datetime) -> LinkCode:
    """A one-time code (valid 15 minutes) to join another account to this person."""
    for old in session.exec(select(LinkCode).where(LinkCode.person_id == person.id)).all():
        session.delete(old)
    code = LinkCode(code=new_code(groups=2, size=3), person_id=person.id,
                    expires_at=now + timedelta(minutes=15))
    session.add(code)
    return code


def redeem_link_code(session: Session, code: str, account: Account, now: datetime,
                     mergers: tuple = ()) -> Person:
    """Move `account` (and everything its person did) to the person who made the code.

    Raises InviteProblem with a catalog key when the code is bad.
    """
    link = session.get(LinkCode, code.strip().upper())
    if link is None or link.expires_at <= now:
        raise InviteProblem("circles.link_bad")
    target = session.get(Person, link.person_id)
    session.delete(link)
    if target.id == account.person_id:
        raise InviteProblem("circles.link_same")
    merge_people(session, source_id=account.person_id, target_id=target.id, mergers=mergers)
    return target


def merge_people(session: Session, source_id: int, target_id: int, mergers: tuple = ()) -> None:
    """Fold person `source_id` into `target_id`: accounts and memberships move over.

    `mergers` are the features' own functions `(session, source_id, target_id)` (declared
    with `Feature.on_person_merge`) so their rows stay consistent, e.g. one vote per person.
    """
    for acc in session.exec(select(Account).where(Account.person_id == source_id)).all():
        acc.person_id = target_id
        session.add(acc)
    for m in session.exec(select(Membership).where(Membership.person_id == source_id)).all():
        twin = session.exec(select(Membership).where(Membership.person_id == target_id,
                                                     Membership.circle_id == m.circle_id)).first()
        if twin is None:
            m.person_id = target_id
            session.add(m)
        else:
            # Keep the earlier join (membership age) and the stronger roles.
            twin.joined_at = min(twin.joined_at, m.joined_at)
            twin.is_coordinator |= m.is_coordinator
            twin.is_steward |= m.is_steward
            session.add(twin)
            session.delete(m)
    for column in (AuditEntry.person_id, Network.created_by, InviteCode.created_by):
        repoint(session, column, source_id, target_id)
    for code in session.exec(select(LinkCode).where(LinkCode.person_id == source_id)).all():
        session.delete(code)
    session.flush()
    for merger in mergers:
        merger(session, source_id, target_id)
    source = session.get(Person, source_id)
    if source is not None:
        session.delete(source)


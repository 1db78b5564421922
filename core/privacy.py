"""What Tessera keeps about a person, handed back on request or erased.

Export gathers the foundation's rows (person, accounts, memberships, audit trail) and each
feature's own section. Erasure removes names, platform account ids and texts; the person row
stays as a numbered, nameless stub so ledgers and tallies that reference its id stay
consistent (and the ledger still verifies, since it only ever held ids).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, select

from core.retention import release
from core.storage.models import (
    Account, AdapterState, AuditEntry, Circle, ExpiredMedia, LinkCode, Membership, OutboxMessage,
    Person,
)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def export_person(session: Session, person_id: int, exporters: dict[str, list]) -> dict[str, Any]:
    """Everything stored about a person, as JSON-ready data."""
    person = session.get(Person, person_id)
    if person is None:
        raise KeyError(person_id)
    data: dict[str, Any] = {
        "person": {"id": person.id, "display_name": person.display_name,
                   "language": person.language, "timezone": person.timezone,
                   "created_at": _iso(person.created_at), "erased_at": _iso(person.erased_at)},
        "accounts": [{"platform": a.platform, "account_id": a.platform_user_id,
                      "display_name": a.display_name}
                     for a in session.exec(select(Account).where(Account.person_id == person_id))],
        "memberships": [{"circle_id": m.circle_id, "joined_at": _iso(m.joined_at),
                         "left_at": _iso(m.left_at), "coordinator": m.is_coordinator,
                         "steward": m.is_steward}
                        for m in session.exec(select(Membership).where(Membership.person_id == person_id))],
        "audit": [{"at": _iso(e.at), "action": e.action, "circle_id": e.circle_id,
                   "details": e.details}
                  for e in session.exec(select(AuditEntry).where(AuditEntry.person_id == person_id)
                                        .order_by(AuditEntry.id))],
    }
    data["expired_media"] = _expired_media(session, person_id)
    for feature, fns in exporters.items():
        section: dict[str, Any] = {}
        for fn in fns:
            section.update(fn(session, person_id))
        data[feature] = section
    return data


def _expired_media(session: Session, person_id: int) -> list[dict[str, Any]]:
    """Recordings and photos of theirs that the network's retention period removed."""
    from core.storage.relay import RelayPart
    from core.storage.syncday import SyncDayPhoto
    rows = []
    for holder, model, owner in (("relay_part", RelayPart, RelayPart.author_id),
                                 ("syncday_photo", SyncDayPhoto, SyncDayPhoto.person_id)):
        rows += session.exec(select(ExpiredMedia).join(model, model.id == ExpiredMedia.holder_id)
                             .where(ExpiredMedia.holder == holder, owner == person_id)).all()
    return [{"holder": e.holder, "holder_id": e.holder_id, "kind": e.kind,
             "received_at": _iso(e.received_at), "expired_at": _iso(e.expired_at)}
            for e in sorted(rows, key=lambda e: e.id)]


def erase_person(work, person_id: int, erasers: tuple) -> None:
    """Remove a person's personal data everywhere; keep a nameless stub for consistency."""
    session: Session = work.session
    person = session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        return
    for fn in erasers:
        fn(work, person_id)
    accounts = session.exec(select(Account).where(Account.person_id == person_id)).all()
    names = {n for n in [person.display_name, *(a.display_name for a in accounts)] if n and len(n) > 2}
    stub = f"erased member #{person.id}"
    files: set[str] = set()
    private = [OutboxMessage.person_id == person_id]
    for acc in accounts:
        # Private messages to the person go; their name leaves messages kept for others.
        # Each is marked with the person; older rows are found by the chat: named after the
        # person (Telegram), or the private room a door remembered for them (Matrix).
        private.append(and_(OutboxMessage.platform == acc.platform,
                            or_(OutboxMessage.direct == True,  # noqa: E712
                                OutboxMessage.circle_id == None),  # noqa: E711
                            OutboxMessage.chat_id == acc.platform_user_id))
        room = session.get(AdapterState, f"{acc.platform}:dm:{acc.platform_user_id}")
        if room is not None:
            if room.value.get("room"):
                private.append(and_(OutboxMessage.platform == acc.platform,
                                    OutboxMessage.circle_id == None,  # noqa: E711
                                    OutboxMessage.chat_id == str(room.value["room"])))
            session.delete(room)  # which room is theirs is about them too
    for row in session.exec(select(OutboxMessage).where(or_(*private))).all():
        files.update(a.get("path") for a in row.payload.get("attachments") or []
                     if isinstance(a, dict) and a.get("path"))
        session.delete(row)
    for acc in accounts:
        session.delete(acc)
    # Files sent to them privately (a /mydata archive holds everything about them) go too,
    # unless something else still uses the same content.
    release(session, work.services.media, files)
    for row in session.exec(select(OutboxMessage)).all():
        text = row.payload.get("text") or ""
        if any(n in text for n in names):
            for n in names:
                text = text.replace(n, stub)
            row.payload = {**row.payload, "text": text}
            session.add(row)
    for code in session.exec(select(LinkCode).where(LinkCode.person_id == person_id)).all():
        session.delete(code)
    for m in session.exec(select(Membership).where(Membership.person_id == person_id)).all():
        m.left_at = m.left_at or work.now
        m.is_coordinator = m.is_steward = False
        session.add(m)
    for e in session.exec(select(AuditEntry).where(AuditEntry.person_id == person_id)).all():
        # Keep that something happened, not what the person wrote.
        e.details = {"erased": True}
        session.add(e)
    person.display_name = stub
    person.language = person.timezone = None
    person.erased_at = work.now
    session.add(person)
    work.audit("person.erased", person_id=person.id)


def export_circle(session: Session, circle_id: int, exporters: dict[str, list]) -> dict[str, Any]:
    """Everything a circle may take with it: its settings, members and features' data."""
    circle = session.get(Circle, circle_id)
    if circle is None:
        raise KeyError(circle_id)
    members = session.exec(select(Person, Membership).join(Membership, Membership.person_id == Person.id)
                           .where(Membership.circle_id == circle_id)).all()
    data: dict[str, Any] = {
        "circle": {"id": circle.id, "name": circle.name, "city": circle.city,
                   "country": circle.country, "timezone": circle.timezone,
                   "language": circle.language, "platform": circle.platform,
                   "active_from": _iso(circle.active_from), "active_until": _iso(circle.active_until),
                   "left_at": _iso(circle.left_at)},
        "members": [{"person_id": p.id, "display_name": p.display_name,
                     "joined_at": _iso(m.joined_at), "left_at": _iso(m.left_at),
                     "coordinator": m.is_coordinator, "steward": m.is_steward}
                    for p, m in members],
    }
    for feature, fns in exporters.items():
        section: dict[str, Any] = {}
        for fn in fns:
            section.update(fn(session, circle_id))
        data[feature] = section
    return data

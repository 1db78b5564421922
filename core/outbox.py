"""The durable outbox: everything the bots say is first a row here.

Rows are written in the same transaction as the state change that caused them (a vote, a
handoff), so either both happen or neither does. Adapters' couriers (`core.delivery`) drain
them.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, select

from core.messages import Outgoing
from core.storage.models import OutboxMessage


def enqueue(session: Session, platform: str, chat_id: str, message: Outgoing, *, now: datetime,
            circle_id: int | None = None, direct: bool = False, key: str | None = None,
            not_before: datetime | None = None, person_id: int | None = None) -> bool:
    """Queue `message` for `chat_id` on `platform`, due at `now` (or `not_before`).

    `key` makes the call idempotent: a second enqueue with the same key is ignored and
    returns False (used by timers, so a retried job never speaks twice). `person_id` marks a
    private message with the person it is for (see `core.privacy.erase_person`).
    """
    if key is not None:
        exists = session.exec(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)).first()
        if exists is not None:
            return False
    # A plain INSERT in the caller's transaction: every command writes at least one row, and
    # building an ORM object for it cost more than the insert itself. Rows written in one
    # unit of work get ascending ids in call order, which is the order couriers keep per chat.
    session.execute(_INSERT, {
        "platform": platform, "chat_id": str(chat_id), "direct": direct, "circle_id": circle_id,
        "payload": message.to_json(), "idempotency_key": key, "state": "pending",
        "attempts": 0, "next_attempt_at": not_before or now, "created_at": now,
        "person_id": person_id,
    })
    return True


_INSERT = insert(OutboxMessage.__table__)


def pending_count(session: Session, platform: str | None = None) -> int:
    """How many rows wait to be delivered (optionally on one platform)."""
    q = select(OutboxMessage.id).where(OutboxMessage.state == "pending")
    if platform:
        q = q.where(OutboxMessage.platform == platform)
    return len(session.exec(q).all())

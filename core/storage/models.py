"""Tables of the foundation: networks, circles, people, accounts, memberships, the audit
trail, the outbox, timers and small adapter state.

Feature tables live in sibling modules (`relay`, `treasury`, ...) imported by
`core.storage`, so that `SQLModel.metadata` and the migrations see them all.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Column, DateTime, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike.

    SQLite keeps no zone and hands back naive values; without this, comparing them with
    an aware `now` would fail or, worse, silently mix zones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def UtcField(default_now: bool = False, nullable: bool = False, index: bool = False, **kw):  # noqa: N802
    """A timezone-aware datetime column (stored as UTC on both databases)."""
    return Field(
        default_factory=_now if default_now else None,
        sa_column=Column(UtcDateTime(), nullable=nullable, index=index),
        **kw,
    )


class Network(SQLModel, table=True):
    """A federation of circles that run relays, a treasury and days of action together."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    created_at: datetime = UtcField(default_now=True)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    settings: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Circle(SQLModel, table=True):
    """One local group, living in one chat on one platform, time-boxed."""

    __table_args__ = (UniqueConstraint("platform", "chat_id", name="uq_circle_chat"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    name: str
    city: str
    country: str  # ISO 3166 alpha-2
    timezone: str  # IANA name
    language: str
    platform: str
    chat_id: str
    active_from: datetime = UtcField()
    active_until: datetime | None = UtcField(nullable=True)
    left_at: datetime | None = UtcField(nullable=True)
    expiry_notice_sent: bool = False


class Person(SQLModel, table=True):
    """One human, however many platform accounts they use."""

    id: int | None = Field(default=None, primary_key=True)
    display_name: str
    language: str | None = None  # overrides the circle's language for personal replies
    timezone: str | None = None
    created_at: datetime = UtcField(default_now=True)
    erased_at: datetime | None = UtcField(nullable=True)


class Account(SQLModel, table=True):
    """A platform account belonging to a person."""

    __table_args__ = (UniqueConstraint("platform", "platform_user_id", name="uq_account"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str
    platform_user_id: str
    display_name: str = ""


class Membership(SQLModel, table=True):
    """A person's place in a circle, with roles."""

    __table_args__ = (UniqueConstraint("person_id", "circle_id", name="uq_membership"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    joined_at: datetime = UtcField()
    left_at: datetime | None = UtcField(nullable=True)
    is_coordinator: bool = False
    is_steward: bool = False


class InviteCode(SQLModel, table=True):
    """A code with which a chat joins a network as a circle."""

    code: str = Field(primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = UtcField(default_now=True)
    expires_at: datetime = UtcField()
    uses_left: int = 1


class LinkCode(SQLModel, table=True):
    """A one-time code that joins a person's accounts on two platforms."""

    code: str = Field(primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    expires_at: datetime = UtcField()


class AuditEntry(SQLModel, table=True):
    """Who did what, when: every change a command makes is written here."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = UtcField(default_now=True, index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    circle_id: int | None = Field(default=None, index=True)
    network_id: int | None = Field(default=None, index=True)
    action: str
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxMessage(SQLModel, table=True):
    """A message waiting to be said (or already said) on a platform.

    States: pending -> sent, or pending -> dead after too many failures. Rows are never
    deleted by delivery, so a crash at any point loses nothing.
    """

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(index=True)
    chat_id: str
    direct: bool = False  # chat_id is a user id: say it privately
    circle_id: int | None = Field(default=None, index=True)
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    idempotency_key: str | None = Field(default=None, unique=True)
    state: str = Field(default="pending", index=True)
    attempts: int = 0
    next_attempt_at: datetime = UtcField(default_now=True, index=True)
    created_at: datetime = UtcField(default_now=True)
    sent_at: datetime | None = UtcField(nullable=True)
    message_ref: str | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    lease_until: datetime | None = UtcField(nullable=True)
    # The person a private message is for (a reply in their private chat, a notice to them),
    # so that erasing them removes it whatever the platform calls that chat.
    person_id: int | None = Field(default=None, index=True)


class Timer(SQLModel, table=True):
    """Something due at an instant: a reminder, a deadline, a kickoff.

    `key` makes scheduling idempotent; `state` makes running exactly-once: a timer's work and
    its move to `done` commit together.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    key: str = Field(unique=True)
    due_at: datetime = UtcField(index=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", index=True)  # pending, done, missed, cancelled
    ran_at: datetime | None = UtcField(nullable=True)
    late_seconds: float | None = None


class AdapterState(SQLModel, table=True):
    """Small persistent values an adapter needs across restarts (update offsets, sync tokens,
    poll ids)."""

    key: str = Field(primary_key=True)
    value: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ExpiredMedia(SQLModel, table=True):
    """A file a network's retention period removed from the media store.

    The row that pointed at it (a relay part, a sync-day photo: `holder`, `holder_id`) stays
    with everything derived from it (transcript, translations, texts, counts); this record
    says what kind of file it was, when it arrived and when it expired. The file's content
    address is deliberately not kept.
    """

    __tablename__ = "expired_media"
    __table_args__ = (UniqueConstraint("holder", "holder_id", name="uq_expired_media_holder"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    holder: str = Field(max_length=40)  # "relay_part" or "syncday_photo"
    holder_id: int
    kind: str = Field(default="", max_length=20)  # voice, audio, file, photo
    mime_type: str = Field(default="", max_length=100)
    received_at: datetime = UtcField()
    expired_at: datetime = UtcField()

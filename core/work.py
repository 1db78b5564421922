"""A unit of work: one database session, one instant, and the means to speak and schedule.

Commands, listeners, timers and chat events all run inside a `Work`. Everything they change
and everything they say (outbox rows) commits together, or not at all.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, TypeVar

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core import i18n, outbox
from core.clock import Clock
from core.config import Config
from core.media import MediaStore
from core.messages import Incoming, Outgoing
from core.storage.models import (
    Account, AuditEntry, Circle, Membership, Network, Person, Timer,
)
from core.storage.snapshot import Snapshot

log = logging.getLogger("tessera.work")

MessageBuilder = Callable[[str], Outgoing]  # language -> message
T = TypeVar("T")
# Where a context keeps the sender's whereabouts (read-only snapshots until made editable).
_SNAPSHOT_SLOTS = ("account", "person", "circle", "network", "membership")


class Refusal(Exception):
    """A handler declines politely: the change is rolled back and `key` is said instead."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass
class Services:
    """What every unit of work may use; built once by the composition root."""

    engine: Engine
    clock: Clock
    config: Config
    media: MediaStore
    translator: Any = None  # core.translation.Translator, when installed
    registry: Any = None  # core.commands.Registry of the running suite
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        """Base URL of the published pages ("" when not served)."""
        return self.config["tessera"]["public_url"].rstrip("/")


class Work:
    """One transaction's worth of changes and messages."""

    def __init__(self, services: Services, session: Session, now: datetime) -> None:
        self.services = services
        self.session = session
        self.now = now
        self.new_timers: list[Timer] = []
        self._scheduled: dict[str, Timer] = {}

    # -- words -----------------------------------------------------------------------------
    def t(self, lang: str, key: str, /, **params: Any) -> str:
        """A catalog message in `lang`."""
        return i18n.t(lang, key, **params)

    # -- speaking --------------------------------------------------------------------------
    def say_to_circle(self, circle: Circle, build: MessageBuilder | str, /, *, key: str | None = None,
                      **params: Any) -> None:
        """Queue a message for a circle's chat, written in the circle's language.

        `build` is a catalog key (filled with `params`) or a function from language to
        `Outgoing`, so each circle gets the text in its own language.
        """
        msg = self._build(circle.language, build, params)
        outbox.enqueue(self.session, circle.platform, circle.chat_id, msg, now=self.now,
                       circle_id=circle.id, key=key)

    def say_to_circles(self, circles: Iterable[Circle], build: MessageBuilder | str, /, *,
                       key: str | None = None, **params: Any) -> None:
        """`say_to_circle` for several circles (keys get the circle id appended)."""
        for c in circles:
            self.say_to_circle(c, build, key=f"{key}:c{c.id}" if key else None, **params)

    def say_to_person(self, person: Person, build: MessageBuilder | str, /, *,
                      prefer_platform: str | None = None, key: str | None = None,
                      fallback_lang: str | None = None, **params: Any) -> bool:
        """Queue a private message to a person (on `prefer_platform` if they have an account there).

        It is written in the person's own language, or else in `fallback_lang` (the language
        of the circle the message is about), English only when neither is known.
        Returns False when the person has no account to reach.
        """
        accounts = self.session.exec(select(Account).where(Account.person_id == person.id)).all()
        if prefer_platform:
            accounts = sorted(accounts, key=lambda a: a.platform != prefer_platform)
        if not accounts:
            return False
        acc = accounts[0]
        msg = self._build(person.language or fallback_lang or "en", build, params)
        outbox.enqueue(self.session, acc.platform, acc.platform_user_id, msg, now=self.now,
                       direct=True, key=key, person_id=person.id)
        return True

    def tell_coordinators(self, circle: Circle, build: MessageBuilder | str, /, *,
                          key: str | None = None, **params: Any) -> int:
        """Privately tell each coordinator of `circle`; returns how many were reached."""
        told = 0
        for person in coordinators(self.session, circle.id):
            k = f"{key}:p{person.id}" if key else None
            if self.say_to_person(person, build, prefer_platform=circle.platform, key=k,
                                  fallback_lang=circle.language, **params):
                told += 1
        return told

    @staticmethod
    def _build(lang: str, build: MessageBuilder | str, params: dict[str, Any]) -> Outgoing:
        if callable(build):
            return build(lang)
        return Outgoing(text=i18n.t(lang, build, **params), lang=lang)

    # -- time ------------------------------------------------------------------------------
    def schedule(self, kind: str, due_at: datetime, key: str, **payload: Any) -> Timer:
        """Ask for `kind` to run at `due_at`; the same `key` is scheduled once only."""
        existing = self._scheduled.get(key)
        if existing is None:
            # No autoflush: a flush per lookup made scheduling thousands of kickoffs in one
            # unit of work quadratic; timers added here are found in `_scheduled` instead.
            with self.session.no_autoflush:
                existing = self.session.exec(select(Timer).where(Timer.key == key)).first()
        if existing is not None:
            if existing.state == "pending" and existing.due_at != due_at:
                existing.due_at = due_at
                existing.payload = payload
                self.session.add(existing)
                self.new_timers.append(existing)
            return existing
        timer = Timer(kind=kind, key=key, due_at=due_at, payload=payload)
        self.session.add(timer)
        self.new_timers.append(timer)
        self._scheduled[key] = timer
        return timer

    def cancel_timers(self, key_prefix: str) -> int:
        """Cancel pending timers whose key starts with `key_prefix`."""
        rows = self.session.exec(
            select(Timer).where(Timer.state == "pending", Timer.key.startswith(key_prefix))
        ).all()
        for r in rows:
            r.state = "cancelled"
            self.session.add(r)
        return len(rows)

    # -- changing what a command was given --------------------------------------------------
    def editable(self, row: T) -> T:
        """The stored row behind a snapshot (`ctx.person`, `ctx.circle`...), loaded to be
        changed in this unit of work; an ORM object is returned as it is. The context holds
        the loaded row from then on, so what the command says next reflects the change."""
        if not isinstance(row, Snapshot):
            return row
        loaded = self.session.get(row.model, row.id)
        for name in _SNAPSHOT_SLOTS:
            if getattr(self, name, None) is row:
                setattr(self, name, loaded)
        return loaded

    # -- record ----------------------------------------------------------------------------
    def audit(self, action: str, *, person_id: int | None = None, circle_id: int | None = None,
              network_id: int | None = None, **details: Any) -> None:
        """Write who did what to the audit trail."""
        # A plain INSERT, like the outbox: most commands that change something write one.
        # (Pending rows go first: the entry may name a person added in this unit of work.)
        self.session.flush()
        self.session.execute(_INSERT_AUDIT, {
            "at": self.now, "person_id": person_id, "circle_id": circle_id,
            "network_id": network_id, "action": action, "details": details})


_INSERT_AUDIT = insert(AuditEntry.__table__)


def coordinators(session: Session, circle_id: int) -> list[Person]:
    """The current coordinators of a circle."""
    q = (select(Person).join(Membership, Membership.person_id == Person.id)
         .where(Membership.circle_id == circle_id, Membership.is_coordinator == True,  # noqa: E712
                Membership.left_at == None))  # noqa: E711
    return list(session.exec(q).all())


class Context(Work):
    """The unit of work of one incoming message: who said what, where.

    `person`, `account`, `circle`, `network` and `membership` are read-only snapshots for a
    known sender (see `core.storage.snapshot`); `editable(ctx.circle)` loads the row to
    change it.
    """

    def __init__(self, services: Services, session: Session, now: datetime, incoming: Incoming,
                 person: Person, account: Account, circle: Circle | None,
                 network: Network | None, membership: Membership | None) -> None:
        super().__init__(services, session, now)
        self.incoming = incoming
        self.person = person
        self.account = account
        self.circle = circle
        self.network = network
        self.membership = membership
        self.replies: list[Outgoing] = []

    @property
    def lang(self) -> str:
        """The language for replies to this person here."""
        return self.person.language or (self.circle.language if self.circle else None) or "en"

    @property
    def tz(self) -> str:
        """The time zone for showing times to this person here."""
        return self.person.timezone or (self.circle.timezone if self.circle else None) or "UTC"

    def tr(self, key: str, /, **params: Any) -> str:
        """A catalog message in the reader's language."""
        return i18n.t(self.lang, key, **params)

    def reply(self, message: Outgoing | str) -> None:
        """Answer in the chat the message came from."""
        if isinstance(message, str):
            message = Outgoing(text=message, lang=self.lang)
        if message.reply_to is None and self.incoming.message_id and not self.incoming.is_direct:
            message.reply_to = self.incoming.message_id
        self.replies.append(message)

    def require_network(self) -> Network:
        """The network of this chat's circle, or a refusal explaining how to join one."""
        if self.network is None:
            raise Refusal("circles.not_a_circle")
        return self.network

    def audit(self, action: str, **details: Any) -> None:  # type: ignore[override]
        """Write to the audit trail as the sender, in this circle."""
        details.setdefault("person_id", self.person.id)
        details.setdefault("circle_id", self.circle.id if self.circle else None)
        details.setdefault("network_id", self.network.id if self.network else None)
        super().audit(action, **details)

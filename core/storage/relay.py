"""Tables of relays: the chain of legs, the parts of each circle's field report, their
stored translations and each network's glossary of movement terms."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.storage.models import UtcField


class Relay(SQLModel, table=True):
    """A relay of field reports passed from circle to circle.

    States: inviting -> running -> completed, or cancelled at any time.
    """

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    title: str
    origin_circle_id: int = Field(foreign_key="circle.id")
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = UtcField(default_now=True)
    leg_seconds: int = 72 * 3600
    state: str = Field(default="inviting", index=True)
    started_at: datetime | None = UtcField(nullable=True)
    finished_at: datetime | None = UtcField(nullable=True)


class RelayLeg(SQLModel, table=True):
    """One circle's place in a relay's chain.

    States: invited -> declined | waiting -> open -> reported -> handed_off, or skipped /
    cancelled. `responds_to_leg_id` links a report to the one it answers.
    """

    __tablename__ = "relay_leg"
    __table_args__ = (UniqueConstraint("relay_id", "circle_id", name="uq_relay_leg_circle"),)

    id: int | None = Field(default=None, primary_key=True)
    relay_id: int = Field(foreign_key="relay.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    position: int
    state: str = Field(default="invited")
    answered_by: int | None = Field(default=None, foreign_key="person.id")
    opened_at: datetime | None = UtcField(nullable=True)
    deadline: datetime | None = UtcField(nullable=True)
    closed_at: datetime | None = UtcField(nullable=True)
    extensions: int = 0  # automatic extensions granted because nothing was reported
    responds_to_leg_id: int | None = Field(default=None)


class RelayPart(SQLModel, table=True):
    """One piece of a circle's field report: a text, a voice note, an audio file or a file.

    Media live in the content-addressed media store under `media_key`; withdrawn parts keep
    their row (for the audit trail) but are never handed off or published.
    """

    __tablename__ = "relay_part"

    id: int | None = Field(default=None, primary_key=True)
    relay_id: int = Field(foreign_key="relay.id", index=True)
    leg_id: int = Field(foreign_key="relay_leg.id", index=True)
    number: int  # 1, 2, ... within the leg, as members see it
    author_id: int = Field(foreign_key="person.id", index=True)
    kind: str  # text, voice, audio, file
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    transcript: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    language: str = "en"
    media_key: str | None = None
    mime_type: str = ""
    size: int = 0
    duration: float | None = None
    filename: str = ""
    created_at: datetime = UtcField(default_now=True)
    edited_at: datetime | None = UtcField(nullable=True)
    withdrawn_at: datetime | None = UtcField(nullable=True)


class RelayTranslation(SQLModel, table=True):
    """A part's text or transcript in one circle's language, made once at handoff.

    `status`: machine (translated by the offline model), same (already that language),
    missing (no model for the pair: `text` is the original), off (translation disabled).
    """

    __tablename__ = "relay_translation"
    __table_args__ = (UniqueConstraint("part_id", "field", "lang", name="uq_relay_translation"),)

    id: int | None = Field(default=None, primary_key=True)
    part_id: int = Field(foreign_key="relay_part.id", index=True)
    field: str  # text or transcript
    lang: str
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = "machine"
    via: str = ""


class RelayGlossaryTerm(SQLModel, table=True):
    """A movement term a network keeps as it is (or renders its own way) in translations.

    `target_lang` "" applies to every language; a term for one language wins over it.
    """

    __tablename__ = "relay_glossary_term"
    __table_args__ = (UniqueConstraint("network_id", "term_key", "target_lang",
                                       name="uq_relay_glossary_term"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    term: str
    term_key: str  # casefolded term, for uniqueness
    target_lang: str = ""
    rendering: str
    added_by: int | None = Field(default=None, foreign_key="person.id")
    added_at: datetime = UtcField(default_now=True)

"""Tables of the living archive: entries, the actors they name, merges, wage records.

Full-text search is not modelled here: the migration adds, by hand, an FTS5 table kept in
step by triggers on SQLite and a GIN expression index on PostgreSQL, both over
`ArchiveEntry.search_text` (see `core.archive.search`).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.storage.models import UtcField


class ArchiveEntry(SQLModel, table=True):
    """One piece of knowledge a circle keeps: a testimony, wage data, a legal tactic...

    `status` is "active", "withdrawn" (by its author) or "erased" (its author's data was
    erased); the last two keep the row so ids stay stable, but no text.
    `visibility` is "circle" (only the author's circle), "network" or "public".
    """

    __tablename__ = "archive_entry"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    kind: str = Field(index=True)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    # Lower-cased words of the text and of the actors it names, joined by spaces: the one
    # thing both full-text backends index, so they see exactly the same words.
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    language: str = "en"
    visibility: str = Field(default="circle", index=True)
    occurred_on: date = Field(index=True)
    created_at: datetime = UtcField()
    sources: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attachments: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", index=True)
    withdrawn_at: datetime | None = UtcField(nullable=True)


class ArchiveTag(SQLModel, table=True):
    """A tag on an entry (lower case, without '#')."""

    __tablename__ = "archive_tag"
    __table_args__ = (UniqueConstraint("entry_id", "tag", name="uq_archive_tag"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="archive_entry.id", index=True)
    tag: str = Field(index=True)


class ArchiveKind(SQLModel, table=True):
    """A kind of entry a network uses beyond the built-in ones."""

    __tablename__ = "archive_kind"
    __table_args__ = (UniqueConstraint("network_id", "name", name="uq_archive_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    name: str


class ArchiveActor(SQLModel, table=True):
    """A company, agency, bank... known to a network. A merged actor points at the actor
    it was folded into and is no longer used."""

    __tablename__ = "archive_actor"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    name: str
    kind: str = "company"
    created_at: datetime = UtcField()
    created_by: int | None = Field(default=None, foreign_key="person.id")
    # On the network's list of known actors (added by a coordinator), so shown to every
    # circle even before any entry names it; otherwise shown only where an entry naming it
    # may be seen (a circle-only entry must not reveal whom it is about).
    listed: bool = False
    merged_into: int | None = Field(default=None, foreign_key="archive_actor.id")


class ArchiveAlias(SQLModel, table=True):
    """A name under which an actor is recognised ("AMZN"); `key` is the name folded for
    comparison, unique within a network so one spelling means one actor."""

    __tablename__ = "archive_alias"
    __table_args__ = (UniqueConstraint("network_id", "key", name="uq_archive_alias"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    actor_id: int = Field(foreign_key="archive_actor.id", index=True)
    alias: str
    key: str
    added_by: int | None = Field(default=None, foreign_key="person.id")


class ArchiveMention(SQLModel, table=True):
    """An entry names an actor (by marker or by a known alias)."""

    __tablename__ = "archive_mention"
    __table_args__ = (UniqueConstraint("entry_id", "actor_id", name="uq_archive_mention"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="archive_entry.id", index=True)
    actor_id: int = Field(foreign_key="archive_actor.id", index=True)


class ArchiveMergeProposal(SQLModel, table=True):
    """Two actors that look like one; a coordinator confirms or keeps them apart.

    States: "open", "merged", "apart". Actors are never merged without a person deciding.
    """

    __tablename__ = "archive_merge_proposal"
    __table_args__ = (UniqueConstraint("actor_a", "actor_b", name="uq_archive_merge_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    actor_a: int = Field(foreign_key="archive_actor.id")
    actor_b: int = Field(foreign_key="archive_actor.id")
    score: float = 0.0
    reason: str = ""
    state: str = Field(default="open", index=True)
    created_at: datetime = UtcField()
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = UtcField(nullable=True)


class ArchiveWage(SQLModel, table=True):
    """Wage data in a comparable form, attached to an entry of kind "wages"."""

    __tablename__ = "archive_wage"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="archive_entry.id", index=True, unique=True)
    amount_minor: int
    currency: str
    period: str  # hour, day, week, month, year
    job: str
    job_key: str = Field(index=True)  # folded words of the job, for matching
    place: str = ""
    on_date: date

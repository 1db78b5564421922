"""Full-text search over archive entries on SQLite (FTS5) and PostgreSQL (tsvector).

Both backends index `archive_entry.search_text`, which Python fills with the entry's words
already split and lower-cased (`core.archive.text.words`), and both receive the same parsed
query; so a search returns the same entries in the same order on either database. Ordering
is by date and id, never by a backend's own relevance score, for the same reason.

The index itself is created by the archive migration:
- SQLite: the FTS5 table `archive_fts` (external content = archive_entry, tokenizer
  unicode61 without diacritic folding) kept in step by triggers;
- PostgreSQL: a GIN index on `to_tsvector('simple', search_text)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Integer, bindparam, column, text
from sqlmodel import Session, select

from core.archive.text import Term, fts5_query, parse_query, tsquery
from core.storage.archive import ArchiveEntry, ArchiveMention, ArchiveTag
from core.storage.models import Circle

# SQL fragments created by the migration; kept here so search and migration agree.
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE archive_fts USING fts5(search_text, content='archive_entry', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER archive_entry_fts_ai AFTER INSERT ON archive_entry BEGIN "
    "INSERT INTO archive_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER archive_entry_fts_ad AFTER DELETE ON archive_entry BEGIN "
    "INSERT INTO archive_fts(archive_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER archive_entry_fts_au AFTER UPDATE OF search_text ON archive_entry BEGIN "
    "INSERT INTO archive_fts(archive_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO archive_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
)
POSTGRES_INDEX = ("CREATE INDEX ix_archive_entry_fts ON archive_entry "
                  "USING GIN (to_tsvector('simple', search_text))")


@dataclass
class Filters:
    """What narrows a search besides words. `visible_to` is required: the reader's
    (network_id, circle_id or None) — circle-only entries of other circles never match;
    `public_only` narrows to public entries (public export, outsiders)."""

    network_id: int
    circle_id: int | None = None
    public_only: bool = False
    tag: str | None = None
    actor_id: int | None = None
    from_circle: int | None = None
    country: str | None = None
    kind: str | None = None
    since: date | None = None
    until: date | None = None


def visible(stmt, f: Filters):
    """`stmt` narrowed to the active entries the reader may see."""
    stmt = stmt.where(ArchiveEntry.network_id == f.network_id, ArchiveEntry.status == "active")
    if f.public_only:
        return stmt.where(ArchiveEntry.visibility == "public")
    shared = ArchiveEntry.visibility.in_(("network", "public"))
    if f.circle_id is None:
        return stmt.where(shared)
    return stmt.where(shared | (ArchiveEntry.circle_id == f.circle_id))


def search_entry_ids(session: Session, query: str | list[Term] | None, f: Filters,
                     limit: int = 20, offset: int = 0) -> list[int]:
    """Ids of visible entries matching `query` (may be empty: filters only), newest first.

    Raises `core.archive.text.BadQuery` for a query of exclusions only.
    """
    terms = parse_query(query) if isinstance(query, str) else list(query or [])
    stmt = visible(select(ArchiveEntry.id), f)
    if f.tag:
        stmt = stmt.where(ArchiveEntry.id.in_(
            select(ArchiveTag.entry_id).where(ArchiveTag.tag == f.tag.lower().lstrip("#"))))
    if f.actor_id is not None:
        stmt = stmt.where(ArchiveEntry.id.in_(
            select(ArchiveMention.entry_id).where(ArchiveMention.actor_id == f.actor_id)))
    if f.from_circle is not None:
        stmt = stmt.where(ArchiveEntry.circle_id == f.from_circle)
    if f.country:
        stmt = stmt.where(ArchiveEntry.circle_id.in_(
            select(Circle.id).where(Circle.country == f.country.upper())))
    if f.kind:
        stmt = stmt.where(ArchiveEntry.kind == f.kind)
    if f.since:
        stmt = stmt.where(ArchiveEntry.occurred_on >= f.since)
    if f.until:
        stmt = stmt.where(ArchiveEntry.occurred_on <= f.until)
    if terms:
        stmt = stmt.where(_matches(session, terms))
    stmt = (stmt.order_by(ArchiveEntry.occurred_on.desc(), ArchiveEntry.id.desc())
            .offset(offset).limit(limit))
    return list(session.exec(stmt).all())


def _matches(session: Session, terms: list[Term]):
    """The full-text condition in the dialect of the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        sub = (text("SELECT rowid FROM archive_fts WHERE archive_fts MATCH :fts")
               .bindparams(bindparam("fts", fts5_query(terms)))
               .columns(column("rowid", Integer)))
        return ArchiveEntry.id.in_(sub)
    if dialect == "postgresql":
        # The same expression as the GIN index, so PostgreSQL can use it.
        return text("to_tsvector('simple', archive_entry.search_text) @@ "
                    "to_tsquery('simple', :tsq)").bindparams(bindparam("tsq", tsquery(terms)))
    raise NotImplementedError(f"full-text search on {dialect}")


def purge_index(session: Session) -> None:
    """Make erased text unrecoverable from the search index and freed pages (SQLite).

    FTS5 only marks deleted rows until its segments merge, and SQLite leaves freed pages
    readable; 'optimize' merges the segments and secure_delete zeroes what is freed. On
    PostgreSQL the old row versions disappear at the next (auto)vacuum.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().execute(text("PRAGMA secure_delete = ON"))
        session.connection().execute(text("INSERT INTO archive_fts(archive_fts) VALUES ('optimize')"))

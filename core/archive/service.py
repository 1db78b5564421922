"""The archive's service layer: entries, actors, merges, withdrawal, erasure, export.

Functions take an open session (one unit of work) and `now`; they never read the clock or
send anything. Problems a member can fix are raised as `ArchiveProblem` with a catalog key.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import bindparam, delete, insert
from sqlmodel import Session, select

from core import i18n
from core.archive import search as fts
from core.archive.text import (
    alias_key, find_known, find_markers, hashtags, search_text_for, similarity, unmark, words,
)
from core.archive.wages import PERIODS
from core.money import Money
from core.storage import repoint
from core.storage.archive import (
    ArchiveActor, ArchiveAlias, ArchiveEntry, ArchiveKind, ArchiveMention, ArchiveMergeProposal,
    ArchiveTag, ArchiveWage,
)
from core.storage.models import Circle, Person
from core.storage.snapshot import Snapshot

DEFAULT_KINDS = ("testimony", "wages", "supply_chain", "legal", "report", "note")
VISIBILITIES = ("circle", "network", "public")
ACTOR_KINDS = ("company", "agency", "bank", "fund", "other")
# Scores at or above this propose a merge (see core.archive.text.similarity).
MERGE_THRESHOLD = 0.8


class ArchiveProblem(ValueError):
    """Something the member can fix; `key` is a catalog message, `params` fill it."""

    def __init__(self, key: str, **params) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# -- kinds ------------------------------------------------------------------------------------

def kinds(session: Session, network_id: int) -> list[str]:
    """The kinds of entry a network uses: the built-in ones and its own."""
    own = session.exec(select(ArchiveKind.name).where(ArchiveKind.network_id == network_id)
                       .order_by(ArchiveKind.name)).all()
    return list(DEFAULT_KINDS) + [k for k in own if k not in DEFAULT_KINDS]


def add_kind(session: Session, network_id: int, name: str) -> str:
    """Let the network use a new kind of entry ("safety_incident")."""
    kind = "_".join(words(name))[:40]
    if not kind:
        raise ArchiveProblem("archive.bad_kind", kind=name, kinds=", ".join(DEFAULT_KINDS))
    if kind not in kinds(session, network_id):
        session.add(ArchiveKind(network_id=network_id, name=kind))
    return kind


def check_kind(session: Session, network_id: int, kind: str) -> str:
    """`kind` normalised, or a problem listing the network's kinds."""
    k = "_".join(words(kind))
    if k in DEFAULT_KINDS:  # most entries: no need to read the network's own kinds
        return k
    known = kinds(session, network_id)
    if k not in known:
        raise ArchiveProblem("archive.bad_kind", kind=kind, kinds=", ".join(known))
    return k


# -- actors -----------------------------------------------------------------------------------

def canonical(session: Session, actor: ArchiveActor) -> ArchiveActor:
    """The actor an actor was (perhaps repeatedly) merged into; itself when not merged."""
    seen = set()
    while actor.merged_into is not None and actor.id not in seen:
        seen.add(actor.id)
        actor = session.get(ArchiveActor, actor.merged_into)
    return actor


def actors(session: Session, network_id: int) -> list[ArchiveActor]:
    """The network's actors (merged ones left out), by name."""
    rows = session.exec(select(ArchiveActor).where(ArchiveActor.network_id == network_id,
                                                   ArchiveActor.merged_into == None)).all()  # noqa: E711
    return sorted(rows, key=lambda a: (a.name.casefold(), a.id))


def aliases_of(session: Session, actor_id: int) -> list[str]:
    """Every spelling of an actor, its name first."""
    rows = session.exec(select(ArchiveAlias).where(ArchiveAlias.actor_id == actor_id)
                        .order_by(ArchiveAlias.id)).all()
    return [a.alias for a in rows]


def find_actor(session: Session, network_id: int, ref: str) -> ArchiveActor | None:
    """An actor by id ("#3", "3") or by any of its spellings (case-insensitive)."""
    ref = (ref or "").strip()
    if ref.lstrip("#").isdigit():
        actor = session.get(ArchiveActor, int(ref.lstrip("#")))
        return canonical(session, actor) if actor and actor.network_id == network_id else None
    alias = session.exec(select(ArchiveAlias).where(ArchiveAlias.network_id == network_id,
                                                    ArchiveAlias.key == alias_key(ref))).first()
    return canonical(session, session.get(ArchiveActor, alias.actor_id)) if alias else None


def actor_visible(session: Session, actor_id: int, f: fts.Filters) -> bool:
    """May the reader described by `f` know of this actor? Yes when it is on the network's
    known list or an entry they may see names it."""
    actor = session.get(ArchiveActor, actor_id)
    if actor is None or actor.network_id != f.network_id:
        return False
    if actor.listed:
        return True
    stmt = fts.visible(select(ArchiveEntry.id).join(
        ArchiveMention, ArchiveMention.entry_id == ArchiveEntry.id), f).where(
        ArchiveMention.actor_id == actor_id).limit(1)
    return session.exec(stmt).first() is not None


def visible_actors(session: Session, f: fts.Filters) -> list[tuple[ArchiveActor, int]]:
    """Actors the reader may know of, with how many entries they can see naming each."""
    out = []
    for actor in actors(session, f.network_id):
        n = len(session.exec(fts.visible(select(ArchiveEntry.id).join(
            ArchiveMention, ArchiveMention.entry_id == ArchiveEntry.id), f).where(
            ArchiveMention.actor_id == actor.id)).all())
        if n or actor.listed:
            out.append((actor, n))
    return out


def ensure_actor(session: Session, network_id: int, name: str, now: datetime,
                 person_id: int | None = None, kind: str = "company", listed: bool = False
                 ) -> tuple[ArchiveActor, bool, list[ArchiveMergeProposal]]:
    """The actor with this spelling, created when new (with merge proposals for look-alikes).

    Returns (actor, created, new proposals). Never merges anything by itself.
    """
    name = " ".join(name.split())[:120]
    found = find_actor(session, network_id, name) if not name.lstrip("#").isdigit() else None
    if found is not None:
        if listed and not found.listed:
            found.listed, found.kind = True, kind if kind in ACTOR_KINDS else found.kind
            session.add(found)
        return found, False, []
    if kind not in ACTOR_KINDS:
        raise ArchiveProblem("archive.bad_actor_kind", kind=kind, kinds=", ".join(ACTOR_KINDS))
    actor = ArchiveActor(network_id=network_id, name=name, kind=kind, created_at=now,
                         created_by=person_id, listed=listed)
    session.add(actor)
    session.flush()
    session.add(ArchiveAlias(network_id=network_id, actor_id=actor.id, alias=name,
                             key=alias_key(name), added_by=person_id))
    session.flush()
    return actor, True, propose_merges(session, actor, now)


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _proposal(session: Session, a: int, b: int) -> ArchiveMergeProposal | None:
    lo, hi = _pair(a, b)
    return session.exec(select(ArchiveMergeProposal).where(
        ArchiveMergeProposal.actor_a == lo, ArchiveMergeProposal.actor_b == hi)).first()


def propose_merges(session: Session, actor: ArchiveActor, now: datetime
                   ) -> list[ArchiveMergeProposal]:
    """Proposals to merge `actor` with look-alike actors of its network (never decided here)."""
    mine = aliases_of(session, actor.id)
    made = []
    for other in actors(session, actor.network_id):
        if other.id == actor.id or _proposal(session, actor.id, other.id):
            continue
        best, why = 0.0, ""
        for a in mine:
            for b in aliases_of(session, other.id):
                score, reason = similarity(a, b)
                if score > best:
                    best, why = score, reason
        if best >= MERGE_THRESHOLD:
            lo, hi = _pair(actor.id, other.id)
            p = ArchiveMergeProposal(network_id=actor.network_id, actor_a=lo, actor_b=hi,
                                     score=best, reason=why, created_at=now)
            session.add(p)
            made.append(p)
    session.flush()
    return made


def open_proposals(session: Session, network_id: int) -> list[ArchiveMergeProposal]:
    """Merge proposals waiting for a coordinator, most likely first."""
    rows = session.exec(select(ArchiveMergeProposal).where(
        ArchiveMergeProposal.network_id == network_id, ArchiveMergeProposal.state == "open")).all()
    return sorted(rows, key=lambda p: (-p.score, p.id))


def add_alias(session: Session, network_id: int, actor: ArchiveActor, alias: str,
              person_id: int | None, now: datetime) -> list[int]:
    """Teach the network another spelling of `actor`; earlier entries using it now name the
    actor too. Returns the ids of entries newly linked."""
    alias = " ".join(alias.split())[:120]
    key = alias_key(alias)
    if not key or not words(alias):
        raise ArchiveProblem("archive.bad_alias", alias=alias)
    taken = session.exec(select(ArchiveAlias).where(ArchiveAlias.network_id == network_id,
                                                    ArchiveAlias.key == key)).first()
    if taken is not None:
        owner = canonical(session, session.get(ArchiveActor, taken.actor_id))
        if owner.id == actor.id:
            return []
        raise ArchiveProblem("archive.alias_taken", alias=alias, actor=owner.name, id=owner.id)
    session.add(ArchiveAlias(network_id=network_id, actor_id=actor.id, alias=alias, key=key,
                             added_by=person_id))
    session.flush()
    known = _alias_map(session, network_id)
    linked = []
    for entry in session.exec(select(ArchiveEntry).where(ArchiveEntry.network_id == network_id,
                                                         ArchiveEntry.status == "active")).all():
        ids = {canonical(session, session.get(ArchiveActor, i)).id
               for i in find_known(entry.text, known)}
        if actor.id in ids and not _mention(session, entry.id, actor.id):
            session.add(ArchiveMention(entry_id=entry.id, actor_id=actor.id))
            linked.append(entry.id)
    session.flush()
    refresh_search_text(session, _entries_naming(session, actor.id))
    return linked


def _mention(session: Session, entry_id: int, actor_id: int) -> ArchiveMention | None:
    return session.exec(select(ArchiveMention).where(ArchiveMention.entry_id == entry_id,
                                                     ArchiveMention.actor_id == actor_id)).first()


def _entries_naming(session: Session, actor_id: int) -> list[int]:
    return list(session.exec(select(ArchiveMention.entry_id)
                             .where(ArchiveMention.actor_id == actor_id)).all())


def merge_actors(session: Session, keep: ArchiveActor, fold: ArchiveActor,
                 person_id: int | None, now: datetime) -> ArchiveActor:
    """A coordinator confirms that `fold` is `keep`: spellings, mentions and proposals move
    to `keep`; `fold` remains only as a pointer (so old ids still resolve)."""
    keep, fold = canonical(session, keep), canonical(session, fold)
    if keep.id == fold.id:
        raise ArchiveProblem("archive.merge_same", actor=keep.name)
    if keep.network_id != fold.network_id:
        raise ArchiveProblem("archive.no_such_actor", actor=fold.name)
    for alias in session.exec(select(ArchiveAlias).where(ArchiveAlias.actor_id == fold.id)).all():
        alias.actor_id = keep.id
        session.add(alias)
    for m in session.exec(select(ArchiveMention).where(ArchiveMention.actor_id == fold.id)).all():
        if _mention(session, m.entry_id, keep.id):
            session.delete(m)
        else:
            m.actor_id = keep.id
            session.add(m)
    fold.merged_into = keep.id
    keep.listed = keep.listed or fold.listed
    session.add(keep)
    session.add(fold)
    session.flush()
    for p in session.exec(select(ArchiveMergeProposal).where(
            (ArchiveMergeProposal.actor_a == fold.id) | (ArchiveMergeProposal.actor_b == fold.id))
    ).all():
        other = p.actor_b if p.actor_a == fold.id else p.actor_a
        if other == keep.id:
            p.state, p.decided_by, p.decided_at = "merged", person_id, now
            session.add(p)
        elif p.state == "open" and not _proposal(session, keep.id, other):
            p.actor_a, p.actor_b = _pair(keep.id, other)
            session.add(p)
        elif p.state == "open":
            session.delete(p)
    session.flush()
    refresh_search_text(session, _entries_naming(session, keep.id))
    return keep


def keep_apart(session: Session, a: ArchiveActor, b: ArchiveActor, person_id: int | None,
               now: datetime) -> None:
    """A coordinator says two actors are different; they will not be proposed again."""
    a, b = canonical(session, a), canonical(session, b)
    if a.id == b.id:
        raise ArchiveProblem("archive.merge_same", actor=a.name)
    p = _proposal(session, a.id, b.id)
    if p is None:
        lo, hi = _pair(a.id, b.id)
        p = ArchiveMergeProposal(network_id=a.network_id, actor_a=lo, actor_b=hi, created_at=now)
    p.state, p.decided_by, p.decided_at = "apart", person_id, now
    session.add(p)


# -- entries ----------------------------------------------------------------------------------

@dataclass
class Added:
    """What adding an entry did: the entry (a read-only snapshot of the row as written), the
    actors it names, actors it created, and merge proposals those raised."""

    entry: ArchiveEntry
    actors: list[ArchiveActor] = field(default_factory=list)
    new_actors: list[ArchiveActor] = field(default_factory=list)
    proposals: list[ArchiveMergeProposal] = field(default_factory=list)


# Every entry added reads its network's spellings: the statement is composed once.
@lru_cache(maxsize=1)
def _aliases_statement():
    t = ArchiveAlias.__table__.c
    return select(t.alias, t.actor_id).where(t.network_id == bindparam("network")).order_by(t.id)


def _alias_map(session: Session, network_id: int) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for alias, actor_id in session.execute(_aliases_statement(), {"network": network_id}).all():
        seq = tuple(words(alias))
        if seq:
            out.setdefault(seq, actor_id)
    return out


def add_entry(session: Session, *, circle: Circle, author_id: int | None, kind: str, text: str,
              language: str, visibility: str, occurred_on: date, now: datetime,
              tags: list[str] | tuple = (), sources: list[str] | tuple = (),
              attachments: list[dict] | tuple = ()) -> Added:
    """Archive `text` for `circle`: `+[Name]` markers and the network's known spellings
    become mentions of actors (new names become new actors, with merge proposals)."""
    if visibility not in VISIBILITIES:
        raise ArchiveProblem("archive.bad_visibility", value=visibility)
    kind = check_kind(session, circle.network_id, kind)
    plain = unmark(text).strip()
    if not plain and not attachments:
        raise ArchiveProblem("archive.empty")
    result = Added(entry=None)  # type: ignore[arg-type]
    named: dict[int, ArchiveActor] = {}
    for name in find_markers(text):
        actor, created, props = ensure_actor(session, circle.network_id, name, now, author_id)
        named[actor.id] = actor
        if created:
            result.new_actors.append(actor)
        result.proposals += props
    for actor_id in find_known(text, _alias_map(session, circle.network_id)):
        actor = canonical(session, session.get(ArchiveActor, actor_id))
        named.setdefault(actor.id, actor)
    values = dict(network_id=circle.network_id, circle_id=circle.id, author_id=author_id,
                  kind=kind, text=plain, language=language, visibility=visibility,
                  occurred_on=occurred_on, created_at=now, sources=list(sources),
                  attachments=list(attachments), status="active",
                  search_text=search_text_for(plain, *_names(session, named)))
    # Plain INSERTs, like the outbox: an entry is the most frequent write after votes, and the
    # ORM's unit of work cost more than the rows themselves. (New actors are flushed first.)
    session.flush()
    row = session.execute(_INSERT_ENTRY, values).one()
    entry_id = row.id
    tags = [{"entry_id": entry_id, "tag": t} for t in dict.fromkeys([*tags, *hashtags(plain)])]
    if tags:
        session.execute(insert(ArchiveTag.__table__), tags)
    if named:
        session.execute(insert(ArchiveMention.__table__),
                        [{"entry_id": entry_id, "actor_id": a} for a in named])
    result.entry = Snapshot(ArchiveEntry, row._asdict())  # what was written
    result.actors = sorted(named.values(), key=lambda a: a.name.casefold())
    return result


_INSERT_ENTRY = insert(ArchiveEntry.__table__).returning(*ArchiveEntry.__table__.columns)


def _names(session: Session, named: dict[int, ArchiveActor]) -> list[str]:
    return [alias for actor_id in named for alias in aliases_of(session, actor_id)]


def refresh_search_text(session: Session, entry_ids: list[int]) -> None:
    """Re-index entries after the spellings of the actors they name changed, so a search
    for "Amazon" also finds the entry that said "AMZN" once they are merged."""
    for entry_id in set(entry_ids):
        entry = session.get(ArchiveEntry, entry_id)
        if entry is None or entry.status != "active":
            continue
        named = {m.actor_id: None for m in session.exec(
            select(ArchiveMention).where(ArchiveMention.entry_id == entry_id)).all()}
        new = search_text_for(entry.text, *_names(session, named))  # type: ignore[arg-type]
        if new != entry.search_text:
            entry.search_text = new
            session.add(entry)
    session.flush()


def entry_tags(session: Session, entry_id: int) -> list[str]:
    """Tags of an entry, alphabetically."""
    return sorted(session.exec(select(ArchiveTag.tag).where(ArchiveTag.entry_id == entry_id)).all())


def entry_actors(session: Session, entry_id: int) -> list[ArchiveActor]:
    """Actors an entry names, by name."""
    rows = session.exec(select(ArchiveActor).join(ArchiveMention,
                                                  ArchiveMention.actor_id == ArchiveActor.id)
                        .where(ArchiveMention.entry_id == entry_id)).all()
    return sorted(rows, key=lambda a: a.name.casefold())


def visible_entry(session: Session, entry_id: int, f: fts.Filters) -> ArchiveEntry | None:
    """The entry if the reader described by `f` may see it (and it is active)."""
    stmt = fts.visible(select(ArchiveEntry), f).where(ArchiveEntry.id == entry_id)
    return session.exec(stmt).first()


def set_visibility(session: Session, entry_id: int, person_id: int, visibility: str) -> ArchiveEntry:
    """The author widens or narrows who sees their entry."""
    entry = _own_entry(session, entry_id, person_id)
    if visibility not in VISIBILITIES:
        raise ArchiveProblem("archive.bad_visibility", value=visibility)
    entry.visibility = visibility
    session.add(entry)
    return entry


def _own_entry(session: Session, entry_id: int, person_id: int) -> ArchiveEntry:
    entry = session.get(ArchiveEntry, entry_id)
    if entry is None or entry.status != "active":
        raise ArchiveProblem("archive.no_such_entry", id=entry_id)
    if entry.author_id != person_id:
        raise ArchiveProblem("archive.not_author", id=entry_id)
    return entry


def _scrub(session: Session, entry: ArchiveEntry, status: str, now: datetime | None) -> list[str]:
    """Remove every word of an entry (text, sources, tags, mentions, wage data)."""
    media = [a.get("path") for a in entry.attachments or [] if a.get("path")]
    entry.text, entry.search_text, entry.sources, entry.attachments = "", "", [], []
    entry.status = status
    if now is not None:
        entry.withdrawn_at = now
    session.add(entry)
    for model in (ArchiveTag, ArchiveMention, ArchiveWage):
        session.exec(delete(model).where(model.entry_id == entry.id))
    return media


def withdraw_entry(session: Session, entry_id: int, person_id: int, now: datetime) -> list[str]:
    """The author takes an entry back: no text stays behind, cross-references lose it.

    Returns media-store keys of its attachments (the caller may delete unused files)."""
    entry = _own_entry(session, entry_id, person_id)
    media = _scrub(session, entry, "withdrawn", now)
    session.flush()
    fts.purge_index(session)
    return media


# Columns of the archive that name a person (who wrote, created, added or decided).
_PERSON_COLUMNS = (ArchiveEntry.author_id, ArchiveActor.created_by, ArchiveAlias.added_by,
                   ArchiveMergeProposal.decided_by)


@dataclass
class ArchiveErasure:
    """What erasing a person did in the archive."""

    entries: int = 0
    media_keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the words scrubbed (their translations go too)


def erase_person_archive(session: Session, person_id: int) -> ArchiveErasure:
    """Remove a person's personal data from the archive, keeping the rest consistent.

    Their entries lose all text, tags, sources, attachments, actor mentions and wage data
    (so searches, cross-references and exports no longer show them) and no longer point at
    them; actors, spellings and merge decisions they made stay, without their name.
    Called by the privacy feature inside its own unit of work; returns the media keys the
    caller may delete from the media store and the texts it scrubbed (whose cached
    translations the caller forgets).
    """
    report = ArchiveErasure()
    # Only active entries still hold words (and attachments) to scrub, one by one.
    for entry in session.exec(select(ArchiveEntry).where(ArchiveEntry.author_id == person_id,
                                                         ArchiveEntry.status == "active")).all():
        report.entries += 1
        report.texts.append(entry.text)
        report.media_keys += _scrub(session, entry, "erased", None)
    # Everything else only stops pointing at them: one UPDATE per column.
    for column in _PERSON_COLUMNS:
        repoint(session, column, person_id, None)
    session.flush()
    fts.purge_index(session)
    return report


def follow_person_merge(session: Session, source_id: int, target_id: int) -> None:
    """Linked accounts: the archive's rows of `source_id` now belong to `target_id`."""
    for column in _PERSON_COLUMNS:
        repoint(session, column, source_id, target_id)
    session.flush()


def stewards_rates(session: Session, network_id: int) -> list:
    """Exchange rates the network's stewards entered (treasury), or none when the treasury
    is not part of this suite. Only these ever convert wages between currencies."""
    try:
        from core.treasury import rates
    except ImportError:
        return []
    return list(rates(session, network_id))


# -- wages ------------------------------------------------------------------------------------

def add_wage(session: Session, *, circle: Circle, author_id: int | None, money: Money,
             period: str, job: str, place: str, on_date: date, language: str, visibility: str,
             now: datetime, tags=(), sources=()) -> Added:
    """Archive a wage in comparable form (amount, currency, period, job, place, date)."""
    if period not in PERIODS:
        raise ArchiveProblem("archive.bad_period", value=period, periods=", ".join(PERIODS))
    if money.minor <= 0:
        raise ArchiveProblem("archive.bad_wage")
    job_plain = unmark(job).strip()
    if not words(job_plain):
        raise ArchiveProblem("archive.no_job")
    # The entry's text is written in the entry's language, like any other entry.
    per = i18n.t(language, f"archive.per.{period}")
    text = f"{money.format(language, code=True)} {per} · {job}" + (f" · {place}" if place else "")
    added = add_entry(session, circle=circle, author_id=author_id, kind="wages", text=text,
                      language=language, visibility=visibility, occurred_on=on_date, now=now,
                      tags=tags, sources=sources)
    session.add(ArchiveWage(entry_id=added.entry.id, amount_minor=money.minor,
                            currency=money.currency, period=period, job=job_plain,
                            job_key=" ".join(words(job_plain)), place=place, on_date=on_date))
    session.flush()
    return added


@dataclass(frozen=True)
class WageRow:
    """One wage as compared across circles."""

    entry_id: int
    money: Money
    period: str
    job: str
    place: str
    on_date: date
    circle: str
    country: str


def wages_for(session: Session, f: fts.Filters, job: str) -> list[WageRow]:
    """Visible wages whose job contains every word of `job` (all jobs when empty)."""
    want = set(words(job))
    stmt = fts.visible(select(ArchiveWage, ArchiveEntry, Circle)
                       .join(ArchiveEntry, ArchiveEntry.id == ArchiveWage.entry_id)
                       .join(Circle, Circle.id == ArchiveEntry.circle_id), f)
    rows = []
    for wage, entry, circle in session.exec(stmt).all():
        if want <= set(wage.job_key.split()):
            rows.append(WageRow(entry.id, Money(wage.amount_minor, wage.currency), wage.period,
                                wage.job, wage.place, wage.on_date, circle.name, circle.country))
    return rows


# -- export -----------------------------------------------------------------------------------

EXPORT_FIELDS = ("id", "circle", "country", "kind", "date", "language", "visibility", "author",
                 "text", "tags", "actors", "sources", "attachments", "wage_amount",
                 "wage_currency", "wage_period", "wage_job", "wage_place", "created_at")


def export_rows(session: Session, *, circle_id: int | None = None, network_id: int | None = None,
                public_only: bool = False) -> list[dict]:
    """Active entries as plain rows: a circle's own entries (all visibilities), or with
    `public_only` a network's public entries (without authors)."""
    stmt = select(ArchiveEntry, Circle).join(Circle, Circle.id == ArchiveEntry.circle_id).where(
        ArchiveEntry.status == "active")
    if circle_id is not None:
        stmt = stmt.where(ArchiveEntry.circle_id == circle_id)
    if network_id is not None:
        stmt = stmt.where(ArchiveEntry.network_id == network_id)
    if public_only:
        stmt = stmt.where(ArchiveEntry.visibility == "public")
    rows = []
    for entry, circle in session.exec(stmt.order_by(ArchiveEntry.id)).all():
        author = session.get(Person, entry.author_id) if entry.author_id and not public_only else None
        wage = session.exec(select(ArchiveWage).where(ArchiveWage.entry_id == entry.id)).first()
        rows.append({
            "id": entry.id, "circle": circle.name, "country": circle.country, "kind": entry.kind,
            "date": entry.occurred_on.isoformat(), "language": entry.language,
            "visibility": entry.visibility, "author": author.display_name if author else "",
            "text": entry.text, "tags": entry_tags(session, entry.id),
            "actors": [a.name for a in entry_actors(session, entry.id)],
            "sources": list(entry.sources or []),
            "attachments": [a.get("filename") or a.get("path") for a in entry.attachments or []],
            "wage_amount": str(Money(wage.amount_minor, wage.currency).amount) if wage else "",
            "wage_currency": wage.currency if wage else "",
            "wage_period": wage.period if wage else "", "wage_job": wage.job if wage else "",
            "wage_place": wage.place if wage else "",
            "created_at": entry.created_at.isoformat(),
        })
    return rows


def export_json(rows: list[dict]) -> str:
    """Rows as pretty JSON (UTF-8 text, non-ASCII kept readable)."""
    return json.dumps({"entries": rows}, ensure_ascii=False, indent=2)


def export_csv(rows: list[dict]) -> str:
    """Rows as CSV; list fields joined with "; "."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()})
    return buf.getvalue()

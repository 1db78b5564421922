"""Cross-references: actors named by entries of two or more circles, ranked, with the
entries behind each; as rows, CSV and a bipartite chart (circles left, actors right).

`rank` is a pure rule over hand-made or queried rows; `crossref_rows` reads them for a
reader (visibility applied); `render_chart` draws with matplotlib (Agg, imported lazily)
and must run off the event loop (`asyncio.to_thread`).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlmodel import Session, select

from core.archive import search as fts
from core.storage.archive import ArchiveActor, ArchiveEntry, ArchiveMention
from core.storage.models import Circle


@dataclass(frozen=True)
class MentionRow:
    """One entry naming one actor, with where the entry came from."""

    actor_id: int
    actor: str
    entry_id: int
    circle_id: int
    circle: str
    country: str
    actor_kind: str = "company"


@dataclass
class CrossRef:
    """An actor seen by several circles, with the evidence."""

    actor_id: int
    actor: str
    kind: str
    circles: dict[int, str] = field(default_factory=dict)  # id -> name
    countries: set[str] = field(default_factory=set)
    entries: dict[int, list[int]] = field(default_factory=dict)  # circle id -> entry ids

    @property
    def entry_count(self) -> int:
        return sum(len(v) for v in self.entries.values())

    @property
    def entry_ids(self) -> list[int]:
        return sorted(e for v in self.entries.values() for e in v)


def rank(rows: list[MentionRow], min_circles: int = 2) -> list[CrossRef]:
    """Actors named in entries of at least `min_circles` circles (or two countries), ranked:
    more countries first, then more circles, then more entries, then name."""
    by_actor: dict[int, CrossRef] = {}
    for r in rows:
        ref = by_actor.setdefault(r.actor_id, CrossRef(r.actor_id, r.actor, r.actor_kind))
        ref.circles[r.circle_id] = r.circle
        ref.countries.add(r.country)
        bucket = ref.entries.setdefault(r.circle_id, [])
        if r.entry_id not in bucket:
            bucket.append(r.entry_id)
    found = [c for c in by_actor.values()
             if len(c.circles) >= min_circles or len(c.countries) >= 2]
    return sorted(found, key=lambda c: (-len(c.countries), -len(c.circles), -c.entry_count,
                                        c.actor.casefold(), c.actor_id))


def crossref_rows(session: Session, f: fts.Filters) -> list[MentionRow]:
    """Every (actor, entry, circle) the reader described by `f` may see."""
    stmt = fts.visible(
        select(ArchiveActor.id, ArchiveActor.name, ArchiveActor.kind, ArchiveEntry.id,
               Circle.id, Circle.name, Circle.country)
        .select_from(ArchiveMention)
        .join(ArchiveEntry, ArchiveEntry.id == ArchiveMention.entry_id)
        .join(ArchiveActor, ArchiveActor.id == ArchiveMention.actor_id)
        .join(Circle, Circle.id == ArchiveEntry.circle_id), f)
    return [MentionRow(a_id, a_name, e_id, c_id, c_name, country, a_kind)
            for a_id, a_name, a_kind, e_id, c_id, c_name, country in session.exec(stmt).all()]


def to_csv(refs: list[CrossRef]) -> str:
    """One line per actor: rank, name, kind, countries, circles, entries and their ids."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["rank", "actor", "kind", "countries", "circles", "entries", "entry_ids"])
    for i, c in enumerate(refs, 1):
        w.writerow([i, c.actor, c.kind, " ".join(sorted(c.countries)),
                    "; ".join(sorted(c.circles.values())), c.entry_count,
                    " ".join(str(e) for e in c.entry_ids)])
    return buf.getvalue()


@dataclass(frozen=True)
class Layout:
    """Positions of a bipartite drawing: circles at x=0, actors at x=1, and weighted edges."""

    circles: list[tuple[str, float]]
    actors: list[tuple[str, float]]
    edges: list[tuple[float, float, int]]  # (circle y, actor y, number of entries)


def layout(refs: list[CrossRef]) -> Layout:
    """Place circles and actors in two columns, evenly spread, actors in rank order and
    circles ordered by the average rank of the actors they name (fewer crossing lines)."""
    actor_y = {c.actor_id: 1 - (i + 0.5) / max(len(refs), 1) for i, c in enumerate(refs)}
    circle_names: dict[int, str] = {}
    pull: dict[int, list[float]] = {}
    for c in refs:
        for cid, name in c.circles.items():
            circle_names[cid] = name
            pull.setdefault(cid, []).append(actor_y[c.actor_id])
    order = sorted(circle_names, key=lambda cid: (-sum(pull[cid]) / len(pull[cid]),
                                                  circle_names[cid]))
    circle_y = {cid: 1 - (i + 0.5) / max(len(order), 1) for i, cid in enumerate(order)}
    edges = [(circle_y[cid], actor_y[c.actor_id], len(ids))
             for c in refs for cid, ids in c.entries.items()]
    return Layout([(circle_names[cid], circle_y[cid]) for cid in order],
                  [(c.actor, actor_y[c.actor_id]) for c in refs], edges)


def render_chart(refs: list[CrossRef], title: str) -> bytes:
    """A PNG of the bipartite graph (blocking: call through `asyncio.to_thread`)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global state between threads

    lay = layout(refs)
    height = max(3.0, 0.45 * max(len(lay.circles), len(lay.actors)) + 1.5)
    fig = Figure(figsize=(8, height), dpi=100)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylim(-0.05, 1.05)
    heaviest = max((n for *_, n in lay.edges), default=1)
    for cy, ay, n in lay.edges:
        ax.plot([0, 1], [cy, ay], color="#7a7a7a", alpha=0.7, linewidth=1 + 3 * n / heaviest,
                zorder=1)
    ax.scatter([0] * len(lay.circles), [y for _, y in lay.circles], s=220, color="#2b6cb0",
               zorder=2)
    ax.scatter([1] * len(lay.actors), [y for _, y in lay.actors], s=220, marker="s",
               color="#c05621", zorder=2)
    for name, y in lay.circles:
        ax.text(-0.06, y, name, ha="right", va="center", fontsize=10)
    for name, y in lay.actors:
        ax.text(1.06, y, name, ha="left", va="center", fontsize=10)
    ax.set_title(title, fontsize=12)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()

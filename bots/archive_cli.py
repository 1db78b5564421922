"""`tessera archive ...`: search, cross-reference and export the archive from a terminal.

    tessera archive search WORDS... --circle ID | --network ID [--public] [--actor A] ...
    tessera archive crossref --network ID [--csv FILE] [--chart FILE] [--public]
    tessera archive export --circle ID [--out DIR]      (or --network ID --public)

The operator chooses whose eyes to search with: `--circle` sees what that circle sees
(its own circle-only entries included), `--network` only what the network shares, and
`--public` only public entries.
"""
from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path


def add_cli(sub) -> None:
    """Add the `archive` subcommand to the `tessera` argument parser."""
    a = sub.add_parser("archive", help="search, cross-reference and export the living archive")
    asub = a.add_subparsers(dest="archive_command", metavar="ACTION", required=True)

    s = asub.add_parser("search", help="full-text search with filters (same results on SQLite "
                                       "and PostgreSQL)")
    s.add_argument("query", nargs="*", help='words (all must occur), "phrases", prefix*, -word')
    _reader_args(s)
    s.add_argument("--actor", help="an actor's id or any of its spellings")
    s.add_argument("--tag")
    s.add_argument("--from-circle", type=int, help="only entries of this circle id")
    s.add_argument("--country", help="two-letter country of the entries' circles")
    s.add_argument("--kind")
    s.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD")
    s.add_argument("--until", type=date.fromisoformat, help="YYYY-MM-DD")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(func=cmd_search)

    c = asub.add_parser("crossref", help="actors named by entries of two or more circles, ranked")
    c.add_argument("--network", type=int, required=True, help="network id")
    c.add_argument("--public", action="store_true", help="count public entries only")
    c.add_argument("--csv", metavar="FILE", help="also write the cross-reference as CSV")
    c.add_argument("--chart", metavar="FILE", help="also draw the circles-actors graph (PNG)")
    c.set_defaults(func=cmd_crossref)

    e = asub.add_parser("export", help="a circle's entries as JSON and CSV files")
    e.add_argument("--circle", type=int, help="circle id: all of its own entries")
    e.add_argument("--network", type=int, help="with --public: the network's public entries")
    e.add_argument("--public", action="store_true")
    e.add_argument("--out", default=".", help="folder to write into (default: here)")
    e.set_defaults(func=cmd_export)


def _reader_args(p) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--circle", type=int, help="search as this circle id sees the archive")
    g.add_argument("--network", type=int, help="search what this network id shares")
    p.add_argument("--public", action="store_true", help="public entries only")


def _engine(args):
    from core.config import load_config
    from core.storage import make_engine
    return make_engine(load_config(getattr(args, "config", None)).database_url())


def _filters(session, args):
    from core.archive.search import Filters
    from core.storage.models import Circle
    if args.circle is not None:
        circle = session.get(Circle, args.circle)
        if circle is None:
            raise SystemExit(f"no circle {args.circle}")
        return Filters(network_id=circle.network_id, circle_id=circle.id, public_only=args.public)
    return Filters(network_id=args.network, public_only=args.public)


def cmd_search(args, out=None) -> int:
    """`tessera archive search`: one line per entry, then its text."""
    from core.archive import service as svc
    from core.archive.search import search_entry_ids
    from core.archive.text import BadQuery
    from core.storage import unit_of_work
    from core.storage.archive import ArchiveEntry
    from core.storage.models import Circle

    out = out or sys.stdout
    engine = _engine(args)
    try:
        with unit_of_work(engine) as s:
            f = _filters(s, args)
            if args.actor:
                actor = svc.find_actor(s, f.network_id, args.actor)
                if actor is None or not svc.actor_visible(s, actor.id, f):
                    print(f"no actor {args.actor!r}", file=sys.stderr)
                    return 1
                f.actor_id = actor.id
            f.tag, f.from_circle, f.kind = args.tag, args.from_circle, args.kind
            f.country, f.since, f.until = args.country, args.since, args.until
            try:
                ids = search_entry_ids(s, " ".join(args.query), f, limit=args.limit)
            except BadQuery:
                print("a query needs at least one word to look for", file=sys.stderr)
                return 2
            for entry_id in ids:
                e = s.get(ArchiveEntry, entry_id)
                c = s.get(Circle, e.circle_id)
                actors = ", ".join(a.name for a in svc.entry_actors(s, e.id))
                out.write(f"#{e.id}\t{e.occurred_on}\t{c.name} ({c.country})\t{e.kind}\t"
                          f"{e.visibility}\t{actors}\n    {' '.join(e.text.split())}\n")
            out.write(f"{len(ids)} entr{'y' if len(ids) == 1 else 'ies'}\n")
    finally:
        engine.dispose()
    return 0


def cmd_crossref(args, out=None) -> int:
    """`tessera archive crossref`: the ranked table, and optionally CSV and chart files."""
    from core.archive import crossref as xref
    from core.archive.search import Filters
    from core.storage import unit_of_work
    from core.storage.models import Network

    out = out or sys.stdout
    engine = _engine(args)
    try:
        with unit_of_work(engine) as s:
            net = s.get(Network, args.network)
            if net is None:
                print(f"no network {args.network}", file=sys.stderr)
                return 1
            refs = xref.rank(xref.crossref_rows(s, Filters(net.id, public_only=args.public)))
    finally:
        engine.dispose()
    out.write(f"{'rank':>4}  {'actor':<28} {'countries':<12} {'circles':>7} {'entries':>7}\n")
    for i, c in enumerate(refs, 1):
        out.write(f"{i:>4}  {c.actor[:28]:<28} {' '.join(sorted(c.countries))[:12]:<12} "
                  f"{len(c.circles):>7} {c.entry_count:>7}\n")
    if args.csv:
        Path(args.csv).write_text(xref.to_csv(refs), encoding="utf-8")
        out.write(f"wrote {args.csv}\n")
    if args.chart:
        Path(args.chart).write_bytes(xref.render_chart(refs, f"{net.name}: cross-reference"))
        out.write(f"wrote {args.chart}\n")
    return 0


def cmd_export(args, out=None) -> int:
    """`tessera archive export`: writes archive-<circle>.json and .csv into --out."""
    from core.archive import service as svc
    from core.storage import unit_of_work
    from core.storage.models import Circle, Network

    out = out or sys.stdout
    if args.circle is None and not (args.network and args.public):
        print("give --circle ID, or --network ID --public", file=sys.stderr)
        return 2
    engine = _engine(args)
    try:
        with unit_of_work(engine) as s:
            if args.circle is not None:
                circle = s.get(Circle, args.circle)
                if circle is None:
                    print(f"no circle {args.circle}", file=sys.stderr)
                    return 1
                rows = svc.export_rows(s, circle_id=circle.id, public_only=args.public)
                stem = "archive-" + re.sub(r"[^\w-]+", "-", circle.name.lower()).strip("-")
            else:
                net = s.get(Network, args.network)
                if net is None:
                    print(f"no network {args.network}", file=sys.stderr)
                    return 1
                rows = svc.export_rows(s, network_id=net.id, public_only=True)
                stem = f"archive-network-{net.id}-public"
    finally:
        engine.dispose()
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(svc.export_json(rows), encoding="utf-8")
    (folder / f"{stem}.csv").write_text(svc.export_csv(rows), encoding="utf-8")
    out.write(f"wrote {len(rows)} entries to {folder / stem}.json and .csv\n")
    return 0

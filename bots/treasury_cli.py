"""`tessera ledger verify|export` and `tessera treasury report`: the treasury from the shell.

`tessera ledger verify` recomputes a network's chain in the database (or an export file an
organisation kept, with --file) and names the first altered entry; exit status 0 when the
chain holds, 1 when it does not. The algorithm is documented in `core/ledger.py`.
"""
from __future__ import annotations

import sys
from pathlib import Path


def _engine(args):
    from core.config import load_config
    from core.storage import make_engine

    cfg = load_config(getattr(args, "config", None))
    return make_engine(cfg.database_url())


def _network_id(session, wanted: int | None) -> int | None:
    from sqlmodel import select

    from core.storage.treasury import TreasuryLedgerHead

    if wanted is not None:
        return wanted
    ids = session.exec(select(TreasuryLedgerHead.network_id)).all()
    if len(ids) == 1:
        return ids[0]
    if not ids:
        print("no treasury ledger in this database yet", file=sys.stderr)
    else:
        print(f"several networks keep a ledger ({', '.join(map(str, ids))}): "
              "choose one with --network", file=sys.stderr)
    return None


def _write(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text, encoding="utf-8", newline="")
        print(f"written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_ledger_verify(args) -> int:
    from core.ledger import verify_export

    if args.file:
        result = verify_export(Path(args.file).read_text(encoding="utf-8"),
                               expected_head=args.head)
        seq = None
    else:
        from core.storage import unit_of_work
        from core.treasury import verify_ledger

        with unit_of_work(_engine(args)) as s:
            network = _network_id(s, args.network)
            if network is None:
                return 2
            v = verify_ledger(s, network, args.head)
        result, seq = v.result, v.seq
        if result.ok and v.head_found is False:
            print(f"chain intact ({result.checked} entries) but the published head {args.head} "
                  "is not in it: history was rewritten after it was published")
            return 1
    if result.ok:
        where = f", head at entry {seq}" if seq is not None else ""
        print(f"ledger OK: {result.checked} entries verified{where}")
        return 0
    print(f"ledger BROKEN at entry {result.first_bad_id} ({result.reason}); "
          f"{result.checked} entries before it are intact")
    return 1


def cmd_ledger_export(args) -> int:
    from core.ledger import chain_to_csv, chain_to_json
    from core.storage import unit_of_work
    from core.storage.treasury import load_chain

    with unit_of_work(_engine(args)) as s:
        network = _network_id(s, args.network)
        if network is None:
            return 2
        chain = load_chain(s, network)
    _write(chain_to_csv(chain) if args.format == "csv" else chain_to_json(chain), args.out)
    return 0


def cmd_treasury_report(args) -> int:
    from bots.treasury_words import report_csv
    from core.storage import unit_of_work
    from core.treasury import asymmetry

    with unit_of_work(_engine(args)) as s:
        network = _network_id(s, args.network)
        if network is None:
            return 2
        rows = asymmetry(s, network)
    _write(report_csv(rows), args.out)
    return 0


def add_cli(sub) -> None:
    """Add `ledger` and `treasury` to the `tessera` command line."""
    led = sub.add_parser("ledger", help="verify or export the treasury's hash-chained ledger")
    lsub = led.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    v = lsub.add_parser("verify", help="recompute the chain and name the first altered entry")
    v.add_argument("--network", type=int, help="network id (needed when several keep a ledger)")
    v.add_argument("--file", help="verify an exported CSV or JSON file instead of the database")
    v.add_argument("--head", help="a head hash published in the chats, to check against")
    v.set_defaults(func=cmd_ledger_verify)
    e = lsub.add_parser("export", help="write the ledger as CSV or JSON")
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("--network", type=int, help="network id (needed when several keep a ledger)")
    e.add_argument("--out", help="file to write (default: standard output)")
    e.set_defaults(func=cmd_ledger_export)

    t = sub.add_parser("treasury", help="treasury reports")
    tsub = t.add_subparsers(dest="treasury_command", metavar="ACTION", required=True)
    r = tsub.add_parser("report", help="the asymmetry report per circle, as CSV")
    r.add_argument("--network", type=int, help="network id (needed when several keep a ledger)")
    r.add_argument("--out", help="file to write (default: standard output)")
    r.set_defaults(func=cmd_treasury_report)

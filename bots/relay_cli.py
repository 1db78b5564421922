"""`tessera relay export ID --format md|html|rss|zip`: a relay's dossier, feed or zip bundle."""
from __future__ import annotations

from core.storage.relay import Relay


def add_cli(sub) -> None:
    """`tessera relay export ID --format md|html|rss|zip [--out PATH] [--lang xx]`."""
    p = sub.add_parser("relay", help="relay tools")
    rsub = p.add_subparsers(dest="relay_command", metavar="ACTION", required=True)
    e = rsub.add_parser("export", help="write a relay's dossier, podcast feed or zip bundle")
    e.add_argument("relay_id", type=int, help="the relay's number")
    e.add_argument("--format", choices=("md", "html", "rss", "zip"), default="zip")
    e.add_argument("--out", help="file to write (default: relay-ID.<ext> in this folder; - for stdout)")
    e.add_argument("--lang", help="language of the translations shown (default: the origin circle's)")
    e.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    """Run `tessera relay export`."""
    import asyncio
    import sys
    from pathlib import Path

    from core.clock import SystemClock
    from core.config import load_config
    from core.media import MediaStore
    from core.relay_export import export_relay
    from core.storage import make_engine, unit_of_work
    from core.work import Services

    cfg = load_config(getattr(args, "config", None))
    engine = make_engine(cfg.database_url())
    media = MediaStore(cfg.data_dir / "media", max_bytes=1 << 40)
    services = Services(engine=engine, clock=SystemClock(), config=cfg, media=media)
    with unit_of_work(engine) as s:
        relay = s.get(Relay, args.relay_id)
        if relay is None:
            print(f"there is no relay #{args.relay_id}", file=sys.stderr)
            return 1
        out = asyncio.run(export_relay(services, s, relay, args.format, lang=args.lang,
                                       now=services.clock.now()))
    if args.out == "-":
        sys.stdout.buffer.write(out.data)
        return 0
    path = Path(args.out or out.filename)
    path.write_bytes(out.data)
    print(f"wrote {path} ({len(out.data)} bytes)")
    engine.dispose()
    return 0

"""The `tessera` command line."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import timedelta
from pathlib import Path

from core.config import ConfigError, load_config

DEMO_SCRIPT = Path(__file__).parent / "scripts" / "demo.tessera"
LANGUAGES_SCRIPT = DEMO_SCRIPT.with_name("languages.tessera")


def _config(args):
    return load_config(getattr(args, "config", None))


def _secrets(cfg) -> list[str]:
    found = []
    for section in ("telegram", "matrix", "discord"):
        for name in ("token", "password"):
            try:
                value = cfg.secret(section, name) if f"{name}_env" in cfg[section] else None
            except ConfigError:
                value = None
            if value:
                found.append(value)
    url = cfg.database_url()
    if "@" in url and ":" in url.split("://", 1)[-1].split("@")[0]:
        found.append(url.split("://", 1)[-1].split("@")[0].split(":", 1)[1])
    return found


async def _run(cfg, script: Path | None, only: list[str] | None, interactive: bool,
               out=None, deliver_only: bool = False, worker: str | None = None) -> int:
    from adapters.console_adapter import ConsoleAdapter
    from bots.app import adapters_from_config, build_app
    from core.clock import OffsetClock
    from core.courier_routes import Route

    route = Route.parse(worker) if worker else None
    postgres = cfg.database_url().startswith("postgresql")
    if (deliver_only or (route and route.of > 1)) and not postgres:
        print("Extra delivery workers need PostgreSQL: they share chats out with its "
              "advisory locks. On SQLite run one process.", file=sys.stderr)
        return 2
    if postgres and route is None and script is None:
        route = Route(1, 1)  # one worker per platform: a second one started by mistake waits
    clock = OffsetClock()
    app = build_app(cfg, clock=clock)
    # A script plays in the console alone: replaying it must never speak in real chats.
    for adapter in adapters_from_config(cfg, app.services) if script is None else []:
        if not only or adapter.platform in only:
            app.add_adapter(adapter)
    console = None
    if not deliver_only and (cfg.console_enabled() or script is not None
                             or (only and "console" in only)):
        async def on_wait(delta: timedelta) -> None:
            await app.advance(clock, delta)

        console = ConsoleAdapter(app.services.media, out=out or sys.stdout, on_wait=on_wait)
        app.add_adapter(console)
    if not app.adapters:
        print("Nothing to deliver for: no platform of these is enabled." if deliver_only else
              "Nothing to serve: no platform is enabled and the console is off.", file=sys.stderr)
        return 2
    # Script mode is deterministic: timers run only when the script waits.
    await app.start(scheduler=script is None, receive=not deliver_only,
                    route=None if script is not None else route)
    try:
        if script is not None:
            for line in script.read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    console.out.write(f"{console.prompt()}{line}\n")
                if not await console.feed(line):
                    break
                await app.settle()
            if interactive:
                await console.interact(app.settle)
        elif console is not None:
            await console.interact(app.settle)
        else:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            doing = "delivering for" if deliver_only else "serving"
            place = f" as worker {route}" if route is not None and route.of > 1 else ""
            print(f"Tessera {doing} {', '.join(app.adapters)}{place}. Ctrl-C stops.",
                  file=sys.stderr)
            await stop.wait()
    finally:
        await app.stop()
    return 0


def cmd_run(args) -> int:
    cfg = _config(args)
    from core.logs import setup_logging
    setup_logging(cfg["tessera"]["log_level"], _secrets(cfg))
    script = Path(args.script) if args.script else None
    if script is not None and not script.exists():
        print(f"no such script: {script}", file=sys.stderr)
        return 2
    if args.deliver_only and (script is not None or "console" in (args.only or [])):
        print("--deliver-only serves chat platforms; the console and scripts receive.",
              file=sys.stderr)
        return 2
    if args.worker and not args.worker.startswith("1/") and not args.deliver_only:
        # Two processes receiving for one bot would fight over its updates (Telegram refuses
        # a second poller) and answer commands twice.
        print(f"worker {args.worker} can only deliver: add --deliver-only (worker 1 receives).",
              file=sys.stderr)
        return 2
    return asyncio.run(_run(cfg, script, args.only, interactive=False,
                            deliver_only=args.deliver_only, worker=args.worker))


def cmd_demo(args) -> int:
    overrides = {"tessera": {"data_dir": args.data_dir}}
    cfg = load_config(getattr(args, "config", None), overrides=overrides)
    db = cfg.data_dir / "tessera.db"
    if db.exists() and not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    from core.logs import setup_logging
    setup_logging("warning", _secrets(cfg))
    interactive = sys.stdin.isatty() and not args.no_interactive
    script = LANGUAGES_SCRIPT if args.languages else DEMO_SCRIPT
    return asyncio.run(_run(cfg, script, ["console"], interactive=interactive))


def cmd_config_check(args) -> int:
    cfg = _config(args)
    print(f"# configuration from {cfg.source}")
    print(json.dumps(cfg.redacted(), indent=2, sort_keys=True, default=str))
    print("# valid")
    return 0


def cmd_db_upgrade(args) -> int:
    from core.storage import current_revision, make_engine, upgrade
    cfg = _config(args)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.database_url())
    upgrade(engine)
    print(f"database at revision {current_revision(engine)}")
    return 0


def cmd_db_revision(args) -> int:
    from core.storage import new_revision
    print(f"created migration {new_revision(args.branch, args.message)}")
    return 0


def cmd_outbox(args) -> int:
    from sqlmodel import func, select

    from core.storage import make_engine, unit_of_work
    from core.storage.models import OutboxMessage
    cfg = _config(args)
    engine = make_engine(cfg.database_url())
    with unit_of_work(engine) as s:
        rows = s.exec(select(OutboxMessage.platform, OutboxMessage.state, func.count())
                      .group_by(OutboxMessage.platform, OutboxMessage.state)).all()
    print(f"{'platform':<10} {'state':<8} {'rows':>6}")
    for platform, state, n in rows:
        print(f"{platform:<10} {state:<8} {n:>6}")
    return 0


def _worker(spec: str) -> str:
    from core.courier_routes import Route
    try:
        return str(Route.parse(spec))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `tessera` (every subcommand with its help)."""
    p = argparse.ArgumentParser(
        prog="tessera",
        description="Tessera: relays, a solidarity treasury, action calendars and synchronized "
                    "days for circles in Telegram, Matrix and Discord.")
    p.add_argument("--config", help="configuration file (default: $TESSERA_CONFIG, ./tessera.toml, "
                                    "built-in defaults)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run the bots (the console chat when no platform is configured)")
    r.add_argument("--script", help="replay a scripted console conversation and print the transcript")
    r.add_argument("--only", nargs="+", metavar="PLATFORM",
                   help="serve only these platforms (telegram, matrix, discord, console)")
    r.add_argument("--deliver-only", action="store_true",
                   help="an extra delivery worker: send queued messages, never receive or run "
                        "timers (PostgreSQL; give each worker --worker K/N)")
    r.add_argument("--worker", type=_worker, metavar="K/N",
                   help="this process is worker K of the N that deliver for each of its "
                        "platforms: they share the chats and the bot's rate limit (PostgreSQL)")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="seed a small network (Chicago, Gaziantep, Lagos) in the console and show it")
    d.add_argument("--data-dir", default="./data/demo", help="where the demo keeps its database (default ./data/demo)")
    d.add_argument("--keep", action="store_true", help="keep an earlier demo database instead of starting afresh")
    d.add_argument("--no-interactive", action="store_true", help="only print the demo, don't open the console after it")
    d.add_argument("--languages", action="store_true",
                   help="the demo with circles in Cairo, Kharkiv and Madrid, each in its own "
                        "language (Arabic, Ukrainian, Spanish)")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("config", help="configuration tools")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cc = csub.add_parser("check", help="validate and print the effective configuration, secrets redacted")
    cc.set_defaults(func=cmd_config_check)

    db = sub.add_parser("db", help="database tools")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    du = dbsub.add_parser("upgrade", help="apply database migrations")
    du.set_defaults(func=cmd_db_upgrade)

    dr = dbsub.add_parser("revision", help="(developers) generate a migration for a feature's tables")
    dr.add_argument("branch", help="the feature's migration branch, e.g. relay")
    dr.add_argument("-m", "--message", required=True, help="what changed")
    dr.set_defaults(func=cmd_db_revision)

    o = sub.add_parser("outbox", help="show how many messages wait, were sent or failed, per platform")
    o.set_defaults(func=cmd_outbox)

    from bots.cli_extras import extensions
    for extend in extensions():
        extend(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tessera` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

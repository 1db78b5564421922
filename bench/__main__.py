"""`python -m bench [command|schedule|footprint|fanout ...] [--quick]`: run the benchmarks and
print one table of measured against target."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Callable

from bench import Row, format_table


def benchmarks() -> dict[str, Callable]:
    """Every benchmark by name, in the issue's order (imported lazily)."""
    from bench import command, fanout, footprint, schedule
    return {"command": command.run, "fanout": fanout.run, "schedule": schedule.run,
            "footprint": footprint.run}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("which", nargs="*", metavar="BENCHMARK",
                   help="command, fanout, schedule, footprint (default: all)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke tests, a first look)")
    p.add_argument("--postgres", metavar="URL",
                   help="PostgreSQL server for the command benchmark ('off' to skip; default "
                        "$TESSERA_BENCH_POSTGRES_URL, $TESSERA_TEST_POSTGRES_URL or "
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    p.add_argument("--within", type=float, default=60.0, metavar="SECONDS",
                   help="schedule: kickoffs fall due within this many seconds (issue: 60)")
    p.add_argument("--kickoffs", type=int, default=None,
                   help="schedule: how many kickoffs (issue: 5,000)")
    return p


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    known = benchmarks()
    which = options.which or list(known)
    unknown = [w for w in which if w not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(known)}",
              file=sys.stderr)
        return 2
    from bench.common import load_note
    rows: list[Row] = []
    before = load_note()
    for name in which:
        t0 = time.monotonic()
        print(f"# {name} ...", file=sys.stderr, flush=True)
        rows += known[name](options)
        print(f"# {name} took {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    print(format_table(rows))
    print(f"# at start: {before}; at end: {load_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Target 4, footprint: how much memory a running Tessera holds and how fast it is ready.

A database is prepared with 1,000 circles and 50,000 members; then `tessera run` (the
product's own entry point, serving the console) is started on it as a subprocess. Start to
ready is the time from launching the process until the console prints its prompt, which it
does only after adapters, couriers and the scheduler are started. Resident memory is read
from /proc/<pid>/status (VmRSS now, VmHWM at its peak) once ready and again after it has run
a few seconds. No translation model is loaded (they load on the first translation).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import Row, under
from bench.common import bulk_seed, cpu_seconds, proc_status

READY_MARK = b"]> "  # the console prompt, e.g. "[lobby as you]> "


def prepare(data_dir: Path, circles: int, members: int) -> Path:
    """A migrated, seeded SQLite database and a configuration file for `tessera run`."""
    from core.storage import make_engine, upgrade

    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "tessera.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    bulk_seed(engine, circles, members)
    engine.dispose()
    config = data_dir / "tessera.toml"
    config.write_text(
        "[tessera]\n"
        f'data_dir = "{data_dir}"\n'
        f'database_url = "sqlite:///{db}"\n'
        'log_level = "warning"\n'
        "[console]\n"
        'enabled = "true"\n', encoding="utf-8")
    return config


def tessera_command() -> list[str]:
    """How to start the product: the installed `tessera` script, else the module."""
    script = Path(sys.executable).parent / "tessera"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]


def start_once(config: Path, settle: float = 2.0, timeout: float = 60.0) -> dict:
    """Launch `tessera run`, wait for its prompt; measure time and memory; stop it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("TESSERA_CONFIG", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([*tessera_command(), "--config", str(config), "run"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=config.parent, env=env)
    ready = threading.Event()
    seen = bytearray()

    def read() -> None:
        while True:
            chunk = proc.stdout.read1(4096)
            if not chunk:
                return
            seen.extend(chunk)
            if READY_MARK in seen:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout):
            err = proc.stderr.read1(2000).decode(errors="replace") if proc.poll() is not None else ""
            raise RuntimeError(f"tessera run printed no prompt within {timeout:.0f} s: {err}")
        started = time.perf_counter() - t0
        at_ready = proc_status(proc.pid)
        cpu = cpu_seconds(proc.pid)
        time.sleep(settle)
        later = proc_status(proc.pid)
    finally:
        proc.stdin.close()  # end of input: the console quits and the app stops
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"start_s": started, "cpu_s": cpu, "rss_ready_kib": at_ready["VmRSS"],
            "rss_kib": later["VmRSS"], "peak_kib": later["VmHWM"]}


def run(options) -> list[Row]:
    """Target 4 with the issue's data (1,000 circles, 50,000 members), or tiny with --quick."""
    circles, members, starts = (20, 200, 1) if options.quick else (1000, 50_000, 3)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        t0 = time.perf_counter()
        config = prepare(Path(tmp) / "data", circles, members)
        seeded = time.perf_counter() - t0
        runs = [start_once(config) for _ in range(starts)]
    start = statistics.median(r["start_s"] for r in runs)
    rss = max(r["rss_kib"] for r in runs) / 1024
    peak = max(r["peak_kib"] for r in runs) / 1024
    data = f"{circles:,} circles, {members:,} members (seeded in {seeded:.1f} s)"
    return [
        Row("4 footprint", "resident memory of `tessera run`", rss, "MiB", "< 250 MB",
            under(rss, 250e6 / 2**20),
            f"peak {peak:.0f} MiB, at ready {max(r['rss_ready_kib'] for r in runs) / 1024:.0f} "
            f"MiB; {data}; no translation model loaded"),
        Row("4 footprint", "start to ready (`tessera run` to prompt)", start, "s", "< 2 s",
            under(start, 2.0), f"median of {starts}: " +
            ", ".join(f"{r['start_s']:.2f}" for r in runs) + " s; CPU used by then " +
            ", ".join(f"{r['cpu_s']:.2f}" for r in runs) + " s"),
    ]


__all__ = ["run", "prepare", "start_once"]

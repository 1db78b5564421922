"""The benchmarks run end to end on tiny sizes and produce sane rows. No timing is asserted:
the numbers belong in `python -m bench`'s table, not in pass/fail."""
from __future__ import annotations

import math
import os

import pytest

from bench import Row, format_table, percentile
from bench import command, fanout, footprint, schedule
from bench.__main__ import main

TINY = command.Sizes(circles=2, members_per_circle=3, commands=30, warmup=4)


def sane(row: Row) -> None:
    assert row.area and row.metric
    assert row.measured is not None and math.isfinite(row.measured) and row.measured >= 0
    assert row.met in (True, False, None)


def test_percentile_takes_the_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 99) == 99
    assert percentile(values, 50) == 50
    assert math.isnan(percentile([], 99))


def test_the_table_shows_every_row_and_a_placeholder(capsys, monkeypatch):
    # The fan-out without its Matrix leg (no Synapse here): that row is the placeholder.
    monkeypatch.setattr(fanout, "QUICK_SIZES", {"telegram": 40, "matrix": 0, "discord": 60})
    assert main(["fanout", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "not measured yet" in out and "fan-out" in out
    for leg in ("Telegram, 40 circles", "Discord, 60 circles"):
        line = next(line for line in out.splitlines() if leg in line)
        assert "0 lost, 0 duplicated" in line
    table = format_table([Row("x", "speed", 1234.5, "cmd/s", ">= 1,000", True)])
    assert "1,234 cmd/s" in table and "met" in table


@pytest.mark.synapse
def test_the_fanout_reaches_matrix_rooms_on_a_real_synapse(tmp_path):
    import asyncio

    from tests.support.synapse import SynapseUnavailable, ensure_synapse_venv

    try:
        ensure_synapse_venv()
    except SynapseUnavailable as e:
        if os.environ.get("TESSERA_REQUIRE_SYNAPSE") == "1":
            pytest.fail(f"Synapse is required but unavailable: {e}", pytrace=False)
        pytest.skip(f"no Synapse homeserver on this machine: {e}")
    legs, whole = asyncio.run(fanout.announce(tmp_path, {"telegram": 0, "matrix": 25,
                                                         "discord": 0}))
    matrix = next(leg for leg in legs if leg.platform == "matrix")
    assert not matrix.skipped, matrix.skipped
    # Read back from Synapse: every room holds the announcement exactly once.
    assert (matrix.delivered, matrix.duplicates) == (25, 0)
    assert whole["states"] == {"matrix:sent": 25} and not whole["timed_out"]
    sane(fanout.leg_row(matrix))


def test_command_mix_reaches_the_outbox_and_the_echo_handler(tmp_path):
    rows = command.sqlite_rows(TINY, tmp_path)
    by_metric = {r.metric: r for r in rows}
    for r in rows:
        sane(r)
    # Every command answered: at least one outbox row per command.
    assert by_metric["SQLite mixed: outbox rows per command"].measured >= 1
    assert "status=" in by_metric["SQLite mixed: outbox rows per command"].note
    assert by_metric["SQLite mixed: p99 latency"].measured > 0


def test_the_mix_uses_commands_the_registry_has(tmp_path):
    import asyncio

    mix, pop = asyncio.run(command._prepare(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, TINY, 1))
    messages = command.workload(mix, pop, 200, seed=9)
    assert len(messages) == 200 and len(pop.members) == 6
    kinds = set(mix.by_kind)
    assert {"report", "vote", "rsvp", "status", "malformed"} <= kinds
    assert all(text.startswith("/") for *_, text in messages)


@pytest.mark.slow  # three worker processes each import the suite: about 10-25 s
@pytest.mark.skipif(not os.environ.get("TESSERA_TEST_POSTGRES_URL"),
                    reason="PostgreSQL not configured: set TESSERA_TEST_POSTGRES_URL")
def test_two_worker_processes_share_the_workload_on_postgres(tmp_path):
    rows = command.postgres_rows(TINY, os.environ["TESSERA_TEST_POSTGRES_URL"], tmp_path)
    assert [r.metric for r in rows][-1] == "PostgreSQL 2 processes / 1 process"
    for r in rows:
        sane(r)
    assert all("rows/cmd" in r.note for r in rows[:2])


def test_kickoffs_run_through_the_real_scheduler(tmp_path):
    import asyncio

    m = asyncio.run(schedule.measure(tmp_path, count=40, within=3.0, lead=1.0, batch=15))
    assert m["delivered"] == 40 and m["states"] == {"done": 40}
    assert m["create_s"] > 0 and 0 < m["ahead_s"] < 2.5  # created before the first was due
    assert m["zones"] > 400  # every IANA zone was cycled through
    assert all(math.isfinite(x) for x in m["late"])


def test_tessera_run_gets_ready_on_a_prepared_database(tmp_path):
    config = footprint.prepare(tmp_path / "data", circles=4, members=20)
    result = footprint.start_once(config, settle=0.2)
    assert result["start_s"] > 0 and result["cpu_s"] > 0
    assert 10_000 < result["rss_kib"] < 4_000_000

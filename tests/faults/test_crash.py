"""SIGKILL in the middle of a relay handoff, a ballot close, a disbursement and a sync-day
kickoff: after a restart nothing said is lost, no ledger entry is doubled, the ledger
verifies, and every due timer ran once or was reported missed.

The default suite kills each step twice; `--slow` kills it 50 times. Each kill instant comes
from a seed shown in the test output: `FAULT_SEEDS=1234 pytest tests/faults -k relay` replays
one trial (with `--slow` for the long variant).
"""
from __future__ import annotations

import os

import pytest

from tests.faults.harness import CrashBench, aim, differences
from tests.faults.scenarios import SCENARIOS

DEFAULT_TRIALS = 2
SLOW_TRIALS = 50


def _seeds(name: str, n: int) -> list[int]:
    if os.environ.get("FAULT_SEEDS"):
        return [int(s) for s in os.environ["FAULT_SEEDS"].split(",")]
    base = int(os.environ.get("FAULT_BASE_SEED", "20260302"))
    return [base + 1000 * i + sum(map(ord, name)) for i in range(n)]


def crash_and_restart(tmp_path, name: str, trials: int, postgres: bool = False) -> None:
    bench = CrashBench(name, tmp_path, postgres=postgres)
    try:
        reference = bench.trial(seed=0, aim=None)
        assert reference.timeline is not None
        # The uninterrupted run must itself be sound, or comparing with it proves nothing.
        assert differences(reference.result, reference.result, retried=False) == []
        retried = SCENARIOS[name].retry is not None
        failures, kills = [], 0
        for seed in _seeds(name, trials):
            where = aim(seed, reference.timeline)
            t = bench.trial(seed, where)
            kills += t.killed
            problems = differences(reference.result, t.result, retried)
            print(f"{name} seed={seed} kill {where}: killed={t.killed} left {t.at_crash} "
                  f"{'OK' if not problems else 'FAIL'}")
            if problems:
                failures.append(f"seed {seed} (kill {where}): " + "; ".join(problems))
        assert failures == [], "\n".join(failures)
        print(f"{name}: {trials} trials, {kills} killed mid-step; the step commits "
              f"{len(reference.timeline) - 1} times in {reference.timeline[-1] * 1000:.0f} ms")
    finally:
        bench.close()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_crash_mid_step_loses_and_doubles_nothing(tmp_path, name):
    crash_and_restart(tmp_path, name, DEFAULT_TRIALS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fifty_crashes_mid_step_lose_and_double_nothing(tmp_path, name):
    crash_and_restart(tmp_path, name, SLOW_TRIALS)


def test_a_crash_mid_disbursement_on_postgresql(tmp_path):
    crash_and_restart(tmp_path, "disbursement", DEFAULT_TRIALS, postgres=True)


@pytest.mark.slow
def test_fifty_crashes_mid_ballot_close_on_postgresql(tmp_path):
    crash_and_restart(tmp_path, "ballot_close", SLOW_TRIALS, postgres=True)

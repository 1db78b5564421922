"""Balances are folded from the ledger: a process remembers the head it last saw and adds
only what was appended since, and must never trust an append that was rolled back."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from core.money import Money
from core.storage import make_engine, unit_of_work, upgrade
from core.storage.models import Network
from core.storage.treasury import append_entry
from core.treasury import treasury_balances

AT = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def _money(minor: int, currency: str = "EUR") -> dict:
    return {"amount": {"currency": currency, "minor": minor}}


@pytest.fixture
def network(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    with unit_of_work(engine) as s:
        net = Network(name="Balances", created_at=AT)
        s.add(net)
        s.flush()
        net_id = net.id
    yield engine, net_id
    engine.dispose()


def test_rolled_back_append_is_not_remembered(network):
    engine, net = network
    with unit_of_work(engine) as s:
        append_entry(s, net, "contribution_confirmed", AT, _money(10_000))
        assert treasury_balances(s, net)["EUR"] == Money(10_000, "EUR")
    with pytest.raises(RuntimeError):
        with unit_of_work(engine) as s:
            append_entry(s, net, "contribution_confirmed", AT, _money(99_900))
            assert treasury_balances(s, net)["EUR"] == Money(109_900, "EUR")
            raise RuntimeError("the command failed after the append")
    with unit_of_work(engine) as s:
        # The same sequence number now holds a different entry, then one more follows.
        append_entry(s, net, "disbursement", AT, _money(2_500))
        append_entry(s, net, "contribution_confirmed", AT, _money(1_000, "TRY"))
        balances = treasury_balances(s, net)
    assert balances["EUR"] == Money(7_500, "EUR")
    assert balances["TRY"] == Money(1_000, "TRY")


def test_entries_appended_by_another_process_are_counted(network, database_url):
    engine, net = network
    with unit_of_work(engine) as s:
        append_entry(s, net, "contribution_confirmed", AT, _money(5_000))
        assert treasury_balances(s, net)["EUR"] == Money(5_000, "EUR")
    other = make_engine(database_url)  # another worker's engine: this one's memory is stale
    try:
        with unit_of_work(other) as s:
            append_entry(s, net, "contribution_confirmed", AT, _money(700))
            append_entry(s, net, "contribution", AT, _money(40_000))  # not yet confirmed: no money
    finally:
        other.dispose()
    with unit_of_work(engine) as s:
        assert treasury_balances(s, net)["EUR"] == Money(5_700, "EUR")

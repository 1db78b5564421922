"""Comparing wages across circles: per period and currency, converted only with rates
people entered (stewards' exchange rates), never with rates from elsewhere."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from core.money import Money, NoRate, Rate, convert_for_report

# The periods a wage is given for, shortest first (core.archive.service checks them).
PERIODS = ("hour", "day", "week", "month", "year")


@dataclass(frozen=True)
class ComparedWage:
    """A wage as shown in a comparison: `shown` is in the target currency when a rate was
    available (`converted=True`), else the original amount."""

    row: object  # core.archive.service.WageRow
    shown: Money
    converted: bool


def compare_wages(rows: Iterable, rates: Iterable[Rate] = (), target: str | None = None
                  ) -> dict[tuple[str, str], list[ComparedWage]]:
    """Group wages by (period, currency shown), shortest period first, highest wage first
    within each group.

    With `target` and rates, each wage is converted at the rate valid on its own date; a
    wage without such a rate stays in its currency (its own group). Periods are never
    converted into each other: hours per month differ too much between places.
    """
    rate_list = list(rates)
    groups: dict[tuple[str, str], list[ComparedWage]] = {}
    for row in rows:
        shown, converted = row.money, False
        if target and rate_list and row.money.currency != target.upper():
            try:
                shown = convert_for_report(row.money, rate_list, target, row.on_date)
                converted = True
            except NoRate:
                pass
        groups.setdefault((row.period, shown.currency), []).append(
            ComparedWage(row, shown, converted))
    for items in groups.values():
        items.sort(key=lambda w: (-w.shown.minor, w.row.circle, w.row.entry_id))
    return dict(sorted(groups.items(), key=lambda kv: (_period_rank(kv[0][0]), kv[0])))


def _period_rank(period: str) -> int:
    # Shortest period first (hour, day, ... year), whatever the words in the reader's language.
    return PERIODS.index(period) if period in PERIODS else len(PERIODS)

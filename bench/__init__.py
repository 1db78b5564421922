"""Tessera's benchmarks: proof under load, printed as one table of measured against target.

Each benchmark is a function `run(options) -> list[Row]` registered in `bench.__main__`;
`python -m bench` runs them all, `python -m bench command|schedule|footprint [--quick]` one.
Numbers come from one run on this machine and are never asserted in tests: the smoke tests
only check that every benchmark produces sane rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence


@dataclass
class Row:
    """One line of the table: what was measured, the target it answers, and whether it met it.

    `met` is None when there is nothing to compare (a ratio shown for information, or a
    target the issue states without a number, or something not measured yet).
    """

    area: str
    metric: str
    measured: float | None
    unit: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def shown(self) -> str:
        """The measured value as printed."""
        if self.measured is None:
            return "not measured yet"
        value = self.measured
        if abs(value) >= 100 or value == int(value):
            text = f"{value:,.0f}"
        elif abs(value) >= 1:
            text = f"{value:,.2f}"
        else:
            text = f"{value:.3f}"
        return f"{text} {self.unit}".strip()


def percentile(values: Sequence[float], p: float) -> float:
    """The `p`-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def at_least(value: float | None, target: float) -> bool | None:
    """Whether `value` reaches `target` (None when not measured)."""
    return None if value is None or math.isnan(value) else value >= target


def under(value: float | None, target: float) -> bool | None:
    """Whether `value` stays under `target` (None when not measured)."""
    return None if value is None or math.isnan(value) else value < target


def format_table(rows: Iterable[Row]) -> str:
    """The rows as a fixed-width text table with a verdict column."""
    rows = list(rows)
    head = ("area", "metric", "measured", "target", "verdict", "note")
    verdict = {True: "met", False: "MISSED", None: "-"}
    body = [(r.area, r.metric, r.shown(), r.target, verdict[r.met], r.note) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    widths[-1] = len(head[-1])  # the note runs free at the end of the line

    def line(cells) -> str:
        return "  ".join(c.ljust(w) if i < len(cells) - 1 else c
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(head), line(["-" * w for w in widths[:-1]] + ["-" * 4])]
    out += [line(b) for b in body]
    return "\n".join(out)


__all__ = ["Row", "percentile", "at_least", "under", "format_table"]

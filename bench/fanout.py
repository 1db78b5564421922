"""Target 2, fan-out (TODO, added when the adapters land): one announcement to 1,000 circles
over the three platforms' local test servers (the fake Telegram Bot API server, a local
Synapse, dpytest), measuring how long until every circle has it while each platform's limits
are respected.

To add it, replace the body of `run(options) -> list[Row]` below; `bench.__main__` already
runs it with the others and prints its rows in the same table.
"""
from __future__ import annotations

from bench import Row


def run(options) -> list[Row]:
    """Not measured yet: prints a named placeholder row in the table."""
    return [Row("2 fan-out", "1,000 circles over Telegram, Matrix, Discord test servers", None,
                "s", "(issue target)", None, "TODO(fan-out): lands with the adapters")]


__all__ = ["run"]

"""Waiting for delivery workers to settle on their routes (core.courier_routes)."""
from __future__ import annotations

import asyncio

import pytest

from core.courier_routes import route_locks


async def settled(engine, platform: str, of: int, rounds: int = 300) -> None:
    """Wait (bounded) until each route is walked by its own worker, the one on duty for it:
    a worker that starts first walks every route until the others are on duty."""
    locks = []
    for _ in range(rounds):
        with engine.connect() as conn:
            locks = route_locks(conn, platform)
        holders = {(lock.kind, lock.number): lock.pid for lock in locks}
        if all(holders.get(("walking", n)) == holders.get(("on duty", n)) is not None
               for n in range(1, of + 1)):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the {platform} routes never settled: {locks}")

"""What the Telegram adapter must remember across restarts, kept in the AdapterState table.

Keys: "telegram:offset" (the last update handled), "telegram:poll:<poll id>" (the chat and
the commands behind a native poll's options), "telegram:pollref:<chat>:<ref>" (which
message holds the poll a ballot opened, to stop it) and "telegram:button:<data>" (commands
too long for a button's 64 bytes).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from core.storage import unit_of_work
from core.storage.models import AdapterState


class AdapterMemory:
    """Small JSON values under "<platform>:<key>", one short unit of work each."""

    def __init__(self, engine: Engine, platform: str = "telegram") -> None:
        self.engine = engine
        self.prefix = platform + ":"

    def get(self, key: str) -> dict[str, Any] | None:
        """The value stored under `key`, or None."""
        with unit_of_work(self.engine) as s:
            row = s.get(AdapterState, self.prefix + key)
            return dict(row.value) if row is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store (or replace) the value under `key`."""
        with unit_of_work(self.engine) as s:
            row = s.get(AdapterState, self.prefix + key)
            if row is None:
                row = AdapterState(key=self.prefix + key, value=value)
            else:
                row.value = value
            s.add(row)

    # -- the update cursor -----------------------------------------------------------------
    def last_update_id(self) -> int:
        """The id of the last update fully handled (0 before the first)."""
        return int((self.get("offset") or {}).get("update_id", 0))

    def handled(self, update_id: int) -> None:
        """Remember that `update_id` (and everything before it) is handled."""
        self.put("offset", {"update_id": int(update_id)})

"""What the Matrix door remembers across restarts, in the AdapterState table.

Keys (all prefixed "matrix:"):
  next_batch                 {"token"}: where the next /sync starts
  login                      {"device_id", "access_token"?}: the kept device (and the token
                             obtained from a password login)
  dm:<user id>               {"room"}: the direct room with that person
  poll:<event id>            {"room", "ref", "question", "answers": {id: command}, "closed"?}
  poll_ref:<room id>:<ref>   {"event_id"}: which poll a close_ref stops
  choices:<event id>         {"room", "choices": {reaction key: command}}
"""
from __future__ import annotations

import re

from sqlalchemy.engine import Engine
from sqlmodel import select

from core.storage import unit_of_work
from core.storage.models import AdapterState

NEXT_BATCH = "matrix:next_batch"
LOGIN = "matrix:login"


class MatrixState:
    """Small JSON values by key; each call is its own short unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> dict | None:
        """The value stored under `key`, or None."""
        with unit_of_work(self.engine) as s:
            row = s.get(AdapterState, key)
            return dict(row.value) if row is not None else None

    def put(self, key: str, value: dict) -> None:
        """Store `value` under `key`, replacing what was there."""
        with unit_of_work(self.engine) as s:
            row = s.get(AdapterState, key)
            if row is None:
                s.add(AdapterState(key=key, value=value))
            else:
                row.value = value
                s.add(row)

    def delete(self, key: str, only_if: dict | None = None) -> None:
        """Remove `key` (when `only_if` is given, only while it still holds those values)."""
        with unit_of_work(self.engine) as s:
            row = s.get(AdapterState, key)
            if row is not None and all(row.value.get(k) == v for k, v in (only_if or {}).items()):
                s.delete(row)

    def items(self, prefix: str) -> list[tuple[str, dict]]:
        """Every (key, value) whose key starts with `prefix`."""
        like = re.sub(r"([%_\\])", r"\\\1", prefix) + "%"
        with unit_of_work(self.engine) as s:
            rows = s.exec(select(AdapterState).where(AdapterState.key.like(like, escape="\\")))
            return [(r.key, dict(r.value)) for r in rows]

    def sync_token(self) -> str | None:
        """The stored /sync position (None before the first start)."""
        return (self.get(NEXT_BATCH) or {}).get("token")

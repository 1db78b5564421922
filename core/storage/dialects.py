"""What differs between the two databases Tessera runs on, kept in one place."""
from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def upsert_insert(dialect: str):
    """The `insert()` of `dialect` ("postgresql" or "sqlite"), the one that offers
    `on_conflict_do_update` / `on_conflict_do_nothing` (both speak ON CONFLICT)."""
    return pg_insert if dialect == "postgresql" else sqlite_insert

"""Alembic environment: runs on the connection Tessera hands over (or the URL in
TESSERA_DATABASE_URL when invoked by the alembic CLI)."""
from __future__ import annotations

import os

from alembic import context
from sqlmodel import SQLModel

import core.storage  # noqa: F401  (registers every table)

target_metadata = SQLModel.metadata


def _include(obj, name, type_, reflected, compare_to):
    # APScheduler manages its own job table; full-text search tables and indexes are written
    # by hand in their feature's migration (autogenerate cannot express them).
    if type_ == "table" and (name == "apscheduler_jobs" or "_fts" in (name or "")):
        return False
    return not (type_ == "index" and "_fts" in (name or ""))


def _render_item(type_, obj, autogen_context):
    # Our UtcDateTime is a Python-side decorator; the column itself is a plain timestamp.
    if type_ == "type" and type(obj).__name__ == "UtcDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=_include,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from sqlalchemy import create_engine

    with create_engine(os.environ["TESSERA_DATABASE_URL"]).connect() as conn:
        _run(conn)
        conn.commit()

"""Storage: migrations from empty on both databases, and models that match them."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from core.storage import current_revision, make_engine, unit_of_work, upgrade
from core.storage.models import Network


def _diff(engine):
    def include(obj, name, type_, reflected, compare_to):
        if type_ == "table" and name == "apscheduler_jobs":
            return False
        # Full-text search shadow tables and indexes are created by hand in migrations.
        if type_ == "index" and name and "_fts" in name:
            return False
        return not (type_ == "table" and name and name.endswith(("_fts", "_fts_data", "_fts_idx",
                                                                  "_fts_docsize", "_fts_config",
                                                                  "_fts_content")))
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include,
                                                     "compare_type": False})
        return compare_metadata(ctx, SQLModel.metadata)


def test_migrations_from_empty_match_the_models(database_url):
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    upgrade(engine)  # a second run changes nothing
    assert _diff(engine) == []
    with unit_of_work(engine) as s:
        s.add(Network(name="N", created_at=datetime(2026, 1, 1, 12, tzinfo=timezone.utc)))
    with unit_of_work(engine) as s:
        net = s.exec(select(Network)).one()
        # Times come back aware and in UTC on both databases.
        assert net.created_at == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
        assert net.created_at.tzinfo is not None
    engine.dispose()


def test_naive_datetimes_are_refused(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with pytest.raises(Exception, match="naive datetime"):
        with unit_of_work(engine) as s:
            s.add(Network(name="N", created_at=datetime(2026, 1, 1, 12)))
    engine.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()

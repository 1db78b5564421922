"""The sweep deletes a stored file only when no row points at it. That is safe only if
`core.retention` knows every column that can hold a media-store key: this test walks every
table and fails when a new one might, until it is listed (as a holder, or as not a file)."""
from __future__ import annotations

from sqlalchemy import JSON
from sqlmodel import SQLModel

import core.storage  # noqa: F401  (every table joins the metadata)
from core import retention

# Columns whose names look like keys or files but hold none, and JSON columns that never
# carry media paths. Add a column here only after checking where its values come from.
NOT_MEDIA = {
    "outboxmessage.idempotency_key", "timer.key", "adapterstate.key", "translation_cache.key",
    "relay_glossary_term.term_key", "archive_alias.key", "archive_wage.job_key",
    "relay_part.filename",  # the name the sender gave, shown next to the file
    "network.settings", "auditentry.details", "timer.payload", "adapterstate.value",
    "calendar_event.reminders", "syncday.countdown", "treasury_ledger.data",
    "treasury_ballot.eligible", "treasury_ballot.policy", "treasury_ballot.result",
    "treasury_stewardship.circles", "treasury_stewardship.granted", "archive_entry.sources",
}
LOOKS_LIKE_MEDIA = ("key", "media", "chart", "file", "path", "attachment")


def _name(column) -> str:
    return f"{column.table.name}.{column.name}"


def test_every_column_that_may_hold_a_file_is_known():
    known = {_name(c.expression) for c in retention.KEY_COLUMNS}
    known |= {_name(c.expression) for c, _ in retention.JSON_HOLDERS}
    unknown = []
    for table in SQLModel.metadata.tables.values():
        for column in table.columns:
            name = _name(column)
            suspicious = isinstance(column.type, JSON) or any(
                word in column.name for word in LOOKS_LIKE_MEDIA)
            if suspicious and name not in known and name not in NOT_MEDIA:
                unknown.append(name)
    assert not unknown, ("columns that may hold media-store keys; add them to "
                         f"core.retention.KEY_COLUMNS/JSON_HOLDERS or to NOT_MEDIA: {unknown}")


def test_claims_read_paths_from_messages_and_archive_attachments():
    assert list(retention._paths({"attachments": [{"path": "ab/x.ogg"}, {"path": None}, "junk"]})) \
        == ["ab/x.ogg"]
    assert list(retention._paths([{"path": "cd/y.pdf", "filename": "y.pdf"}])) == ["cd/y.pdf"]
    assert list(retention._paths(None)) == []

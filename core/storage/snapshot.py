"""Read-only copies of rows, for what every command reads and few change.

Each message needs its sender, their circle, network and membership. Loading those as ORM
objects made the session track five objects per command, which cost more than the command's
own work on SQLite; a snapshot is a plain copy of the row's values. Reading is the same
(`ctx.circle.name`); changing goes through the stored row, which `Context.editable` loads.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select


class ReadOnlySnapshot(AttributeError):
    """Raised when code assigns to a snapshot instead of the stored row."""


class Snapshot:
    """The values of one row of `model`, as a unit of work found them; attributes only.

    Equal to another snapshot or ORM object of the same model with the same id, so a
    snapshot is found in a list of loaded rows.
    """

    def __init__(self, model: type, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.__dict__["__model__"] = model

    @property
    def model(self) -> type:
        """The ORM class of the row."""
        return self.__dict__["__model__"]

    def changed(self, **values: Any) -> Snapshot:
        """A copy with some values replaced (after the row itself was updated)."""
        mine = {k: v for k, v in self.__dict__.items() if k != "__model__"}
        return Snapshot(self.model, {**mine, **values})

    def __setattr__(self, name: str, value: Any) -> None:
        raise ReadOnlySnapshot(
            f"{self.model.__name__}.{name}: this is a read-only snapshot; change the row "
            "through ctx.editable(...)")

    def __eq__(self, other: object) -> bool:
        model = other.model if isinstance(other, Snapshot) else type(other)
        return model is self.model and getattr(other, "id", None) == self.id

    def __hash__(self) -> int:
        return hash((self.model, self.id))

    def __repr__(self) -> str:
        return f"<{self.model.__name__} #{self.__dict__.get('id')} (snapshot)>"


def columns_of(*models: type) -> list:
    """The table columns of `models`, in order: what a statement selects for `snapshots`."""
    return [col for model in models for col in model.__table__.columns]


def snapshots(session, stmt, params: dict, *models: type) -> list:
    """The rows of `stmt` (selecting `columns_of(*models)`) as read-only snapshots: one per
    row for one model, a tuple per row for several."""
    spans = spans_of(models)
    rows = session.execute(stmt, params).all()
    if len(models) == 1:
        ((model, _, _, keys),) = spans
        return [Snapshot(model, dict(zip(keys, row))) for row in rows]
    return [tuple(Snapshot(model, dict(zip(keys, row[lo:hi]))) for model, lo, hi, keys in spans)
            for row in rows]


@lru_cache(maxsize=None)
def spans_of(models: tuple[type, ...]) -> tuple[tuple[type, int, int, list[str]], ...]:
    """Where each model's values sit in a row of `columns_of(*models)`: (model, start, end,
    attribute names)."""
    out, at = [], 0
    for model in models:
        keys = [col.key for col in model.__table__.columns]
        out.append((model, at, at + len(keys), keys))
        at += len(keys)
    return tuple(out)


def snapshot_by_id(session, model: type, ident: Any) -> Snapshot | None:
    """A read-only snapshot of one row by its id, for commands that only read it (one plain
    SELECT, composed once per model); None when there is no such row."""
    found = snapshots(session, _by_id(model), {"ident": ident}, model)
    return found[0] if found else None


@lru_cache(maxsize=None)
def _by_id(model: type):
    (pk,) = model.__table__.primary_key.columns
    return select(*columns_of(model)).where(pk == bindparam("ident"))

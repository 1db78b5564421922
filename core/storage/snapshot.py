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



def snapshot_by_id(session, model: type, ident: Any) -> Snapshot | None:
    """A read-only snapshot of one row by its id, for commands that only read it (one plain
    SELECT, composed once per model); None when there is no such row."""
    stmt, keys = _by_id(model)
    row = session.execute(stmt, {"ident": ident}).first()
    return None if row is None else Snapshot(model, dict(zip(keys, row)))


@lru_cache(maxsize=None)
def _by_id(model: type):
    table = model.__table__
    (pk,) = table.primary_key.columns
    return (select(*table.columns).where(pk == bindparam("ident")),
            [col.key for col in table.columns])

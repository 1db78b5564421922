"""Tables of the solidarity treasury, and the hash-chained ledger's storage.

Money lives in two places on purpose: the working tables (pledges, contributions, draws,
votes...) say what is going on, and the ledger (`treasury_ledger`) is the append-only record
every balance is computed from and every organisation can verify (see `core.ledger`).

Each network has its own chain. Appends are serialized per network through the
`treasury_ledger_head` row: the appender first *writes* to it (an UPDATE that changes
nothing), which on PostgreSQL locks that row until commit and on SQLite takes the database
write lock, and only then reads the head. Two concurrent appends therefore never build on
the same previous entry; the unique (network_id, seq) constraint backs this up.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint, bindparam, select, update
from sqlmodel import Field, Session, SQLModel

from core.ledger import GENESIS_HASH, EntryKind, LedgerEntry, next_entry
from core.storage.dialects import upsert_insert
from core.storage.models import UtcField


class TreasuryLedgerRow(SQLModel, table=True):
    """One ledger entry as stored: exactly the fields that were hashed, plus the hashes.

    `at` is kept as the canonical text ("2026-03-02T09:00:00Z"), not as a timestamp, so that
    what is stored is byte for byte what was hashed.
    """

    __tablename__ = "treasury_ledger"
    __table_args__ = (UniqueConstraint("network_id", "seq", name="uq_treasury_ledger_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    seq: int
    kind: str = Field(max_length=40)
    at: str = Field(max_length=40)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)

    def entry(self) -> LedgerEntry:
        """The stored row as a `core.ledger.LedgerEntry` (for verification and export)."""
        return LedgerEntry(self.seq, self.kind, self.at, dict(self.data), self.prev_hash,
                           self.hash)


class TreasuryLedgerHead(SQLModel, table=True):
    """The latest entry of a network's chain; its row is the lock appends queue on."""

    __tablename__ = "treasury_ledger_head"

    network_id: int = Field(foreign_key="network.id", primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS_HASH, max_length=64)


class TreasuryPledge(SQLModel, table=True):
    """What a circle promised per period: a share of income (basis points) or a fixed sum.

    A new pledge replaces the circle's earlier one (`active` False on the old row)."""

    __tablename__ = "treasury_pledge"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    kind: str = Field(max_length=10)  # "share" | "fixed"
    basis_points: int = 0
    amount_minor: int = 0
    currency: str = Field(max_length=3)
    period_months: int = 1
    made_at: datetime = UtcField()
    made_by: int | None = Field(default=None, foreign_key="person.id")
    active: bool = True


class TreasuryIncome(SQLModel, table=True):
    """Income a circle reported for one period ("2026-03"), so share pledges can be computed."""

    __tablename__ = "treasury_income"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    period: str = Field(max_length=7)
    amount_minor: int
    currency: str = Field(max_length=3)
    reported_at: datetime = UtcField()
    reported_by: int | None = Field(default=None, foreign_key="person.id")


class TreasuryContribution(SQLModel, table=True):
    """Money a circle says it sent; it counts in the balance once a steward confirms it."""

    __tablename__ = "treasury_contribution"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    amount_minor: int
    currency: str = Field(max_length=3)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    recorded_at: datetime = UtcField()
    recorded_by: int | None = Field(default=None, foreign_key="person.id")
    confirmed_at: datetime | None = UtcField(nullable=True)
    confirmed_by: int | None = Field(default=None, foreign_key="person.id")


class TreasuryDraw(SQLModel, table=True):
    """A circle's request for money. Its number is also its ballot's number.

    States: "voting" -> "approved" | "rejected"; "approved" -> "paid"."""

    __tablename__ = "treasury_draw"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    requested_by: int | None = Field(default=None, foreign_key="person.id")
    requested_at: datetime = UtcField()
    amount_minor: int
    currency: str = Field(max_length=3)
    category: str = Field(max_length=20)
    urgency: str = Field(max_length=20)
    importance: int
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="voting", max_length=20, index=True)
    payment_ref: str | None = None
    paid_at: datetime | None = UtcField(nullable=True)


class TreasuryBallot(SQLModel, table=True):
    """The one ballot on a draw, whatever chats and platforms its voters use.

    `eligible` lists the circles active when it opened; `policy` freezes the network's rules
    at that moment (changing settings never changes a running ballot)."""

    __tablename__ = "treasury_ballot"

    draw_id: int = Field(foreign_key="treasury_draw.id", primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    opened_at: datetime = UtcField()
    closes_at: datetime = UtcField(index=True)
    eligible: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    policy: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="open", max_length=10)
    closed_at: datetime | None = UtcField(nullable=True)
    result: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TreasuryVote(SQLModel, table=True):
    """A person's current vote on a ballot: one row per person, changed in place (upsert)."""

    __tablename__ = "treasury_vote"
    __table_args__ = (UniqueConstraint("draw_id", "person_id", name="uq_treasury_vote"),)

    id: int | None = Field(default=None, primary_key=True)
    draw_id: int = Field(foreign_key="treasury_draw.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    circle_id: int = Field(foreign_key="circle.id")
    choice: str = Field(max_length=10)
    cast_at: datetime = UtcField()
    account: str = Field(default="", max_length=200)  # which account sent it (not counted)


class TreasuryPayout(SQLModel, table=True):
    """A steward's confirmation that an approved draw was paid (one per steward)."""

    __tablename__ = "treasury_payout"
    __table_args__ = (UniqueConstraint("draw_id", "person_id", name="uq_treasury_payout"),)

    id: int | None = Field(default=None, primary_key=True)
    draw_id: int = Field(foreign_key="treasury_draw.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    at: datetime = UtcField()
    reference: str = Field(default="", max_length=200)


class TreasuryRate(SQLModel, table=True):
    """An exchange rate a steward entered (1 base = rate quote from `as_of`); reports only."""

    __tablename__ = "treasury_rate"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    base: str = Field(max_length=3)
    quote: str = Field(max_length=3)
    rate: str = Field(max_length=40)  # Decimal as text: no float ever touches it
    as_of: str = Field(max_length=10)  # ISO date
    entered_by: int | None = Field(default=None, foreign_key="person.id")
    entered_at: datetime = UtcField()


class TreasuryStewardship(SQLModel, table=True):
    """Which circle holds the stewardship, and the rotation it follows.

    `circles` is the rotation order (circle ids, in join order) and `rotation_start` the day
    it was (re)built; `granted` lists the memberships the rotation made stewards, so that the
    handover takes back exactly those and leaves stewards named by hand alone."""

    __tablename__ = "treasury_stewardship"

    network_id: int = Field(foreign_key="network.id", primary_key=True)
    circle_id: int = Field(foreign_key="circle.id")
    rotation_start: str = Field(max_length=10)
    period_months: int = 3
    circles: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    granted: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    term_started: str = Field(max_length=10)


# -- the ledger ----------------------------------------------------------------------------


def lock_ledger(session: Session, network_id: int) -> TreasuryLedgerHead:
    """Queue for the right to append to a network's chain; return its head.

    Held until the unit of work ends. Call it *before* reading anything an append depends
    on (balances), so that check and append see the same chain.
    """
    insert = upsert_insert(session.get_bind().dialect.name)
    session.execute(insert(TreasuryLedgerHead.__table__)
                    .values(network_id=network_id, seq=0, hash=GENESIS_HASH)
                    .on_conflict_do_nothing(index_elements=["network_id"]))
    # A write that changes nothing: the row lock (PostgreSQL) / write lock (SQLite).
    session.execute(update(TreasuryLedgerHead.__table__)
                    .where(TreasuryLedgerHead.__table__.c.network_id == network_id)
                    .values(seq=TreasuryLedgerHead.__table__.c.seq))
    row = session.execute(select(TreasuryLedgerHead.__table__.c.seq,
                                 TreasuryLedgerHead.__table__.c.hash)
                          .where(TreasuryLedgerHead.__table__.c.network_id == network_id)).one()
    return TreasuryLedgerHead(network_id=network_id, seq=row.seq, hash=row.hash)


def append_entry(session: Session, network_id: int, kind: EntryKind | str, at: datetime,
                 data: dict[str, Any]) -> LedgerEntry:
    """Append one entry to the network's chain (locking it first) and return it."""
    head = lock_ledger(session, network_id)
    previous = None
    if head.seq:
        # Only seq and hash of the previous entry matter to next_entry.
        previous = LedgerEntry(head.seq, "", "", {}, GENESIS_HASH, head.hash)
    entry = next_entry(previous, kind, at, data)
    session.add(TreasuryLedgerRow(network_id=network_id, seq=entry.seq, kind=entry.kind,
                                  at=entry.at, data=entry.data, prev_hash=entry.prev_hash,
                                  hash=entry.hash))
    session.execute(update(TreasuryLedgerHead.__table__)
                    .where(TreasuryLedgerHead.__table__.c.network_id == network_id)
                    .values(seq=entry.seq, hash=entry.hash))
    session.flush()
    return entry


def load_chain(session: Session, network_id: int) -> list[LedgerEntry]:
    """Every stored entry of a network's chain, in seq order."""
    rows = session.execute(select(TreasuryLedgerRow)
                           .where(TreasuryLedgerRow.network_id == network_id)
                           .order_by(TreasuryLedgerRow.seq, TreasuryLedgerRow.id)).scalars()
    return [r.entry() for r in rows]


def ledger_head(session: Session, network_id: int) -> tuple[int, str]:
    """(seq, hash) of the network's latest entry, (0, GENESIS_HASH) before the first."""
    row = session.execute(_head_statement(), {"network": network_id}).first()
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


@lru_cache(maxsize=1)
def _head_statement():
    # Composed once: every balance, vote receipt and ledger append reads the head.
    table = TreasuryLedgerHead.__table__
    return select(table.c.seq, table.c.hash).where(table.c.network_id == bindparam("network"))

"""Rules of the solidarity treasury: pledges, paying out approved draws, steward rotation.

Pure functions over values; the treasury service persists the outcome in the ledger.

Pledges. A circle pledges either a share of its income (in basis points: 300 = 3 %) or a
fixed amount per period. `pledge_due` says what one period's pledge comes to.

Paying out. An approved draw is paid by stewards, the members who hold the treasury for
the current steward circle. Before money leaves:
- enough distinct stewards confirm: `DisbursementPolicy.confirmations_required` (1, or 2
  where the network wants four eyes). A person confirming twice (or from two accounts)
  counts once; confirmations by non-stewards are ignored.
- nobody pays their own circle alone: at least one counted confirmer must not belong to
  the circle receiving the draw. With one required confirmation this means a steward from
  the receiving circle needs a second confirmation from a steward outside it.
- the draw never takes its currency's balance below zero (`check_disbursement`); other
  currencies never cover it (no silent conversion).

Steward rotation. Circles take turns holding the stewardship, in the order they joined,
for `period_months` each (a quarter by default), counted from the network's `start_date`.
Terms are anchored on the start date: from 31 January the handovers fall on 30 April,
31 July, 31 October... (a short month clamps to its last day, and the next term goes back
to the 31st).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Iterable, Mapping, Sequence, TypeVar

from dateutil.relativedelta import relativedelta

from core.money import Balances, CurrencyMismatch, Money, MoneyError, percent_of


class TreasuryError(ValueError):
    """A treasury rule refused something; `key` names the reason for the catalog."""

    key = "treasury.refused"


class IncomeNotReported(TreasuryError):
    """A share-of-income pledge cannot be computed before the income is reported."""

    key = "treasury.income_not_reported"


class InsufficientFunds(TreasuryError):
    """The draw is larger than what the treasury holds in that currency."""

    key = "treasury.insufficient_funds"

    def __init__(self, requested: Money, available: Money) -> None:
        super().__init__(f"asked for {requested}, the treasury holds {available}")
        self.requested = requested
        self.available = available


# -- pledges ---------------------------------------------------------------------------


class PledgeKind(str, Enum):
    """Share of income, or a fixed amount."""

    SHARE = "share"
    FIXED = "fixed"


@dataclass(frozen=True)
class Pledge:
    """What a circle promised to put in each period.

    Build with `Pledge.share(300, "EUR")` (3 % of reported income) or
    `Pledge.fixed(Money(5000, "EUR"))` (50 EUR per period).
    """

    kind: PledgeKind
    currency: str
    basis_points: int = 0
    amount: Money | None = None
    period_months: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PledgeKind(self.kind))
        object.__setattr__(self, "currency", Money.zero(self.currency).currency)
        if isinstance(self.period_months, bool) or not isinstance(self.period_months, int) \
                or self.period_months < 1:
            raise TreasuryError("a pledge period is a whole number of months")
        if self.kind is PledgeKind.SHARE:
            percent_of(Money.zero(self.currency), self.basis_points)  # validates 0..10000
            if self.basis_points == 0:
                raise TreasuryError("a share pledge is more than 0 basis points")
        else:
            if self.amount is None or self.amount.minor <= 0:
                raise TreasuryError("a fixed pledge is a positive amount")
            if self.amount.currency != self.currency:
                raise CurrencyMismatch("pledge amount and currency differ",
                                       left=self.currency, right=self.amount.currency)

    @classmethod
    def share(cls, basis_points: int, currency: str, period_months: int = 1) -> Pledge:
        """A share of reported income, in basis points (300 = 3 %)."""
        return cls(PledgeKind.SHARE, currency, basis_points=basis_points,
                   period_months=period_months)

    @classmethod
    def fixed(cls, amount: Money, period_months: int = 1) -> Pledge:
        """A fixed amount every period."""
        return cls(PledgeKind.FIXED, amount.currency, amount=amount, period_months=period_months)


def pledge_due(pledge: Pledge, reported_income: Money | None) -> Money:
    """What one period of `pledge` comes to.

    Share pledges need the period's reported income in the pledge's currency
    (`IncomeNotReported` when None, `CurrencyMismatch` for another currency, rounding half to
    even as in `percent_of`). Fixed pledges ignore income.
    """
    if pledge.kind is PledgeKind.FIXED:
        assert pledge.amount is not None
        return pledge.amount
    if reported_income is None:
        raise IncomeNotReported("no income reported for this period")
    if reported_income.currency != pledge.currency:
        raise CurrencyMismatch(
            f"income in {reported_income.currency}, pledge in {pledge.currency}",
            left=pledge.currency, right=reported_income.currency,
        )
    if reported_income.is_negative():
        raise MoneyError("reported income cannot be negative")
    return percent_of(reported_income, pledge.basis_points)


# -- disbursement ----------------------------------------------------------------------


@dataclass(frozen=True)
class DisbursementPolicy:
    """How many distinct stewards must confirm a payout (1 or 2)."""

    confirmations_required: int = 1

    def __post_init__(self) -> None:
        if self.confirmations_required not in (1, 2):
            raise TreasuryError("a payout needs 1 or 2 steward confirmations")


@dataclass(frozen=True)
class Confirmer:
    """A person who confirmed a payout, with the circles they belong to."""

    person_id: int
    circles: frozenset[int]
    is_steward: bool


@dataclass(frozen=True)
class ConfirmationCheck:
    """Whether a payout may go ahead.

    `reason_key`: "confirmed", "needs_more_confirmations" (`missing` more stewards) or
    "needs_outside_confirmer" (all confirmers belong to the receiving circle).
    """

    complete: bool
    confirmed_by: tuple[int, ...]
    missing: int
    reason_key: str


def check_confirmations(confirmers: Iterable[Confirmer], receiving_circle: int,
                        policy: DisbursementPolicy | None = None) -> ConfirmationCheck:
    """Count steward confirmations for a payout to `receiving_circle` (rules above)."""
    policy = policy or DisbursementPolicy()
    by_person: dict[int, Confirmer] = {}
    for confirmer in confirmers:
        if confirmer.is_steward:
            by_person.setdefault(confirmer.person_id, confirmer)
    counted = tuple(sorted(by_person))
    missing = max(0, policy.confirmations_required - len(counted))
    outside = any(receiving_circle not in c.circles for c in by_person.values())
    if missing:
        reason = "needs_more_confirmations"
    elif not outside:
        reason = "needs_outside_confirmer"
    else:
        reason = "confirmed"
    return ConfirmationCheck(complete=reason == "confirmed", confirmed_by=counted,
                             missing=missing, reason_key=reason)


def check_disbursement(balances: Balances, amount: Money) -> Balances:
    """Refuse a payout the treasury cannot cover; return the balances after it.

    Raises `InsufficientFunds` naming what is available in that currency.
    """
    if amount.minor <= 0:
        raise TreasuryError(f"a payout is a positive amount, got {amount}")
    available = balances[amount.currency]
    if amount > available:
        raise InsufficientFunds(requested=amount, available=available)
    return balances.minus(amount)


MONEY_KINDS = ("contribution_confirmed", "disbursement")


def balances_from_entries(entries: Iterable[object], start: Balances | None = None) -> Balances:
    """The treasury's balances from its ledger entries (objects or dicts with `kind` and
    `data`), added to `start` (nothing by default): a confirmed contribution adds
    `data["amount"]`, a disbursement subtracts it; other kinds (`MONEY_KINDS` are the two
    that do) move no money. Amounts are stored as {"currency": ..., "minor": ...}."""
    balances = start if start is not None else Balances()
    for entry in entries:
        kind = entry["kind"] if isinstance(entry, Mapping) else getattr(entry, "kind")
        data = entry["data"] if isinstance(entry, Mapping) else getattr(entry, "data")
        kind = getattr(kind, "value", kind)
        if kind == "contribution_confirmed":
            balances = balances.plus(Money.from_plain(data["amount"]))
        elif kind == "disbursement":
            balances = balances.minus(Money.from_plain(data["amount"]))
    return balances


# -- steward rotation -------------------------------------------------------------------

C = TypeVar("C")


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _term_index(start_date: date, on_date: date, period_months: int) -> int:
    start, on = _as_date(start_date), _as_date(on_date)
    if isinstance(period_months, bool) or not isinstance(period_months, int) or period_months < 1:
        raise TreasuryError("a steward term is a whole number of months")
    if on < start:
        raise TreasuryError(f"the rotation starts on {start}, not before")
    months = (on.year - start.year) * 12 + (on.month - start.month)
    index = months // period_months
    # Month arithmetic clamps short months, so step back while the term has not begun yet.
    while index > 0 and start + relativedelta(months=index * period_months) > on:
        index -= 1
    return index


def steward_for(circles: Sequence[C], start_date: date, on_date: date,
                period_months: int = 3) -> C:
    """The circle holding the stewardship on `on_date`.

    `circles` are the circles in the rotation, ordered by when they joined; the first one
    serves from `start_date`, then each serves `period_months`, round and round.
    """
    if not circles:
        raise TreasuryError("no circle to hold the stewardship")
    return circles[_term_index(start_date, on_date, period_months) % len(circles)]


def next_handover(start_date: date, on_date: date, period_months: int = 3) -> date:
    """The first day of the next steward term after `on_date`."""
    index = _term_index(start_date, on_date, period_months)
    return _as_date(start_date) + relativedelta(months=(index + 1) * period_months)


@dataclass(frozen=True)
class StewardRotation:
    """A network's rotation: circles in join order, a start date and a term length.

    When circles join or leave, the service builds a new rotation (and records a
    `steward_handover` ledger entry) rather than letting the turn jump mid-term.
    """

    circles: tuple
    start_date: date
    period_months: int = 3

    def steward_for(self, on_date: date):
        """The circle holding the stewardship on `on_date`."""
        return steward_for(self.circles, self.start_date, on_date, self.period_months)

    def next_handover(self, on_date: date) -> date:
        """The first day of the next term after `on_date`."""
        return next_handover(self.start_date, on_date, self.period_months)

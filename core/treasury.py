"""The solidarity treasury's service layer: the pure rules (`core.money`, `core.ballots`,
`core.ledger`, `core.treasury_rules`) applied to stored circles, people and the ledger.

Every function takes a `Work` (one session, one `now`) and returns what happened; the
commands in `bots.treasury` say it. Every movement of money, every ballot result and every
handover is appended to the network's hash-chained ledger, and balances are computed from
that ledger only, so what members are told and what an export proves are the same thing.

Stewards. A treasury steward is a member whose membership carries `is_steward` in an active
circle of the network (coordinators name them with /steward add). On top of that the
stewardship *rotates*: one circle at a time holds it for a term (a quarter by default), and
at each handover its coordinators are made stewards by the rotation, while the stewards the
rotation made in the outgoing circle lose the role (stewards named by hand keep it). So
there are always stewards in the circle on duty and, usually, in other circles too, which
the rule "nobody pays their own circle alone" needs.
"""
from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Mapping

from sqlalchemy import and_, bindparam, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from core.ballots import (
    BallotError, BallotPolicy, Choice, CountingMode, DrawRequest, Tally, Vote,
    deadline_for, eligible, tally_counts,
)
from core.circles import active_circles
from core.clock import utc
from core.ledger import EntryKind, LedgerEntry, VerifyResult, verify_chain
from core.money import Balances, Money, Rate
from core.storage import repoint
from core.storage.dialects import upsert_insert
from core.storage.models import Circle, Membership, Network, Person
from core.storage.snapshot import columns_of, snapshots
from core.storage.treasury import (
    TreasuryBallot, TreasuryContribution, TreasuryDraw, TreasuryIncome, TreasuryPayout,
    TreasuryLedgerRow, TreasuryPledge, TreasuryRate, TreasuryStewardship, TreasuryVote,
    append_entry, ledger_head, load_chain, lock_ledger,
)
from core.treasury_rules import (
    MONEY_KINDS, Confirmer, ConfirmationCheck, DisbursementPolicy, Pledge, StewardRotation,
    TreasuryError, balances_from_entries, check_confirmations, check_disbursement,
    next_handover, pledge_due,
)
from core.work import Refusal, Work, coordinators

# -- network settings ------------------------------------------------------------------------

DEFAULT_SETTINGS: dict[str, Any] = {
    "counting": "per_circle",
    "quorum": "1/2",
    "threshold": "1/2",
    "threshold_inclusive": False,
    "deadline_hours": {"normal": 72, "high": 48, "critical": 24},
    "min_membership_days": 14,
    "confirmations": 1,
    "rotation_months": 3,
    "show_tally": True,
}
# Names organisers type in /treasury settings, and what they set.
SETTING_NAMES = ("counting", "quorum", "threshold", "threshold_inclusive", "deadline_normal",
                 "deadline_high", "deadline_critical", "min_membership_days", "confirmations",
                 "rotation_months", "show_tally")


@dataclass(frozen=True)
class TreasurySettings:
    """A network's treasury rules (defaults from the product, overridden per network)."""

    raw: dict
    policy: BallotPolicy
    payout: DisbursementPolicy
    rotation_months: int
    show_tally: bool


def settings_from(raw: Mapping[str, Any]) -> TreasurySettings:
    """Rules from stored settings (missing keys take the defaults)."""
    merged = {**DEFAULT_SETTINGS, **dict(raw)}
    merged["deadline_hours"] = {**DEFAULT_SETTINGS["deadline_hours"],
                                **dict(merged.get("deadline_hours") or {})}
    return TreasurySettings(
        raw=merged, policy=BallotPolicy.from_settings(merged),
        payout=DisbursementPolicy(int(merged["confirmations"])),
        rotation_months=int(merged["rotation_months"]), show_tally=bool(merged["show_tally"]),
    )


def settings_for(network: Network) -> TreasurySettings:
    """The network's treasury rules."""
    stored = (network.settings or {}).get("treasury") or {}
    return _settings_of(json.dumps(stored, sort_keys=True))


@lru_cache(maxsize=256)
def _settings_of(stored: str) -> TreasurySettings:
    # Every treasury command needs the rules, which change rarely: parse each set once.
    return settings_from(json.loads(stored))


def _flag(value: str) -> bool:
    low = value.strip().lower()
    if low in ("yes", "true", "on", "1"):
        return True
    if low in ("no", "false", "off", "0"):
        return False
    raise TreasuryError(f"not yes/no: {value}")


def change_setting(work: Work, network: Network, name: str, value: str) -> TreasurySettings:
    """Set one treasury rule of the network (validated by building the rules with it).

    Raises `Refusal("treasury.settings_bad", ...)` for unknown names or values.
    """
    network = work.editable(network)
    raw = dict((network.settings or {}).get("treasury") or {})
    name = name.strip().lower()
    try:
        if name not in SETTING_NAMES:
            raise TreasuryError(name)
        if name.startswith("deadline_"):
            hours = int(value)
            if hours <= 0:
                raise TreasuryError(value)
            raw["deadline_hours"] = {**dict(raw.get("deadline_hours") or {}),
                                     name.split("_", 1)[1]: hours}
        elif name in ("threshold_inclusive", "show_tally"):
            raw[name] = _flag(value)
        elif name in ("min_membership_days", "confirmations", "rotation_months"):
            raw[name] = int(value)
            if raw[name] < 0 or (name == "rotation_months" and raw[name] < 1):
                raise TreasuryError(value)
        elif name == "counting":
            raw[name] = CountingMode(value.strip().lower().replace("-", "_")).value
        else:  # quorum, threshold: "50%", "1/2", "0.5"
            raw[name] = value.strip()
        result = settings_from(raw)
    except (ValueError, TypeError, BallotError):
        raise Refusal("treasury.settings_bad", name=name, value=value,
                      names=", ".join(SETTING_NAMES)) from None
    network.settings = {**(network.settings or {}), "treasury": raw}
    work.session.add(network)
    return result


# -- helpers ---------------------------------------------------------------------------------


def money_of(minor: int, currency: str) -> Money:
    """A stored amount as Money."""
    return Money(minor, currency)


# Balances at the ledger head this process last saw, per engine and network. The ledger is
# append-only, so later questions fold in only the entries appended since, instead of
# re-reading the whole chain for every `/treasury balance`.
_BALANCES_SEEN: "weakref.WeakKeyDictionary[Any, dict[int, tuple[int, str, Balances]]]" = \
    weakref.WeakKeyDictionary()


def treasury_balances(session: Session, network_id: int) -> Balances:
    """What the treasury holds, per currency, from its ledger."""
    seq, head_hash = ledger_head(session, network_id)
    seen = _BALANCES_SEEN.setdefault(session.get_bind(), {})
    known = seen.get(network_id)
    if known is not None and known[:2] == (seq, head_hash):
        return known[2]
    since, start = 0, Balances()
    if known is not None and known[0] < seq:
        # Trust what was remembered only if that entry is still in the chain: an append
        # rolled back after it was seen leaves a different entry at its place.
        still = session.exec(select(TreasuryLedgerRow.hash).where(
            TreasuryLedgerRow.network_id == network_id, TreasuryLedgerRow.seq == known[0])).first()
        if still == known[1]:
            since, start = known[0], known[2]
    moved = session.exec(select(TreasuryLedgerRow.kind, TreasuryLedgerRow.data).where(
        TreasuryLedgerRow.network_id == network_id, TreasuryLedgerRow.seq > since,
        TreasuryLedgerRow.kind.in_(MONEY_KINDS)).order_by(TreasuryLedgerRow.seq)).all()
    balances = balances_from_entries(moved, start)
    seen[network_id] = (seq, head_hash, balances)
    return balances


def is_treasury_steward(session: Session, network_id: int, person_id: int) -> bool:
    """True when the person is a steward in some active circle of the network."""
    return bool(_steward_circles(session, network_id, person_id))


def _steward_circles(session: Session, network_id: int, person_id: int) -> set[int]:
    rows = session.exec(select(Membership.circle_id).join(Circle, Circle.id == Membership.circle_id)
                        .where(Membership.person_id == person_id, Membership.is_steward == True,  # noqa: E712
                               Membership.left_at == None, Circle.network_id == network_id,  # noqa: E711
                               Circle.left_at == None)).all()  # noqa: E711
    return set(rows)


def _member_circles(session: Session, network_id: int, person_id: int) -> frozenset[int]:
    rows = session.exec(select(Membership.circle_id).join(Circle, Circle.id == Membership.circle_id)
                        .where(Membership.person_id == person_id, Membership.left_at == None,  # noqa: E711
                               Circle.network_id == network_id)).all()
    return frozenset(rows)


# -- stewardship rotation ----------------------------------------------------------------------


@dataclass
class Handover:
    """The stewardship changed hands (or was first given)."""

    network: Network
    from_circle: Circle | None
    to_circle: Circle
    stewards: list[Person]
    next_handover: date
    entry: LedgerEntry


def _handover_at(day: date) -> datetime:
    # Terms change at midnight UTC of the handover day: one instant for every circle.
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _grant(session: Session, circle_id: int) -> tuple[list[int], list[Person]]:
    granted, people = [], []
    for person in coordinators(session, circle_id):
        m = session.exec(select(Membership).where(Membership.person_id == person.id,
                                                  Membership.circle_id == circle_id)).one()
        people.append(person)
        if not m.is_steward:
            m.is_steward = True
            session.add(m)
            granted.append(m.id)
    return granted, people


def _take_back(session: Session, membership_ids: list[int]) -> None:
    for mid in membership_ids:
        m = session.get(Membership, mid)
        if m is not None:
            m.is_steward = False
            session.add(m)


def stewardship(session: Session, network_id: int) -> TreasuryStewardship | None:
    """The network's stewardship row (None before the treasury's first use)."""
    return session.get(TreasuryStewardship, network_id)


# Networks whose treasury this process has seen open, per engine. A stewardship row is never
# removed, so once seen (committed by whoever opened it) the question need not be asked again.
_OPEN_SEEN: "weakref.WeakKeyDictionary[Any, set[int]]" = weakref.WeakKeyDictionary()


@lru_cache(maxsize=1)
def _stewardship_exists():
    t = TreasuryStewardship.__table__.c
    return select(t.network_id).where(t.network_id == bindparam("network"))


def open_treasury(work: Work, network: Network, settings: TreasurySettings) -> Handover | None:
    """Give the first stewardship term on the treasury's first use; None when already open.

    The first circle to have joined holds it first; the rotation follows join order.
    """
    # Asked on every treasury command: whether the row exists, without reading its lists.
    seen = _OPEN_SEEN.setdefault(work.session.get_bind(), set())
    if network.id in seen:
        return None
    if work.session.execute(_stewardship_exists(), {"network": network.id}).first() is not None:
        seen.add(network.id)
        return None
    circles = active_circles(work.session, network.id, work.now)
    if not circles:
        return None
    today = work.now.date()
    first = circles[0]
    granted, people = _grant(work.session, first.id)
    row = TreasuryStewardship(network_id=network.id, circle_id=first.id,
                              rotation_start=today.isoformat(),
                              period_months=settings.rotation_months,
                              circles=[c.id for c in circles], granted=granted,
                              term_started=today.isoformat())
    work.session.add(row)
    following = next_handover(today, today, settings.rotation_months)
    entry = append_entry(work.session, network.id, EntryKind.STEWARD_HANDOVER, work.now,
                         {"from_circle": None, "to_circle": first.id,
                          "stewards": [p.id for p in people], "term_start": today,
                          "next_handover": following})
    work.schedule("treasury.handover", _handover_at(following),
                  f"treasury:{network.id}:handover:{following.isoformat()}",
                  network_id=network.id)
    return Handover(network, None, first, people, following, entry)


def rotate_stewardship(work: Work, network: Network,
                       settings: TreasurySettings) -> Handover | None:
    """Pass the stewardship on if its term is over (run by the handover timer).

    While the circles stay the same the rotation is `StewardRotation` from its start date.
    When circles joined or left, the rotation is rebuilt from today, beginning with the circle
    after the one on duty, so nobody's turn jumps mid-term.
    """
    row = stewardship(work.session, network.id)
    if row is None:
        return None
    today = work.now.date()
    start = date.fromisoformat(row.rotation_start)
    term_start = date.fromisoformat(row.term_started)
    if next_handover(start, term_start, row.period_months) > today:
        return None  # not due yet (a timer woke early, or a term was lengthened)
    current = [c.id for c in active_circles(work.session, network.id, work.now)]
    if not current:
        return None
    if current == list(row.circles) and row.period_months == settings.rotation_months:
        rotation = StewardRotation(tuple(current), start, row.period_months)
        new_id = rotation.steward_for(today)
    else:
        later = [c for c in current if c > row.circle_id]
        order = later + [c for c in current if c <= row.circle_id]
        rotation = StewardRotation(tuple(order), today, settings.rotation_months)
        row.circles, row.rotation_start = order, today.isoformat()
        row.period_months = settings.rotation_months
        new_id = order[0]
    old = work.session.get(Circle, row.circle_id)
    _take_back(work.session, list(row.granted))
    granted, people = _grant(work.session, new_id)
    row.circle_id, row.granted, row.term_started = new_id, granted, today.isoformat()
    work.session.add(row)
    following = rotation.next_handover(today)
    entry = append_entry(work.session, network.id, EntryKind.STEWARD_HANDOVER, work.now,
                         {"from_circle": old.id if old else None, "to_circle": new_id,
                          "stewards": [p.id for p in people], "term_start": today,
                          "next_handover": following})
    work.schedule("treasury.handover", _handover_at(following),
                  f"treasury:{network.id}:handover:{following.isoformat()}",
                  network_id=network.id)
    return Handover(network, old, work.session.get(Circle, new_id), people, following, entry)


# -- pledges, income, contributions -------------------------------------------------------------


def parse_pledge(amount: str, currency: str, period_months: int = 1) -> Pledge:
    """"3%" + "EUR" -> a share pledge of 300 basis points; "50" + "EUR" -> 50 EUR fixed."""
    text = amount.strip().replace(",", ".")
    if text.endswith("%"):
        try:
            percent = Decimal(text[:-1].strip())
        except InvalidOperation:
            raise Refusal("treasury.pledge_bad", value=amount) from None
        points = percent * 100
        if points != points.to_integral_value():
            raise Refusal("treasury.pledge_bad", value=amount)
        try:
            return Pledge.share(int(points), currency, period_months)
        except ValueError:
            raise Refusal("treasury.pledge_bad", value=amount) from None
    try:
        return Pledge.fixed(Money.parse(f"{amount} {currency}"), period_months)
    except ValueError:
        raise Refusal("treasury.pledge_bad", value=f"{amount} {currency}") from None


def record_pledge(work: Work, network: Network, circle: Circle, person: Person,
                  pledge: Pledge) -> tuple[TreasuryPledge, LedgerEntry]:
    """The circle's new pledge (replacing its earlier one), written to the ledger."""
    for old in work.session.exec(select(TreasuryPledge).where(
            TreasuryPledge.circle_id == circle.id, TreasuryPledge.active == True)).all():  # noqa: E712
        old.active = False
        work.session.add(old)
    row = TreasuryPledge(network_id=network.id, circle_id=circle.id, kind=pledge.kind.value,
                         basis_points=pledge.basis_points,
                         amount_minor=pledge.amount.minor if pledge.amount else 0,
                         currency=pledge.currency, period_months=pledge.period_months,
                         made_at=work.now, made_by=person.id)
    work.session.add(row)
    entry = append_entry(work.session, network.id, EntryKind.PLEDGE, work.now, {
        "circle": circle.id, "by": person.id, "pledge": pledge.kind.value,
        "basis_points": pledge.basis_points, "amount": pledge.amount,
        "currency": pledge.currency, "period_months": pledge.period_months})
    return row, entry


def pledge_of(row: TreasuryPledge) -> Pledge:
    """A stored pledge as the rules' `Pledge`."""
    if row.kind == "share":
        return Pledge.share(row.basis_points, row.currency, row.period_months)
    return Pledge.fixed(Money(row.amount_minor, row.currency), row.period_months)


def active_pledge(session: Session, circle_id: int) -> TreasuryPledge | None:
    """The circle's current pledge."""
    return session.exec(select(TreasuryPledge).where(TreasuryPledge.circle_id == circle_id,
                                                     TreasuryPledge.active == True)  # noqa: E712
                        .order_by(TreasuryPledge.id.desc())).first()


def latest_income(session: Session, circle_id: int) -> TreasuryIncome | None:
    """The circle's latest income report."""
    return session.exec(select(TreasuryIncome).where(TreasuryIncome.circle_id == circle_id)
                        .order_by(TreasuryIncome.period.desc(), TreasuryIncome.id.desc())).first()


def pledge_due_now(session: Session, circle_id: int) -> Money | None:
    """One period of the circle's pledge at its latest reported income (None if unknown)."""
    row = active_pledge(session, circle_id)
    if row is None:
        return None
    income = latest_income(session, circle_id)
    money = Money(income.amount_minor, income.currency) if income else None
    try:
        return pledge_due(pledge_of(row), money)
    except ValueError:
        return None


def report_income(work: Work, network: Network, circle: Circle, person: Person, income: Money,
                  period: str) -> tuple[TreasuryIncome, Money | None, LedgerEntry]:
    """Record a period's income; returns it with what the pledge makes due (if computable)."""
    row = TreasuryIncome(network_id=network.id, circle_id=circle.id, period=period,
                         amount_minor=income.minor, currency=income.currency,
                         reported_at=work.now, reported_by=person.id)
    work.session.add(row)
    entry = append_entry(work.session, network.id, EntryKind.INCOME_REPORT, work.now, {
        "circle": circle.id, "by": person.id, "period": period, "income": income})
    pledge = active_pledge(work.session, circle.id)
    due = None
    if pledge is not None:
        try:
            due = pledge_due(pledge_of(pledge), income)
        except ValueError:
            due = None  # another currency than the pledge: say so, don't convert
    return row, due, entry


def record_contribution(work: Work, network: Network, circle: Circle, person: Person,
                        amount: Money, note: str = "") -> tuple[TreasuryContribution, LedgerEntry]:
    """A circle says it sent money; it counts once a steward confirms receipt."""
    if amount.minor <= 0:
        raise Refusal("treasury.amount_positive")
    row = TreasuryContribution(network_id=network.id, circle_id=circle.id,
                               amount_minor=amount.minor, currency=amount.currency,
                               note=note[:500], recorded_at=work.now, recorded_by=person.id)
    work.session.add(row)
    work.session.flush()
    entry = append_entry(work.session, network.id, EntryKind.CONTRIBUTION, work.now, {
        "contribution": row.id, "circle": circle.id, "by": person.id, "amount": amount})
    return row, entry


def confirm_contribution(work: Work, network: Network, person: Person,
                         contribution_id: int) -> tuple[TreasuryContribution, LedgerEntry]:
    """A steward confirms the money arrived: it joins the balance."""
    q = select(TreasuryContribution).where(TreasuryContribution.id == contribution_id,
                                           TreasuryContribution.network_id == network.id)
    lock_ledger(work.session, network.id)  # one confirmation at a time per network
    row = work.session.exec(q).first()
    if row is None:
        raise Refusal("treasury.no_such_contribution", number=contribution_id)
    if row.confirmed_at is not None:
        raise Refusal("treasury.already_confirmed", number=contribution_id)
    row.confirmed_at, row.confirmed_by = work.now, person.id
    work.session.add(row)
    amount = Money(row.amount_minor, row.currency)
    entry = append_entry(work.session, network.id, EntryKind.CONTRIBUTION_CONFIRMED, work.now, {
        "contribution": row.id, "circle": row.circle_id, "by": person.id, "amount": amount})
    return row, entry


def enter_rate(work: Work, network: Network, person: Person, rate: Rate) -> LedgerEntry:
    """A steward enters an exchange rate (used for reports only)."""
    work.session.add(TreasuryRate(network_id=network.id, base=rate.base, quote=rate.quote,
                                  rate=str(rate.rate), as_of=rate.as_of.isoformat(),
                                  entered_by=person.id, entered_at=work.now))
    return append_entry(work.session, network.id, EntryKind.RATE, work.now, {
        "base": rate.base, "quote": rate.quote, "rate": rate.rate, "as_of": rate.as_of,
        "by": person.id})


def rates(session: Session, network_id: int) -> list[Rate]:
    """The network's exchange rates, oldest entry first (later corrections win)."""
    rows = session.exec(select(TreasuryRate).where(TreasuryRate.network_id == network_id)
                        .order_by(TreasuryRate.id)).all()
    return [Rate(r.base, r.quote, Decimal(r.rate), date.fromisoformat(r.as_of),
                 r.entered_by or 0) for r in rows]


# -- draws and ballots ---------------------------------------------------------------------------


def _ballot_policy_snapshot(settings: TreasurySettings) -> dict:
    keys = ("counting", "quorum", "threshold", "threshold_inclusive", "deadline_hours",
            "min_membership_days")
    return {k: settings.raw[k] for k in keys}


def ballot_policy(ballot: TreasuryBallot) -> BallotPolicy:
    """The rules frozen on a ballot when it opened."""
    return _policy_from(json.dumps(ballot.policy, sort_keys=True))


@lru_cache(maxsize=256)
def _policy_from(frozen: str) -> BallotPolicy:
    # Ballots keep their rules for life and most networks share a few rule sets, while
    # every vote needs the rules twice: parse each set once.
    return BallotPolicy.from_settings(json.loads(frozen))


def request_draw(work: Work, network: Network, circle: Circle, person: Person,
                 request: DrawRequest, settings: TreasurySettings
                 ) -> tuple[TreasuryDraw, TreasuryBallot, list[Circle], LedgerEntry]:
    """Record a draw request and open its ballot for every circle active now."""
    circles = active_circles(work.session, network.id, work.now)
    draw = TreasuryDraw(network_id=network.id, circle_id=circle.id, requested_by=person.id,
                        requested_at=work.now, amount_minor=request.amount.minor,
                        currency=request.currency, category=request.category.value,
                        urgency=request.urgency.value, importance=request.strategic_importance,
                        purpose=request.purpose)
    work.session.add(draw)
    work.session.flush()
    closes_at = deadline_for(request.urgency, work.now, settings.policy)
    ballot = TreasuryBallot(draw_id=draw.id, network_id=network.id, opened_at=work.now,
                            closes_at=closes_at, eligible=[c.id for c in circles],
                            policy=_ballot_policy_snapshot(settings))
    work.session.add(ballot)
    entry = append_entry(work.session, network.id, EntryKind.DRAW_REQUESTED, work.now, {
        "draw": draw.id, "circle": circle.id, "by": person.id, "amount": request.amount,
        "category": request.category, "urgency": request.urgency,
        "importance": request.strategic_importance, "purpose": request.purpose,
        "closes_at": closes_at, "eligible_circles": [c.id for c in circles]})
    work.schedule("treasury.ballot_close", closes_at, f"treasury:ballot:{draw.id}:close",
                  draw_id=draw.id)
    return draw, ballot, circles, entry


def find_draw(session: Session, network_id: int, draw_id: int) -> TreasuryDraw:
    """The network's draw by number, or a refusal."""
    draw = session.get(TreasuryDraw, draw_id)
    if draw is None or draw.network_id != network_id:
        raise Refusal("treasury.no_such_draw", number=draw_id)
    return draw


def _draw_and_ballot(session: Session, network_id: int, draw_id: int
                     ) -> tuple[TreasuryDraw, TreasuryBallot]:
    """The network's draw and its ballot as read-only snapshots, in one query (a vote only
    reads them), or a refusal."""
    found = snapshots(session, _draw_and_ballot_statement(), {"draw": draw_id},
                      TreasuryDraw, TreasuryBallot)
    if not found or found[0][0].network_id != network_id:
        raise Refusal("treasury.no_such_draw", number=draw_id)
    return found[0]


@lru_cache(maxsize=1)
def _draw_and_ballot_statement():
    d, b = TreasuryDraw.__table__, TreasuryBallot.__table__
    return (select(*columns_of(TreasuryDraw, TreasuryBallot))
            .join_from(d, b, b.c.draw_id == d.c.id).where(d.c.id == bindparam("draw")))


@dataclass
class VoteReceipt:
    """What happened to a vote: `previous` is the choice it replaced (None if new)."""

    draw: TreasuryDraw
    ballot: TreasuryBallot
    choice: Choice
    previous: Choice | None


def cast_vote(work: Work, draw_id: int, person: Person, circle: Circle,
              membership: Membership, choice: Choice | str, account: str = "") -> VoteReceipt:
    """Record (or change) a person's vote, from one of their circles.

    One row per person and ballot, written with an upsert, so however many accounts and
    however many simultaneous clicks, a person holds exactly one vote: the latest.
    """
    choice = Choice(choice)
    draw, ballot = _draw_and_ballot(work.session, circle.network_id, draw_id)
    if ballot.state != "open" or work.now >= utc(ballot.closes_at):
        raise Refusal("treasury.ballot_closed", number=draw.id)
    if circle.id not in ballot.eligible:
        raise Refusal("treasury.circle_not_eligible", number=draw.id, circle=circle.name)
    policy = ballot_policy(ballot)
    if not eligible(utc(membership.joined_at), utc(circle.active_from),
                    utc(circle.active_until) if circle.active_until else None,
                    utc(ballot.opened_at), policy.min_membership_age):
        raise Refusal("treasury.member_too_new", number=draw.id,
                      days=policy.min_membership_age.days)
    previous = work.session.execute(_previous_vote(), {
        "draw": draw.id, "person": person.id}).scalar()
    work.session.execute(_vote_upsert(work.session.get_bind().dialect.name), {
        "draw_id": draw.id, "person_id": person.id, "circle_id": circle.id,
        "choice": choice.value, "cast_at": work.now, "account": account[:200]})
    return VoteReceipt(draw, ballot, choice, Choice(previous) if previous else None)


# Votes arrive in bursts when a ballot opens: their statements are composed once, of table
# columns (`TreasuryVote.__table__.c`): naming the model's attributes would make SQLAlchemy set
# up ORM loading on every run, which costs more than the query itself on SQLite.
@lru_cache(maxsize=1)
def _votes_statement():
    t = TreasuryVote.__table__.c
    return (select(t.person_id, t.circle_id, t.choice, t.cast_at, t.account)
            .where(t.draw_id == bindparam("draw")).order_by(t.cast_at, t.id))


@lru_cache(maxsize=1)
def _previous_vote():
    t = TreasuryVote.__table__.c
    return select(t.choice).where(t.draw_id == bindparam("draw"),
                                  t.person_id == bindparam("person"))


@lru_cache(maxsize=2)
def _vote_upsert(dialect: str):
    stmt = upsert_insert(dialect)(TreasuryVote.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["draw_id", "person_id"],
        set_={"circle_id": stmt.excluded.circle_id, "choice": stmt.excluded.choice,
              "cast_at": stmt.excluded.cast_at, "account": stmt.excluded.account})


def votes_of(session: Session, draw_id: int) -> list[Vote]:
    """The ballot's votes, as the counting rules take them."""
    # Plain columns, not objects: a ballot may hold thousands.
    rows = session.execute(_votes_statement(), {"draw": draw_id}).all()
    return [Vote(person, circle, Choice(choice), utc(cast_at), account)
            for person, circle, choice, cast_at, account in rows]


def count_ballot(session: Session, draw: TreasuryDraw, ballot: TreasuryBallot) -> Tally:
    """The tally of a ballot so far (or final, once closed).

    Counted by the database: a person holds one vote row per ballot (the upsert in
    `cast_vote`, and `merge_person` when two people turn out to be one), so counting rows per
    circle and choice is counting each person's latest vote, as `core.ballots.tally` does,
    without reading every vote of a large ballot on every vote.
    """
    counts = {(circle, Choice(choice)): n for circle, choice, n in session.execute(
        _counts_statement(), {"draw": draw.id, "closes": utc(ballot.closes_at)})}
    return tally_counts(ballot_policy(ballot), counts, ballot.eligible, draw.circle_id)


@lru_cache(maxsize=1)
def _counts_statement():
    t = TreasuryVote.__table__.c
    return (select(t.circle_id, t.choice, func.count())
            .where(t.draw_id == bindparam("draw"), t.cast_at <= bindparam("closes"))
            .group_by(t.circle_id, t.choice))


@dataclass
class BallotResult:
    """A closed ballot: the draw, its ballot, the tally and the ledger entry."""

    draw: TreasuryDraw
    ballot: TreasuryBallot
    tally: Tally
    entry: LedgerEntry
    circles: list[Circle] = field(default_factory=list)


def close_ballot(work: Work, draw_id: int) -> BallotResult | None:
    """Count and close a ballot whose deadline has come; None if already closed.

    Raises `Refusal("treasury.ballot_not_due")` before the deadline.
    """
    q = select(TreasuryBallot).where(TreasuryBallot.draw_id == draw_id)
    if work.session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # a timer and a late /treasury close must not both close it
    ballot = work.session.exec(q).first()
    if ballot is None:
        raise Refusal("treasury.no_such_draw", number=draw_id)
    if ballot.state != "open":
        return None
    if work.now < utc(ballot.closes_at):
        raise Refusal("treasury.ballot_not_due", number=draw_id)
    draw = work.session.get(TreasuryDraw, draw_id)
    result = count_ballot(work.session, draw, ballot)
    per_circle = {str(c): {"yes": n.yes, "no": n.no, "abstain": n.abstain}
                  for c, n in result.per_circle.items()}
    summary = {"approved": result.approved, "reason": result.reason_key, "yes": result.yes,
               "no": result.no, "abstain": result.abstain, "took_part": result.took_part,
               "eligible": result.eligible, "voters": result.voters,
               "counting": result.counting.value, "circles": per_circle}
    ballot.state, ballot.closed_at, ballot.result = "closed", work.now, summary
    draw.state = "approved" if result.approved else "rejected"
    work.session.add(ballot)
    work.session.add(draw)
    entry = append_entry(work.session, draw.network_id, EntryKind.BALLOT_CLOSED, work.now,
                         {"draw": draw.id, **summary})
    circles = [c for c in (work.session.get(Circle, cid) for cid in ballot.eligible)
               if c is not None]
    return BallotResult(draw, ballot, result, entry, circles)


# -- paying out ------------------------------------------------------------------------------------


@dataclass
class PayoutOutcome:
    """A steward's confirmation of a payout and whether the money is now out."""

    draw: TreasuryDraw
    check: ConfirmationCheck
    entry: LedgerEntry | None
    balance_after: Money | None = None


def disburse(work: Work, network: Network, draw_id: int, person: Person, reference: str,
             settings: TreasurySettings) -> PayoutOutcome:
    """A steward confirms paying an approved draw. With enough confirmations (and never
    below a zero balance) the disbursement is written to the ledger."""
    draw = find_draw(work.session, network.id, draw_id)
    head_lock = lock_ledger(work.session, network.id)  # balance check and payout: one step
    del head_lock
    work.session.refresh(draw)
    if draw.state == "paid":
        raise Refusal("treasury.already_paid", number=draw.id, reference=draw.payment_ref or "")
    if draw.state != "approved":
        raise Refusal("treasury.not_approved", number=draw.id)
    if not is_treasury_steward(work.session, network.id, person.id):
        raise Refusal("errors.stewards_only", command="treasury disburse")
    amount = Money(draw.amount_minor, draw.currency)
    try:
        after = check_disbursement(treasury_balances(work.session, network.id), amount)
    except TreasuryError as err:
        available = getattr(err, "available", Money.zero(draw.currency))
        raise Refusal("treasury.insufficient_funds", number=draw.id, amount=str(amount),
                      available=str(available)) from None
    reference = reference.strip()[:200]
    table = TreasuryPayout.__table__
    stmt = upsert_insert(work.session.get_bind().dialect.name)(table).values(draw_id=draw.id, person_id=person.id,
                                                at=work.now, reference=reference)
    work.session.execute(stmt.on_conflict_do_nothing(index_elements=["draw_id", "person_id"]))
    payouts = work.session.exec(select(TreasuryPayout).where(TreasuryPayout.draw_id == draw.id)
                                .order_by(TreasuryPayout.id)).all()
    ref = next((p.reference for p in payouts if p.reference), "")
    if not ref:
        raise Refusal("treasury.reference_needed", number=draw.id)
    confirmers = [Confirmer(p.person_id, _member_circles(work.session, network.id, p.person_id),
                            is_treasury_steward(work.session, network.id, p.person_id))
                  for p in payouts]
    check = check_confirmations(confirmers, draw.circle_id, settings.payout)
    if not check.complete:
        return PayoutOutcome(draw, check, None)
    draw.state, draw.paid_at, draw.payment_ref = "paid", work.now, ref
    work.session.add(draw)
    entry = append_entry(work.session, network.id, EntryKind.DISBURSEMENT, work.now, {
        "draw": draw.id, "circle": draw.circle_id, "amount": amount, "reference": ref,
        "confirmed_by": list(check.confirmed_by)})
    return PayoutOutcome(draw, check, entry, after[draw.currency])


# -- verification ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The chain checked; `head_found` says whether a published head is in it (None if none
    was given)."""

    result: VerifyResult
    seq: int
    head: str
    head_found: bool | None = None


def verify_ledger(session: Session, network_id: int, published_head: str | None = None
                  ) -> Verification:
    """Recompute the network's whole chain; name the first entry that was altered."""
    chain = load_chain(session, network_id)
    result = verify_chain(chain)
    seq, head = (chain[-1].seq, chain[-1].hash) if chain else ledger_head(session, network_id)
    found = None
    if published_head:
        wanted = published_head.strip().lower()
        found = any(e.hash == wanted or (len(wanted) >= 12 and e.hash.startswith(wanted))
                    for e in chain)
    return Verification(result, seq, head, found)


# -- person merge ----------------------------------------------------------------------------------


def merge_person(session: Session, source_id: int, target_id: int) -> None:
    """Linked accounts: the source person's votes and payout confirmations follow the target,
    keeping one vote per ballot (the later one) and one confirmation per payout. Only those
    pairs are handled one by one; everything else moves in one UPDATE per column. Ledger
    entries keep the ids they were written with: the chain never changes."""
    twin = aliased(TreasuryVote)
    for vote, kept in session.exec(select(TreasuryVote, twin).join(twin, and_(
            twin.draw_id == TreasuryVote.draw_id, twin.person_id == target_id))
            .where(TreasuryVote.person_id == source_id)).all():
        if utc(vote.cast_at) > utc(kept.cast_at):
            kept.choice, kept.circle_id, kept.cast_at = vote.choice, vote.circle_id, vote.cast_at
            kept.account = vote.account
            session.add(kept)
        session.delete(vote)
    paid = aliased(TreasuryPayout)
    for payout, _ in session.exec(select(TreasuryPayout, paid).join(paid, and_(
            paid.draw_id == TreasuryPayout.draw_id, paid.person_id == target_id))
            .where(TreasuryPayout.person_id == source_id)).all():
        session.delete(payout)
    session.flush()
    for column in (TreasuryVote.person_id, TreasuryPayout.person_id, TreasuryPledge.made_by,
                   TreasuryIncome.reported_by, TreasuryContribution.recorded_by,
                   TreasuryContribution.confirmed_by, TreasuryDraw.requested_by,
                   TreasuryRate.entered_by):
        repoint(session, column, source_id, target_id)


# -- a person's and a circle's data (/mydata, /forgetme, /circle export) ------------------------


def _iso(dt: datetime | None) -> str | None:
    return utc(dt).isoformat() if dt else None


def _draw_data(d: TreasuryDraw) -> dict:
    return {"id": d.id, "circle_id": d.circle_id, "requested_by": d.requested_by,
            "requested_at": _iso(d.requested_at), "amount_minor": d.amount_minor,
            "currency": d.currency, "category": d.category, "urgency": d.urgency,
            "importance": d.importance, "purpose": d.purpose, "state": d.state,
            "payment_ref": d.payment_ref, "paid_at": _iso(d.paid_at)}


def _contribution_data(c: TreasuryContribution) -> dict:
    return {"id": c.id, "circle_id": c.circle_id, "amount_minor": c.amount_minor,
            "currency": c.currency, "note": c.note, "recorded_by": c.recorded_by,
            "recorded_at": _iso(c.recorded_at), "confirmed_by": c.confirmed_by,
            "confirmed_at": _iso(c.confirmed_at)}


def _pledge_data(p: TreasuryPledge) -> dict:
    return {"id": p.id, "circle_id": p.circle_id, "kind": p.kind, "basis_points": p.basis_points,
            "amount_minor": p.amount_minor, "currency": p.currency,
            "period_months": p.period_months, "made_by": p.made_by, "made_at": _iso(p.made_at),
            "active": p.active}


def _income_data(i: TreasuryIncome) -> dict:
    return {"id": i.id, "circle_id": i.circle_id, "period": i.period,
            "amount_minor": i.amount_minor, "currency": i.currency,
            "reported_by": i.reported_by, "reported_at": _iso(i.reported_at)}


def person_data(session: Session, person_id: int) -> dict:
    """What the treasury keeps about a person: votes cast, draws requested, contributions
    recorded or confirmed, pledges and income reported, payouts confirmed, rates entered,
    and where they are a steward. The ledger itself holds only their number."""
    def rows(model, column):
        return session.exec(select(model).where(column == person_id).order_by(model.id)).all()
    contributions = session.exec(select(TreasuryContribution).where(or_(
        TreasuryContribution.recorded_by == person_id,
        TreasuryContribution.confirmed_by == person_id)).order_by(TreasuryContribution.id)).all()
    stewards = session.exec(select(Membership.circle_id).where(
        Membership.person_id == person_id, Membership.is_steward == True)).all()  # noqa: E712
    return {
        "votes": [{"draw_id": v.draw_id, "choice": v.choice, "circle_id": v.circle_id,
                   "cast_at": _iso(v.cast_at), "account": v.account}
                  for v in rows(TreasuryVote, TreasuryVote.person_id)],
        "draws_requested": [_draw_data(d) for d in rows(TreasuryDraw, TreasuryDraw.requested_by)],
        "contributions": [_contribution_data(c) for c in contributions],
        "pledges_made": [_pledge_data(p) for p in rows(TreasuryPledge, TreasuryPledge.made_by)],
        "income_reported": [_income_data(i) for i in rows(TreasuryIncome, TreasuryIncome.reported_by)],
        "payouts_confirmed": [{"draw_id": p.draw_id, "reference": p.reference, "at": _iso(p.at)}
                              for p in rows(TreasuryPayout, TreasuryPayout.person_id)],
        "rates_entered": [{"base": r.base, "quote": r.quote, "rate": r.rate, "as_of": r.as_of,
                           "at": _iso(r.entered_at)}
                          for r in rows(TreasuryRate, TreasuryRate.entered_by)],
        "steward_in_circles": sorted(stewards),
    }


def erase_person(session: Session, person_id: int) -> None:
    """Remove a person's personal data from the treasury, keeping every count and the ledger.

    The platform account their vote came from goes (the vote still counts, under the nameless
    stub); so do the notes they wrote on contributions. A draw's purpose stays: it is the
    circle's request, and the ledger entry holding it must keep its hash.
    """
    for vote in session.exec(select(TreasuryVote).where(TreasuryVote.person_id == person_id,
                                                        TreasuryVote.account != "")).all():
        vote.account = ""
        session.add(vote)
    for row in session.exec(select(TreasuryContribution).where(
            TreasuryContribution.recorded_by == person_id, TreasuryContribution.note != "")).all():
        row.note = ""
        session.add(row)
    session.flush()


def circle_data(session: Session, circle_id: int) -> dict:
    """Everything of the treasury a circle takes with it: its pledges, income, contributions,
    draws with their ballots, the votes its members cast, and the ledger entries about it
    (with the chain's head, so the copy can be checked against the published ledger)."""
    circle = session.get(Circle, circle_id)
    def rows(model):
        return session.exec(select(model).where(model.circle_id == circle_id)
                            .order_by(model.id)).all()
    draws = rows(TreasuryDraw)
    ballots = {b.draw_id: b for b in session.exec(select(TreasuryBallot).where(
        TreasuryBallot.draw_id.in_([d.id for d in draws] or [-1]))).all()}
    chain = load_chain(session, circle.network_id) if circle else []
    seq, head = ledger_head(session, circle.network_id) if circle else (0, "")
    return {
        "pledges": [_pledge_data(p) for p in rows(TreasuryPledge)],
        "income": [_income_data(i) for i in rows(TreasuryIncome)],
        "contributions": [_contribution_data(c) for c in rows(TreasuryContribution)],
        "draws": [{**_draw_data(d), "ballot": {
            "closes_at": _iso(ballots[d.id].closes_at), "state": ballots[d.id].state,
            "result": ballots[d.id].result} if d.id in ballots else None} for d in draws],
        "votes": [{"draw_id": v.draw_id, "person_id": v.person_id, "choice": v.choice,
                   "cast_at": _iso(v.cast_at)}
                  for v in session.exec(select(TreasuryVote).where(
                      TreasuryVote.circle_id == circle_id).order_by(TreasuryVote.id)).all()],
        "ledger": {"head_seq": seq, "head_hash": head,
                   "entries": [{"seq": e.seq, "kind": e.kind, "at": e.at, "data": e.data,
                                "prev_hash": e.prev_hash, "hash": e.hash}
                               for e in chain if e.data.get("circle") == circle_id]},
    }


# -- the asymmetry report ----------------------------------------------------------------------------


@dataclass
class CircleAccount:
    """One circle's side of the treasury: what it promised, gave, received, and how often it
    took part in deciding."""

    circle_id: int
    name: str
    pledge: TreasuryPledge | None
    pledge_due: Money | None
    contributed: Balances
    drawn: Balances
    draws_by_category: dict[str, int]
    ballots_taken_part: int
    ballots_eligible: int
    active: bool


def asymmetry(session: Session, network_id: int) -> list[CircleAccount]:
    """Per circle: pledged, contributed (confirmed), drawn (paid), paid draws by category,
    ballots taken part in. Circles that left stay listed if they have history."""
    chain = load_chain(session, network_id)
    circles = session.exec(select(Circle).where(Circle.network_id == network_id)
                           .order_by(Circle.id)).all()
    draws = {d.id: d for d in session.exec(select(TreasuryDraw).where(
        TreasuryDraw.network_id == network_id)).all()}
    ballots = session.exec(select(TreasuryBallot).where(TreasuryBallot.network_id == network_id,
                                                        TreasuryBallot.state == "closed")).all()
    rows = []
    for c in circles:
        mine = [e for e in chain if e.data.get("circle") == c.id]
        contributed = balances_from_entries(e for e in mine if e.kind == "contribution_confirmed")
        drawn = balances_from_entries(e for e in mine if e.kind == "disbursement")
        drawn = Balances.of(*(-m for m in drawn))  # report what was received as positive
        by_category: dict[str, int] = {}
        for e in mine:
            if e.kind == "disbursement" and e.data.get("draw") in draws:
                cat = draws[e.data["draw"]].category
                by_category[cat] = by_category.get(cat, 0) + 1
        eligible_in = [b for b in ballots if c.id in b.eligible]
        took = sum(1 for b in eligible_in
                   if sum((b.result.get("circles", {}).get(str(c.id)) or {}).values()) > 0)
        history = bool(mine) or bool(eligible_in)
        if c.left_at is not None and not history:
            continue
        rows.append(CircleAccount(c.id, c.name, active_pledge(session, c.id),
                                  pledge_due_now(session, c.id), contributed, drawn,
                                  by_category, took, len(eligible_in), c.left_at is None))
    return rows


__all__ = [
    "DEFAULT_SETTINGS", "SETTING_NAMES", "TreasurySettings", "settings_from", "settings_for",
    "change_setting", "treasury_balances", "is_treasury_steward", "Handover", "open_treasury",
    "rotate_stewardship", "stewardship", "parse_pledge", "record_pledge", "pledge_of",
    "active_pledge", "pledge_due_now", "report_income", "record_contribution",
    "confirm_contribution", "enter_rate", "rates", "request_draw", "find_draw", "VoteReceipt",
    "cast_vote", "votes_of", "count_ballot", "BallotResult", "close_ballot", "PayoutOutcome",
    "disburse", "Verification", "verify_ledger", "merge_person", "person_data", "erase_person",
    "circle_data", "CircleAccount", "asymmetry",
    "ballot_policy", "money_of",
]

"""Ballots on draws from the solidarity treasury: who may vote, until when, and how to count.

A circle asks for a draw (`DrawRequest`); every eligible circle's members vote yes, no or
abstain until the deadline. Counting is per circle by default, so that a large or wealthy
circle cannot outvote the rest of the network:

1. Each person counts once. A person may vote from several linked platform accounts and may
   change their mind until the ballot closes: only their latest vote (by `cast_at`, and for
   equal times the later one in the input) from an eligible circle counts.
2. `per_circle` (default): within each circle, more yes than no voters -> the circle says
   yes; more no -> no; a tie or only abstentions -> the circle abstains. Then each circle
   counts once. `per_person` (an option): every person is one vote across the network.
3. Quorum: at least `policy.quorum` (default 1/2) of the eligible circles took part (a
   circle takes part when at least one of its members voted, abstaining included).
   A ballot in which only the requesting circle took part never meets quorum.
4. Threshold: yes / (yes + no) must be above `policy.threshold` (default 1/2, "more than
   half"), or at least it when `policy.threshold_inclusive` (e.g. 2/3 "two thirds").
   Abstentions count for quorum, not for the threshold. Shares are `Fraction`s: no float
   ever decides a vote.
5. Outside support: the requesting circle's vote counts, but the draw also needs at least
   one yes from another circle (per_circle: another circle deciding yes; per_person: a yes
   from a member of another circle).

`tally` names the outcome with `reason_key`: "quorum_not_met", "threshold_not_met",
"no_outside_support" or "approved" (checked in that order).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from fractions import Fraction
from typing import Iterable, Mapping

from core.money import Money


class Category(str, Enum):
    """What the money is for."""

    REPRESSION = "repression"
    STRIKE = "strike"
    DISASTER = "disaster"
    OTHER = "other"


class Urgency(str, Enum):
    """How soon the money is needed; sets the ballot's deadline."""

    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Choice(str, Enum):
    """A voter's answer."""

    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class CountingMode(str, Enum):
    """How votes become a result: one vote per circle (default) or per person."""

    PER_CIRCLE = "per_circle"
    PER_PERSON = "per_person"


class BallotError(ValueError):
    """A draw request or ballot setting was refused; `key` names the reason."""

    def __init__(self, message: str, key: str = "ballot.invalid") -> None:
        super().__init__(message)
        self.key = key


DEFAULT_DEADLINES: Mapping[Urgency, timedelta] = {
    Urgency.NORMAL: timedelta(hours=72),
    Urgency.HIGH: timedelta(hours=48),
    Urgency.CRITICAL: timedelta(hours=24),
}
PURPOSE_MAX = 1000


@dataclass(frozen=True)
class DrawRequest:
    """A circle asking the treasury for money."""

    amount: Money
    category: Category
    urgency: Urgency
    strategic_importance: int  # 1 (low) .. 5 (decisive for the movement)
    purpose: str
    requesting_circle: int

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "category", Category(self.category))
            object.__setattr__(self, "urgency", Urgency(self.urgency))
        except ValueError as err:
            raise BallotError(str(err), "ballot.unknown_choice") from None
        if not isinstance(self.amount, Money) or self.amount.minor <= 0:
            raise BallotError("a draw asks for a positive amount", "ballot.amount_positive")
        importance = self.strategic_importance
        if not isinstance(importance, int) or isinstance(importance, bool) \
                or not 1 <= importance <= 5:
            raise BallotError("strategic importance is 1 to 5", "ballot.importance_range")
        purpose = (self.purpose or "").strip()
        if not purpose or len(purpose) > PURPOSE_MAX:
            raise BallotError(f"say what the money is for (1-{PURPOSE_MAX} characters)",
                              "ballot.purpose_length")
        object.__setattr__(self, "purpose", purpose)

    @property
    def currency(self) -> str:
        """The currency asked for."""
        return self.amount.currency


def _fraction(value: Fraction | int | str, name: str) -> Fraction:
    # Floats are refused on purpose: 0.1 + 0.2 is not 0.3, and a vote must not hinge on that.
    if isinstance(value, float) or isinstance(value, bool):
        raise BallotError(f"{name}: use a fraction such as '2/3' or '0.5', not a float")
    try:
        result = Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError):
        raise BallotError(f"{name}: not a share: {value!r}") from None
    if not 0 <= result <= 1:
        raise BallotError(f"{name}: a share is between 0 and 1, got {value!r}")
    return result


@dataclass(frozen=True)
class BallotPolicy:
    """How a network decides on draws. Defaults are the product's defaults."""

    counting: CountingMode = CountingMode.PER_CIRCLE
    quorum: Fraction = Fraction(1, 2)  # share of eligible circles that must take part (>=)
    threshold: Fraction = Fraction(1, 2)  # share of yes among deciding votes
    threshold_inclusive: bool = False  # False: more than threshold; True: at least it
    deadlines: Mapping[Urgency, timedelta] = field(default_factory=lambda: dict(DEFAULT_DEADLINES))
    min_membership_age: timedelta = timedelta(days=14)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counting", CountingMode(self.counting))
        object.__setattr__(self, "quorum", _fraction(self.quorum, "quorum"))
        object.__setattr__(self, "threshold", _fraction(self.threshold, "threshold"))
        deadlines = dict(DEFAULT_DEADLINES)
        for urgency, delta in dict(self.deadlines).items():
            if not isinstance(delta, timedelta) or delta <= timedelta(0):
                raise BallotError(f"deadline for {urgency} must be a positive duration")
            deadlines[Urgency(urgency)] = delta
        object.__setattr__(self, "deadlines", deadlines)

    @classmethod
    def from_settings(cls, settings: Mapping[str, object]) -> BallotPolicy:
        """Build from configuration values, e.g. from TOML::

            counting = "per_circle"    # or "per_person"
            quorum = "50%"             # "1/2", "0.5" or 0.5 also work
            threshold = "2/3"
            threshold_inclusive = true
            deadline_hours = { normal = 72, high = 48, critical = 24 }
            min_membership_days = 14
        """
        kwargs: dict[str, object] = {}
        if "counting" in settings:
            kwargs["counting"] = CountingMode(settings["counting"])
        for key in ("quorum", "threshold"):
            if key in settings:
                kwargs[key] = _share_setting(settings[key], key)
        if "threshold_inclusive" in settings:
            kwargs["threshold_inclusive"] = bool(settings["threshold_inclusive"])
        hours = settings.get("deadline_hours") or {}
        if hours:
            kwargs["deadlines"] = {Urgency(k): timedelta(hours=v) for k, v in dict(hours).items()}
        if "min_membership_days" in settings:
            kwargs["min_membership_age"] = timedelta(days=settings["min_membership_days"])
        return cls(**kwargs)  # type: ignore[arg-type]


def _share_setting(value: object, name: str) -> Fraction:
    if isinstance(value, float):
        value = str(value)  # TOML 0.5 -> "0.5": the digits the organiser wrote, exactly
    if isinstance(value, str) and value.strip().endswith("%"):
        return _fraction(Fraction(value.strip()[:-1].strip()) / 100, name)
    return _fraction(value, name)  # type: ignore[arg-type]


def deadline_for(urgency: Urgency | str, opened_at: datetime,
                 policy: BallotPolicy | None = None) -> datetime:
    """When a ballot opened at `opened_at` closes: 72 h, 48 h (high) or 24 h (critical) later
    by default, or as `policy.deadlines` says."""
    if opened_at.tzinfo is None:
        raise BallotError("opened_at must carry a time zone")
    policy = policy or BallotPolicy()
    return opened_at + policy.deadlines[Urgency(urgency)]


def circle_active(active_from: datetime, active_until: datetime | None, at: datetime) -> bool:
    """Whether a time-boxed circle is active at `at` (from inclusive, until exclusive)."""
    return active_from <= at and (active_until is None or at < active_until)


def eligible(member_joined_at: datetime, circle_active_from: datetime,
             circle_active_until: datetime | None, ballot_opened_at: datetime,
             min_membership_age: timedelta = timedelta(days=14)) -> bool:
    """Whether a member may vote on a ballot, judged at the moment it opened.

    They must have joined at least `min_membership_age` before the ballot opened (so nobody
    can pack a circle once a draw is asked for), and their circle must be active then.
    """
    return (
        member_joined_at + min_membership_age <= ballot_opened_at
        and circle_active(circle_active_from, circle_active_until, ballot_opened_at)
    )


@dataclass(frozen=True)
class Vote:
    """One vote as cast: a person (not an account), from a circle, at an instant.

    `account` only records which platform account sent it; counting ignores it.
    """

    person_id: int
    circle_id: int
    choice: Choice
    cast_at: datetime
    account: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "choice", Choice(self.choice))


@dataclass(frozen=True)
class CircleCount:
    """How one circle's members voted and what the circle says.

    `decision` is None when nobody in the circle voted, ABSTAIN on a tie or only abstentions.
    """

    yes: int = 0
    no: int = 0
    abstain: int = 0

    @property
    def took_part(self) -> bool:
        """At least one member voted (abstaining counts)."""
        return self.yes + self.no + self.abstain > 0

    @property
    def decision(self) -> Choice | None:
        """The circle's single vote under per-circle counting."""
        if not self.took_part:
            return None
        if self.yes > self.no:
            return Choice.YES
        if self.no > self.yes:
            return Choice.NO
        return Choice.ABSTAIN


@dataclass(frozen=True)
class Tally:
    """The result of a ballot.

    `yes`, `no`, `abstain` count circles under per-circle counting and persons under
    per-person counting; `took_part` and `eligible` always count circles (quorum is about
    circles in both modes). `per_circle` holds every eligible circle's `CircleCount`.
    """

    per_circle: dict[int, CircleCount]
    yes: int
    no: int
    abstain: int
    took_part: int
    quorum_met: bool
    approved: bool
    reason_key: str
    eligible: int = 0
    counting: CountingMode = CountingMode.PER_CIRCLE
    voters: int = 0

    @property
    def yes_share(self) -> Fraction | None:
        """yes / (yes + no), or None when nobody decided."""
        deciding = self.yes + self.no
        return Fraction(self.yes, deciding) if deciding else None


def latest_votes(votes: Iterable[Vote], eligible_circles: Iterable[int],
                 closes_at: datetime | None = None) -> dict[int, Vote]:
    """Each person's vote that counts: their latest one from an eligible circle, cast no
    later than `closes_at` (when given). Keyed by person id."""
    circles = set(eligible_circles)
    # Stable sort: equal instants keep input order, so the later-listed vote wins.
    ordered = sorted(
        (v for v in votes
         if v.circle_id in circles and (closes_at is None or v.cast_at <= closes_at)),
        key=lambda v: v.cast_at,
    )
    return {vote.person_id: vote for vote in ordered}


def _meets(share: Fraction, threshold: Fraction, inclusive: bool) -> bool:
    return share >= threshold if inclusive else share > threshold


def tally(policy: BallotPolicy, votes: Iterable[Vote], eligible_circles: Iterable[int],
          requester: int, *, closes_at: datetime | None = None) -> Tally:
    """Count a ballot on a draw requested by circle `requester`.

    `votes` may hold several votes per person (changed minds, several accounts); the service
    passes only votes of eligible members (see `eligible`). Votes from circles outside
    `eligible_circles`, or after `closes_at`, are ignored. See the module docstring for the
    rules.
    """
    circles = sorted(set(eligible_circles))
    counted = latest_votes(votes, circles, closes_at)
    raw: dict[tuple[int, Choice], int] = {}
    for vote in counted.values():
        raw[vote.circle_id, vote.choice] = raw.get((vote.circle_id, vote.choice), 0) + 1
    return tally_counts(policy, raw, circles, requester)


_NOBODY = CircleCount()


def _count(choices: dict[Choice, int] | None) -> CircleCount:
    if not choices:  # most circles of a large ballot, most of the time
        return _NOBODY
    return CircleCount(yes=choices.get(Choice.YES, 0), no=choices.get(Choice.NO, 0),
                       abstain=choices.get(Choice.ABSTAIN, 0))


def tally_counts(policy: BallotPolicy, counts: dict[tuple[int, Choice], int],
                 eligible_circles: Iterable[int], requester: int) -> Tally:
    """`tally` from votes already counted: {(circle, choice): how many persons}, one vote per
    person (the latest, as `latest_votes` keeps). Circles outside `eligible_circles` are
    ignored. The database can count this way without reading every vote."""
    circles = sorted(set(eligible_circles))
    voted: dict[int, dict[Choice, int]] = {}
    for (circle, choice), n in counts.items():
        voted.setdefault(circle, {})[choice] = n
    per_circle = {c: _count(voted.get(c)) for c in circles}
    voters = sum(n.yes + n.no + n.abstain for n in per_circle.values())
    taking_part = [c for c, count in per_circle.items() if count.took_part]

    if policy.counting is CountingMode.PER_CIRCLE:
        decisions = [per_circle[c].decision for c in taking_part]
        yes, no = decisions.count(Choice.YES), decisions.count(Choice.NO)
        abstain = decisions.count(Choice.ABSTAIN)
        outside_yes = any(per_circle[c].decision is Choice.YES for c in taking_part
                          if c != requester)
    else:
        yes = sum(c.yes for c in per_circle.values())
        no = sum(c.no for c in per_circle.values())
        abstain = sum(c.abstain for c in per_circle.values())
        outside_yes = any(count.yes for c, count in per_circle.items() if c != requester)

    outsiders_took_part = any(c != requester for c in taking_part)
    quorum_met = (
        bool(circles)
        and outsiders_took_part
        and Fraction(len(taking_part), len(circles)) >= policy.quorum
    )
    deciding = yes + no
    threshold_met = deciding > 0 and _meets(
        Fraction(yes, deciding), policy.threshold, policy.threshold_inclusive
    )
    if not quorum_met:
        reason = "quorum_not_met"
    elif not threshold_met:
        reason = "threshold_not_met"
    elif not outside_yes:
        reason = "no_outside_support"
    else:
        reason = "approved"
    return Tally(
        per_circle=per_circle, yes=yes, no=no, abstain=abstain, took_part=len(taking_part),
        quorum_met=quorum_met, approved=reason == "approved", reason_key=reason,
        eligible=len(circles), counting=policy.counting, voters=voters,
    )

"""Many people voting at the same instant, and concurrent ledger appends: exact tallies and
one unforked chain, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import threading

from sqlmodel import select

from core.ledger import EntryKind, verify_chain
from core.messages import Incoming, Sender
from core.storage import unit_of_work
from core.storage.models import Circle, Membership, Network, Person
from core.storage.treasury import TreasuryVote, append_entry, load_chain
from core.treasury import cast_vote, count_ballot, find_draw
from core.storage.treasury import TreasuryBallot
from core.work import Work
from tests.treasury.conftest import PLATFORM, say, three_circles

MEMBERS = tuple(f"m{i}" for i in range(6))


def _vote(chat: str, user: str, text: str) -> Incoming:
    return Incoming(platform=PLATFORM[chat], chat_id=chat, sender=Sender(user, user.title()),
                    text=text)


async def _open_draw(town) -> None:
    await three_circles(town, members=MEMBERS)
    await say(town, "chicago", "chicago_coord", "/treasury criteria")
    out = await say(town, "lagos", "lagos_coord",
                    "/treasury draw 100 EUR disaster critical 5 Flood relief")
    assert "Draw #1 requested" in out


async def test_votes_gathered_at_once_are_counted_exactly(any_ttown):
    town = any_ttown
    await _open_draw(town)
    # Chicago: all yes. Gaziantep: 5 no, then everyone yes (changed minds and first votes
    # at once). Lagos: all abstain, then two change to no.
    first = [_vote("chicago", f"chicago_{m}", "/treasury vote 1 yes") for m in MEMBERS]
    first += [_vote("gaziantep", f"gaziantep_{m}", "/treasury vote 1 no") for m in MEMBERS[:5]]
    first += [_vote("lagos", f"lagos_{m}", "/treasury vote 1 abstain") for m in MEMBERS]
    await asyncio.gather(*(town.app.dispatcher.handle(i) for i in first))
    second = [_vote("gaziantep", f"gaziantep_{m}", "/treasury vote 1 yes") for m in MEMBERS]
    second += [_vote("lagos", f"lagos_{m}", "/treasury vote 1 no") for m in MEMBERS[:2]]
    await asyncio.gather(*(town.app.dispatcher.handle(i) for i in second))
    await town.app.settle()

    with unit_of_work(town.app.services.engine) as s:
        rows = s.exec(select(TreasuryVote)).all()
        assert len(rows) == 3 * len(MEMBERS)  # one row per person, however often they voted
        draw = find_draw(s, 1, 1)
        tally = count_ballot(s, draw, s.get(TreasuryBallot, 1))
    ids = {name: cid for cid, name in ((1, "chicago"), (2, "gaziantep"), (3, "lagos"))}
    per = {k: (tally.per_circle[v].yes, tally.per_circle[v].no, tally.per_circle[v].abstain)
           for k, v in ids.items()}
    n = len(MEMBERS)
    assert per == {"chicago": (n, 0, 0), "gaziantep": (n, 0, 0), "lagos": (0, 2, n - 2)}
    assert (tally.yes, tally.no, tally.took_part, tally.voters) == (2, 1, 3, 3 * n)


def _people(engine, chat: str) -> list[tuple[int, int, int]]:
    """(person, circle, membership) for the members of one chat's circle."""
    with unit_of_work(engine) as s:
        circle = s.exec(select(Circle).where(Circle.chat_id == chat)).one()
        rows = s.exec(select(Membership).where(Membership.circle_id == circle.id)).all()
        return [(m.person_id, circle.id, m.id) for m in rows]


def _threads(n: int, body) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            body(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


async def test_threads_voting_at_once_hit_the_database_exactly(any_ttown):
    town = any_ttown
    await _open_draw(town)
    services = town.app.services
    voters = _people(services.engine, "gaziantep") + _people(services.engine, "chicago")
    now = town.clock.now()

    def one_vote(i: int) -> None:
        person_id, circle_id, membership_id = voters[i % len(voters)]
        # Every person votes twice at the same moment from two threads: yes and no.
        choice = "yes" if i < len(voters) else "no"
        with unit_of_work(services.engine) as s:
            work = Work(services, s, now)
            cast_vote(work, 1, s.get(Person, person_id), s.get(Circle, circle_id),
                      s.get(Membership, membership_id), choice, f"thread:{i}")

    errors = await asyncio.to_thread(_threads, 2 * len(voters), one_vote)
    assert errors == []
    with unit_of_work(services.engine) as s:
        rows = s.exec(select(TreasuryVote)).all()
    assert len(rows) == len(voters)  # exactly one vote per person
    assert {r.person_id for r in rows} == {v[0] for v in voters}


async def test_concurrent_appends_never_fork_the_chain(any_ttown):
    town = any_ttown
    await three_circles(town, members=(), settle_days=0)
    services = town.app.services
    with unit_of_work(services.engine) as s:
        network_id = s.exec(select(Network.id)).one()
    now = town.clock.now()

    def append(i: int) -> None:
        for k in range(3):
            with unit_of_work(services.engine) as s:
                append_entry(s, network_id, EntryKind.RATE, now,
                             {"thread": i, "k": k, "base": "EUR", "quote": "NGN", "rate": "1650"})

    errors = await asyncio.to_thread(_threads, 12, append)
    assert errors == []
    with unit_of_work(services.engine) as s:
        chain = load_chain(s, network_id)
    assert [e.seq for e in chain] == list(range(1, 37))
    assert len({e.prev_hash for e in chain}) == 36  # no two entries share a parent
    assert verify_chain(chain).ok


async def test_the_database_counts_as_the_rules_do(any_ttown):
    # Tallies are counted with one GROUP BY; the rules in core.ballots count every vote.
    # After rounds of random votes and changed minds both must agree on every figure.
    import random

    from core.ballots import tally
    from core.clock import utc
    from core.treasury import ballot_policy, votes_of

    town = any_ttown
    await _open_draw(town)
    rng = random.Random(7)
    chats = ("chicago", "gaziantep", "lagos")
    for _ in range(4):
        batch = [_vote(chat, f"{chat}_{m}", f"/treasury vote 1 {rng.choice(('yes', 'no', 'abstain'))}")
                 for chat in chats for m in MEMBERS if rng.random() < 0.6]
        for inc in batch:
            await town.app.dispatcher.handle(inc)
        with unit_of_work(town.app.services.engine) as s:
            draw = find_draw(s, 1, 1)
            ballot = s.get(TreasuryBallot, 1)
            counted = count_ballot(s, draw, ballot)
            ruled = tally(ballot_policy(ballot), votes_of(s, 1), ballot.eligible,
                          draw.circle_id, closes_at=utc(ballot.closes_at))
        assert counted == ruled
        assert counted.voters == len(_voted(town)) > 0


def _voted(town) -> set[tuple[str, str]]:
    """(chat, user) of everyone holding a vote."""
    from core.storage.models import Account
    with unit_of_work(town.app.services.engine) as s:
        rows = s.exec(select(Circle.chat_id, Account.platform_user_id)
                      .join(TreasuryVote, TreasuryVote.circle_id == Circle.id)
                      .join(Account, Account.person_id == TreasuryVote.person_id)).all()
    return set(rows)

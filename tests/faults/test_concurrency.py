"""Several Tessera processes on one PostgreSQL database take votes and contributions at once;
tallies and balances come out exact and the ledger stays one verified chain."""
from __future__ import annotations

import asyncio
import multiprocessing

from sqlmodel import select

from core.ledger import verify_chain
from core.storage import make_engine, unit_of_work
from core.storage.treasury import TreasuryBallot, TreasuryContribution, TreasuryVote, load_chain
from core.treasury import count_ballot, find_draw, treasury_balances
from tests.faults import driver, harness
from tests.faults.scenarios import CIRCLES, MEMBERS, PLATFORM

PROCESSES = 3


def _worker(url: str, data_dir: str, at: str, lines: list, barrier, conn) -> None:
    """One Tessera process: handles its share of chat lines as fast as it can."""
    from datetime import datetime

    from core.messages import Incoming, Sender

    async def run() -> None:
        town = await driver.start(url, data_dir, datetime.fromisoformat(at))
        try:
            barrier.wait()
            await asyncio.gather(*(town.app.dispatcher.handle(Incoming(
                platform=PLATFORM[chat], chat_id=chat, sender=Sender(user, user.title()),
                text=text)) for chat, user, text in lines))
        finally:
            await town.stop()
    try:
        asyncio.run(run())
        conn.send("ok")
    except BaseException as exc:  # noqa: BLE001 - shown by the test
        conn.send(repr(exc))


def _all_at_once(url, data_dir, at, shares) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(shares))
    pipes, procs = [], []
    for lines in shares:
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(url, str(data_dir), at, lines, barrier, child))
        p.start()
        pipes.append(parent)
        procs.append(p)
    answers = [c.recv() if c.poll(120) else "timeout" for c in pipes]
    for p in procs:
        p.join(30)
    assert answers == ["ok"] * len(shares)


def test_processes_voting_and_contributing_at_once_on_postgresql(tmp_path):
    harness.warm_up()
    store = harness.Store(tmp_path, postgres=True)
    try:
        url = store.fresh("concurrency")
        # The ballot scenario's world: three circles, members old enough, two open ballots.
        at = harness.run_phase("setup", "ballot_close", url, tmp_path / "data")[1]
        from datetime import datetime, timedelta
        now = (datetime.fromisoformat(at) - timedelta(hours=30)).isoformat()  # ballots open
        people = [(chat, f"{chat}_{m}") for chat, *_ in CIRCLES for m in MEMBERS]
        # Every process sends every person's votes (changed minds racing each other: the last
        # word per process is "yes" on draw 1 and "no" on draw 2) and its own contributions.
        shares = []
        for i in range(PROCESSES):
            lines = []
            for chat, user in people:
                lines += [(chat, user, "/treasury vote 1 no"), (chat, user, "/treasury vote 2 abstain")]
            for chat, user in people:
                lines += [(chat, user, "/treasury vote 1 yes"), (chat, user, "/treasury vote 2 no")]
                lines.append((chat, user, f"/treasury contribute {i + 1} EUR p{i}"))
            shares.append(lines)
        _all_at_once(url, tmp_path / "data", now, shares)
        # Then every steward process confirms every contribution at once.
        engine = make_engine(url)
        with unit_of_work(engine) as s:
            ids = [c.id for c in s.exec(select(TreasuryContribution)).all()]
        engine.dispose()
        assert len(ids) == PROCESSES * len(people)
        confirm = [("chicago", "chicago_coord", f"/treasury confirm {n}") for n in ids]
        _all_at_once(url, tmp_path / "data", now, [confirm] * PROCESSES)

        engine = make_engine(url)
        try:
            with unit_of_work(engine) as s:
                votes = s.exec(select(TreasuryVote)).all()
                assert len(votes) == 2 * len(people)  # one row per person and ballot
                for draw_id in (1, 2):
                    assert {v.person_id for v in votes if v.draw_id == draw_id}.__len__() == len(people)
                # The vote of each person is one of the two they sent; the tallies add up.
                for draw_id in (1, 2):
                    draw = find_draw(s, 1, draw_id)
                    tally = count_ballot(s, draw, s.get(TreasuryBallot, draw_id))
                    assert tally.voters == len(people)
                    per = sum(n.yes + n.no + n.abstain for n in tally.per_circle.values())
                    assert per == len(people)
                contributions = s.exec(select(TreasuryContribution)).all()
                assert all(c.confirmed_at is not None for c in contributions)
                expected = sum(i + 1 for i in range(PROCESSES)) * len(people) * 100
                assert treasury_balances(s, 1)["EUR"].minor == expected
                chain = load_chain(s, 1)
            assert verify_chain(chain).ok
            kinds = [str(getattr(e.kind, "value", e.kind)) for e in chain]
            assert kinds.count("contribution") == len(ids)
            assert kinds.count("contribution_confirmed") == len(ids)  # never confirmed twice
            assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
        finally:
            engine.dispose()
    finally:
        store.close()

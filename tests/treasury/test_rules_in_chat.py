"""The treasury's rules as members meet them: linked accounts, membership age, no overdraft,
four eyes on payouts, the rotating stewardship, the requester not deciding alone."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core.storage import unit_of_work
from core.storage.models import Circle, Membership, Person
from core.storage.treasury import TreasuryVote, load_chain
from tests.treasury.conftest import say, three_circles


async def _funded(town, amount="500 EUR"):
    await say(town, "chicago", "chicago_coord", f"/treasury contribute {amount}")
    out = await say(town, "chicago", "chicago_coord", "/treasury confirm 1")
    assert "now holds" in out


async def _approved_draw(town, amount="300 EUR"):
    out = await say(town, "lagos", "lagos_coord", f"/treasury draw {amount} repression normal 3 Legal fees")
    assert "requested" in out
    await say(town, "chicago", "chicago_ana", "/treasury vote 1 yes")
    await say(town, "gaziantep", "gaziantep_ana", "/treasury vote 1 yes")
    out = "\n".join(await town.wait(timedelta(hours=72)))
    assert "is approved" in out


async def test_linked_accounts_vote_once(ttown):
    town = ttown
    await three_circles(town)
    await say(town, "chicago", "maria", "/whoami")
    await say(town, "lagos", "maria_on_beta", "/whoami")
    await town.wait(timedelta(days=15))
    await say(town, "chicago", "maria", "/link")
    code = town.direct_to("maria")[-1].split("link code is ")[1].split(".")[0].strip()
    out = await say(town, "lagos", "maria_on_beta", f"/link {code}")
    assert "now one person" in out
    await say(town, "lagos", "lagos_coord", "/treasury draw 100 EUR strike normal 2 Strike kitchen")
    await say(town, "chicago", "maria", "/treasury vote 1 yes")
    out = await say(town, "lagos", "maria_on_beta", "/treasury vote 1 no")
    assert "changed your vote" in out and "(for Lagos)" in out
    assert "Lagos: 0 yes, 1 no" in out
    out = await say(town, "lagos", "maria_on_beta", "/treasury ballot 1")
    assert "Chicago: 0 yes, 0 no" in out and "Lagos: 0 yes, 1 no" in out
    with unit_of_work(town.app.services.engine) as s:
        assert len(s.exec(select(TreasuryVote)).all()) == 1


async def test_votes_made_before_linking_merge_into_one(ttown):
    town = ttown
    await three_circles(town)
    await say(town, "chicago", "rosa", "/whoami")
    await say(town, "lagos", "rosa_on_beta", "/whoami")
    await town.wait(timedelta(days=15))
    await say(town, "lagos", "lagos_coord", "/treasury draw 100 EUR strike normal 2 Strike kitchen")
    await say(town, "chicago", "rosa", "/treasury vote 1 yes")
    await town.wait(timedelta(minutes=5))
    await say(town, "lagos", "rosa_on_beta", "/treasury vote 1 no")
    await say(town, "chicago", "rosa", "/link")
    code = town.direct_to("rosa")[-1].split("link code is ")[1].split(".")[0].strip()
    await say(town, "lagos", "rosa_on_beta", f"/link {code}")
    with unit_of_work(town.app.services.engine) as s:
        [vote] = s.exec(select(TreasuryVote)).all()
        assert vote.choice == "no"  # the later vote stands


async def test_members_must_have_joined_before_the_minimum_age(ttown):
    town = ttown
    await three_circles(town)
    await say(town, "gaziantep", "gaziantep_late", "/whoami")  # joins 1 day before
    await town.wait(timedelta(days=1))
    await say(town, "lagos", "lagos_coord", "/treasury draw 100 EUR disaster normal 5 Roof repair")
    out = await say(town, "gaziantep", "gaziantep_late", "/treasury vote 1 yes")
    assert "at least 14 days before the ballot opened" in out
    out = await say(town, "gaziantep", "gaziantep_newest", "/treasury vote 1 yes")
    assert "at least 14 days" in out
    out = await say(town, "gaziantep", "gaziantep_ana", "/treasury vote 1 yes")
    assert "Your vote on ballot #1: Yes" in out
    # The rule is the network's: coordinators can change it, and every circle is told.
    out = await say(town, "chicago", "chicago_ana", "/treasury settings min_membership_days 0")
    assert "Only this circle's coordinators" in out
    out = await say(town, "chicago", "chicago_coord", "/treasury settings min_membership_days 0")
    assert "Done: min_membership_days is now 0" in out
    assert "changed the treasury rule min_membership_days to 0" in town.last("lagos", "beta")
    # A running ballot keeps the rules it opened with.
    out = await say(town, "gaziantep", "gaziantep_late", "/treasury vote 1 yes")
    assert "at least 14 days" in out


async def test_the_requesting_circle_cannot_decide_alone(ttown):
    town = ttown
    await three_circles(town)
    await say(town, "lagos", "lagos_coord", "/treasury draw 100 EUR strike critical 5 Bail")
    for m in ("lagos_coord", "lagos_ana", "lagos_ben"):
        await say(town, "lagos", m, "/treasury vote 1 yes")
    out = "\n".join(await town.wait(timedelta(hours=24)))  # critical: 24 h
    assert "is not approved (too few circles took part)" in out


async def test_a_payout_never_takes_the_balance_below_zero(ttown):
    town = ttown
    await three_circles(town)
    await _funded(town, "100 EUR")
    await _approved_draw(town, "300 EUR")
    out = await say(town, "chicago", "chicago_coord", "/treasury disburse 1 TRX-1")
    assert "needs 300.00 EUR and the treasury holds 100.00 EUR" in out
    out = await say(town, "chicago", "chicago_coord", "/treasury balance")
    assert "holds: EUR 100.00" in out
    with unit_of_work(town.app.services.engine) as s:
        assert not [e for e in load_chain(s, 1) if e.kind == "disbursement"]
    # Money in another currency never covers it.
    await say(town, "chicago", "chicago_coord", "/treasury contribute 900000 NGN")
    await say(town, "chicago", "chicago_coord", "/treasury confirm 2")
    out = await say(town, "chicago", "chicago_coord", "/treasury disburse 1 TRX-1")
    assert "treasury holds 100.00 EUR" in out


async def test_two_stewards_must_confirm_where_configured(ttown):
    town = ttown
    await three_circles(town)
    await say(town, "chicago", "chicago_coord", "/treasury settings confirmations 2")
    await _funded(town)
    await _approved_draw(town)
    await say(town, "lagos", "lagos_coord", "/steward add lagos_ana")
    out = await say(town, "lagos", "lagos_ana", "/treasury disburse 1 TRX-9")
    assert "It needs 1 more steward" in out
    out = await say(town, "lagos", "lagos_ana", "/treasury disburse 1 TRX-9")
    assert "It needs 1 more steward" in out  # confirming twice counts once
    await say(town, "lagos", "lagos_coord", "/steward add lagos_ben")
    out = await say(town, "lagos", "lagos_ben", "/treasury disburse 1")
    assert "A steward from another circle must confirm too" in out
    out = await say(town, "chicago", "chicago_coord", "/treasury disburse 1")
    assert "Draw #1 is paid out" in out and "EUR 200.00" in out
    with unit_of_work(town.app.services.engine) as s:
        [paid] = [e for e in load_chain(s, 1) if e.kind == "disbursement"]
    assert paid.data["reference"] == "TRX-9" and len(paid.data["confirmed_by"]) == 3


async def test_stewardship_rotates_each_quarter_and_the_handover_is_announced(ttown):
    town = ttown
    await three_circles(town, settle_days=0)
    out = await say(town, "lagos", "lagos_ana", "/treasury stewards")
    assert "Chicago** holds" not in out and "Chicago holds the stewardship since 2026-03-02" in out
    assert "next handover 2026-06-02" in out and "Chicago → Gaziantep → Lagos" in out
    early = await town.wait(timedelta(days=91))  # 2026-06-01: not yet
    assert not [t for t in early if "passes the treasury" in t]
    heard = "\n".join(await town.wait(timedelta(days=1)))
    assert "Chicago passes the treasury to Gaziantep" in heard
    for chat, platform in (("chicago", "console"), ("gaziantep", "alpha"), ("lagos", "beta")):
        assert "passes the treasury to Gaziantep" in town.last(chat, platform)
        assert "Ledger entry #2 · head hash" in town.last(chat, platform)
    with unit_of_work(town.app.services.engine) as s:
        stewards = s.exec(select(Person.display_name, Circle.name)
                          .join(Membership, Membership.person_id == Person.id)
                          .join(Circle, Circle.id == Membership.circle_id)
                          .where(Membership.is_steward == True)).all()  # noqa: E712
        assert stewards == [("Gaziantep_coord", "Gaziantep")]
        kinds = [e.kind for e in load_chain(s, 1)]
    assert kinds == ["steward_handover", "steward_handover"]
    out = await say(town, "chicago", "chicago_coord", "/treasury confirm 1")
    assert "Only the treasury's stewards" in out
    heard = "\n".join(await town.wait(timedelta(days=92)))
    assert "Gaziantep passes the treasury to Lagos" in heard

"""The four critical steps the crash tests kill Tessera in the middle of.

Each scenario builds its state through the real dispatcher (people typing commands in
chats), names the instant of its critical step, runs that step, and describes the domain
state a crash must not corrupt. `tests.faults.driver` runs them in child processes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

from sqlmodel import select

from core.clock import utc
from core.storage.models import Timer

# Three circles on three platforms, in two languages (translation is switched off in the
# driver, so a handoff still has translation work to decide on, without loading models).
CIRCLES = (
    ("chicago", "Chicago", "US", "America/Chicago", "en"),
    ("berlin", "Berlin", "DE", "Europe/Berlin", "de"),
    ("lagos", "Lagos", "NG", "Africa/Lagos", "en"),
)
PLATFORM = {"chicago": "console", "berlin": "alpha", "lagos": "beta"}
MEMBERS = ("ana", "ben", "eli")


async def say(town, chat: str, user: str, text: str, **kw) -> str:
    """`user` types `text` in `chat` (on that circle's platform); everything said, one text."""
    return "\n".join(await town.say(chat, user, text, platform=PLATFORM[chat], **kw))


async def _circles(town, members=MEMBERS) -> None:
    await town.network(*CIRCLES, platform_of=PLATFORM)
    for chat, *_ in CIRCLES:
        for m in members:
            await say(town, chat, f"{chat}_{m}", "/whoami")


def _due(town, kind: str) -> datetime:
    from core.storage import unit_of_work
    with unit_of_work(town.app.services.engine) as s:
        due = s.exec(select(Timer.due_at).where(Timer.kind == kind, Timer.state == "pending")
                     .order_by(Timer.due_at)).first()
    assert due is not None, f"no pending {kind} timer after set-up"
    return utc(due)


async def _run_due(town) -> None:
    await town.app.settle()


# -- relay handoff ---------------------------------------------------------------------------

async def relay_setup(town) -> datetime:
    await _circles(town, members=("maria",))
    out = await say(town, "chicago", "chicago_coord", "/relay start Rent strikes chicago,berlin,lagos 24h")
    assert "Relay #1" in out, out
    await say(town, "berlin", "berlin_coord", "/relay accept 1")
    await say(town, "lagos", "lagos_coord", "/relay accept 1")
    await town.wait(timedelta(hours=25))  # invitations close, Chicago's leg opens
    for i in range(3):
        out = await say(town, "chicago", "chicago_maria", f"/relay report Picket day {i}: twenty couriers joined.")
        assert "recorded" in out, out
    return _due(town, "relay.deadline")


def relay_state(session) -> dict:
    from core.storage.relay import Relay, RelayLeg
    legs = session.exec(select(RelayLeg).order_by(RelayLeg.position)).all()
    relay = session.exec(select(Relay)).one()
    return {"relay": relay.state, "legs": [(g.position, g.state) for g in legs]}


# -- ballot close ----------------------------------------------------------------------------

async def ballot_setup(town) -> datetime:
    await _circles(town)
    await town.wait(timedelta(days=15))  # members old enough to vote
    await say(town, "chicago", "chicago_coord", "/treasury criteria")
    out = await say(town, "lagos", "lagos_coord", "/treasury draw 100 EUR disaster critical 5 Flood relief")
    assert "Draw #1 requested" in out, out
    out = await say(town, "berlin", "berlin_coord", "/treasury draw 40 EUR strike high 3 Strike fund")
    assert "#2" in out, out
    for chat, *_ in CIRCLES:
        for m in MEMBERS:
            await say(town, chat, f"{chat}_{m}", "/treasury vote 1 yes")
            await say(town, chat, f"{chat}_{m}", "/treasury vote 2 no")
    return max(_due(town, "treasury.ballot_close"), _last_due(town, "treasury.ballot_close"))


def _last_due(town, kind: str) -> datetime:
    from core.storage import unit_of_work
    with unit_of_work(town.app.services.engine) as s:
        dues = s.exec(select(Timer.due_at).where(Timer.kind == kind, Timer.state == "pending")).all()
    return max(utc(d) for d in dues)


def treasury_state(session) -> dict:
    from core.storage.treasury import TreasuryBallot, TreasuryDraw, TreasuryPayout
    draws = session.exec(select(TreasuryDraw).order_by(TreasuryDraw.id)).all()
    ballots = session.exec(select(TreasuryBallot).order_by(TreasuryBallot.draw_id)).all()
    payouts = session.exec(select(TreasuryPayout)).all()
    return {"draws": [(d.id, d.state, d.payment_ref) for d in draws],
            "ballots": [(b.draw_id, b.state) for b in ballots],
            "payouts": sorted((p.draw_id, p.person_id) for p in payouts)}


# -- disbursement ----------------------------------------------------------------------------

async def disburse_setup(town) -> datetime:
    await _circles(town)
    await town.wait(timedelta(days=15))
    await say(town, "chicago", "chicago_coord", "/treasury criteria")  # Chicago steward first
    await say(town, "berlin", "berlin_ana", "/treasury contribute 500 EUR")
    out = await say(town, "chicago", "chicago_coord", "/treasury confirm 1")
    assert "EUR 500.00" in out, out
    out = await say(town, "lagos", "lagos_coord", "/treasury draw 300 EUR strike high 4 Dock strike")
    assert "Draw #1 requested" in out, out
    for chat, *_ in CIRCLES:
        await say(town, chat, f"{chat}_ana", "/treasury vote 1 yes")
    await town.wait(timedelta(hours=49))
    return town.clock.now() + timedelta(minutes=1)


async def disburse_step(town) -> None:
    await say(town, "chicago", "chicago_coord", "/treasury disburse 1 IBAN-TRX-4471")


# -- sync-day kickoff ------------------------------------------------------------------------

async def syncday_setup(town) -> datetime:
    await _circles(town, members=())
    town.clock.set(datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc))
    out = await say(town, "berlin", "berlin_coord", "/syncday declare Acme 2026-03-24 16:00 same_instant tz=UTC")
    # Berlin speaks German: the declaration is confirmed from the German catalog.
    from core import i18n
    assert i18n.t("de", "syncday.declared", id=1, target="Acme", date="", mode="").split("**")[0] in out, out
    await say(town, "berlin", "berlin_coord", "/syncday message 1 Gemeinsam legen wir die Arbeit nieder.")
    for chat in ("chicago", "lagos"):
        out = await say(town, chat, f"{chat}_coord", "/syncday join 1")
    await say(town, "lagos", "lagos_coord", "/syncday adapt 1 We meet at the port gate.")
    # Walk up to just before the kickoff so only the kickoffs remain due at the step.
    kickoff = _due(town, "syncday.kickoff")
    while True:
        nxt = _due_any(town)
        if nxt is None or nxt >= kickoff:
            break
        town.clock.set(nxt)
        await town.app.settle()
    return kickoff


def _due_any(town) -> datetime | None:
    from core.storage import unit_of_work
    with unit_of_work(town.app.services.engine) as s:
        due = s.exec(select(Timer.due_at).where(Timer.state == "pending").order_by(Timer.due_at)).first()
    return utc(due) if due else None


def syncday_state(session) -> dict:
    from core.storage.syncday import SyncDayCircle
    rows = session.exec(select(SyncDayCircle).order_by(SyncDayCircle.circle_id)).all()
    # On time or late (within grace) are both one kickoff; "missed" would be a different outcome.
    return {"kickoffs": [(r.circle_id, "kicked" if r.kickoff_state in ("sent", "late")
                          else r.kickoff_state) for r in rows]}


@dataclass(frozen=True)
class Scenario:
    """A critical step: how to reach it, run it, retry it after a crash and read its state."""

    name: str
    setup: Callable[..., Awaitable[datetime]]
    step: Callable[..., Awaitable[None]]
    state: Callable[..., dict]
    # What a person does after a crash left them without an answer (a steward types the
    # command again); timers need nothing: the restarted scheduler finds them due.
    retry: Callable[..., Awaitable[None]] | None = None


SCENARIOS = {
    "relay_handoff": Scenario("relay_handoff", relay_setup, _run_due, relay_state),
    "ballot_close": Scenario("ballot_close", ballot_setup, _run_due, treasury_state),
    "disbursement": Scenario("disbursement", disburse_setup, disburse_step, treasury_state,
                             retry=disburse_step),
    "syncday_kickoff": Scenario("syncday_kickoff", syncday_setup, _run_due, syncday_state),
}

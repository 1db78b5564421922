"""The daily retention sweep: what expired goes, nothing else, and never another network's.

Day 0: Lagos (network 1) reports a voice note (the same bytes Berlin will send later) and a
leaflet in relay #1, and starts a long relay #2 that is still running at the end. Network 2
keeps message copies and its audit trail for good. Day 1: Lagos checks in on a sync day with
a photo. Day 5: Berlin (network 2) reports the shared voice note and one of its own.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import timedelta

from sqlmodel import select

from core import retention
from core.storage import unit_of_work
from core.storage.models import AuditEntry, Circle, ExpiredMedia, OutboxMessage, Timer
from core.storage.relay import Relay, RelayPart
from core.storage.syncday import SyncDayCircle, SyncDayPhoto
from core.storage.treasury import TreasuryLedgerRow
from core.work import Work
from tests.privacy.conftest import (
    SHARED, complete_relay, document, network_id, photo, start_town, voice,
)
from tests.relay.media import ogg_opus


def _session(town):
    return unit_of_work(town.app.services.engine)


def _parts(town, relay_id: int) -> list[RelayPart]:
    with _session(town) as s:
        return list(s.exec(select(RelayPart).where(RelayPart.relay_id == relay_id)
                           .order_by(RelayPart.id)).all())


def _outbox(town, network: int) -> list[OutboxMessage]:
    with _session(town) as s:
        circles = select(Circle.id).where(Circle.network_id == network)
        return list(s.exec(select(OutboxMessage).where(OutboxMessage.circle_id.in_(circles))).all())


def _audit(town, network: int) -> list[AuditEntry]:
    with _session(town) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.network_id == network)).all())


async def test_the_sweep_removes_exactly_what_expired(two_networks):
    town = two_networks
    media = town.app.services.media
    n1, n2 = network_id(town, "lagos"), network_id(town, "berlin")
    start = town.clock.now()
    retention.ensure_planned(town.app.services)

    # -- day 0 ----------------------------------------------------------------------------
    shared_note = voice(town, SHARED)
    leaflet = document(town, b"%PDF-1.4 only in Lagos")
    await complete_relay(town, "lagos", "chicago", "Docks",
                         ("lagos", "amaka", "We held the docks", [shared_note]),
                         ("lagos", "amaka", "", [leaflet]),
                         ("chicago", "maria", "Solidarity from Chicago", []))
    await town.say("lagos", "lagos_coord", "/relay start Long_haul lagos,chicago 30d")
    await town.say("chicago", "chicago_coord", "/relay accept")
    running_note = voice(town, ogg_opus(3.0, b"still running"))
    await town.say("lagos", "amaka", "/relay report Day one", attachments=[running_note])
    await town.say("lagos", "amaka", "/treasury contribute 25 USD for the strike fund")
    out = await town.say("berlin", "berlin_coord", "/retention set messages keep")
    assert "from now on" in out[-1], out
    await town.say("berlin", "berlin_coord", "/retention set audit keep")
    with _session(town) as s:
        lagos = s.exec(select(Circle).where(Circle.chat_id == "lagos")).one()
        waiting = OutboxMessage(platform="nowhere", chat_id="x", circle_id=lagos.id,
                                payload={"text": "still waiting"}, created_at=start,
                                next_attempt_at=start)
        s.add(waiting)
    await town.say("lagos", "lagos_coord", "/syncday declare Port 2026-03-03 10:00 same_local_hour")

    # -- day 1: Lagos checks in with a photo -------------------------------------------------
    await town.app.advance(town.clock, timedelta(days=1, hours=2))
    gate = photo(town, b"\xff\xd8 a photo of gate 3")
    out = await town.say("lagos", "amaka", "/syncday checkin 1 turnout=40 outcome=We closed gate 3",
                         attachments=[gate])
    assert "Lagos" in out[-1], out

    # -- day 5: Berlin reports the same voice note and one of its own -------------------------
    await town.app.advance(town.clock, start + timedelta(days=5) - town.clock.now())
    berlin_own = voice(town, ogg_opus(4.0, b"berlin's own"))
    await complete_relay(town, "berlin", "paris", "Rails",
                         ("berlin", "jonas", "Same note", [voice(town, SHARED)]),
                         ("berlin", "jonas", "Our own", [berlin_own]),
                         ("paris", "camille", "Bien reçu", []))
    n2_messages = len(_outbox(town, n2))
    n2_audit = len(_audit(town, n2))

    # -- day 9: nothing has reached its 10 days yet -----------------------------------------
    await town.app.advance(town.clock, start + timedelta(days=9) - town.clock.now())
    assert all(p.media_key for p in _parts(town, 1) if p.kind != "text")
    assert media.exists(leaflet.path)

    # -- day 11 ----------------------------------------------------------------------------
    await town.app.advance(town.clock, start + timedelta(days=11) - town.clock.now())
    docks = _parts(town, 1)
    assert [(p.kind, p.text, p.media_key) for p in docks] == [
        ("voice", "We held the docks", None), ("file", "", None),
        ("text", "Solidarity from Chicago", None)]
    with _session(town) as s:
        expired = s.exec(select(ExpiredMedia).order_by(ExpiredMedia.id)).all()
        assert {(e.network_id, e.holder, e.kind) for e in expired} == {
            (n1, "relay_part", "voice"), (n1, "relay_part", "file")}
        # The photo came on day 1, two hours after this sweep's limit: it stays one more day.
        assert [p.media_key for p in s.exec(select(SyncDayPhoto)).all()] == [gate.path]
        assert s.exec(select(Relay.state).where(Relay.id == 2)).one() == "running"
    assert not media.exists(leaflet.path) and media.exists(gate.path)
    assert media.exists(shared_note.path)  # Berlin's part still points at it
    assert media.exists(running_note.path)
    assert [p.media_key for p in _parts(town, 2)] == [running_note.path]
    assert all(p.media_key for p in _parts(town, 3) if p.kind == "voice")

    # Message copies: Lagos's from before day 6 went, except the waiting row and relay #2's
    # prompts; Berlin keeps its own.
    left = _outbox(town, n1)
    assert any(r.payload.get("text") == "still waiting" for r in left)
    assert all(r.idempotency_key and r.idempotency_key.startswith("relay:2:") or r.state == "pending"
               or r.created_at >= start + timedelta(days=6) for r in left), \
        [(r.idempotency_key, r.created_at) for r in left]
    assert any(r.idempotency_key and r.idempotency_key.startswith("relay:2:") for r in left)
    assert len(_outbox(town, n2)) >= n2_messages
    assert all(e.at >= start + timedelta(days=1) for e in _audit(town, n1))
    assert len(_audit(town, n2)) >= n2_audit

    out = await town.say("lagos", "lagos_coord", "/treasury verify")
    assert "✅" in out[-1], out
    # Amaka's own data says which of her recordings expired, and when.
    await town.say("lagos", "amaka", "/mydata")
    row = [r for r in town.log if r[1] == "amaka" and r[2] and r[4].attachments][-1]
    blob = media.get(row[4].attachments[0].path)
    mine = json.loads(zipfile.ZipFile(io.BytesIO(blob)).read("data.json"))["expired_media"]
    assert [(e["holder"], e["kind"]) for e in mine] == [("relay_part", "voice"), ("relay_part", "file")]
    assert all(e["expired_at"].startswith("2026-03-") for e in mine)
    with _session(town) as s:
        assert s.exec(select(TreasuryLedgerRow)).all()

    # -- day 16: Berlin's parts reach their 10 days; the shared file goes now ----------------
    await town.app.advance(town.clock, start + timedelta(days=16) - town.clock.now())
    assert [p.media_key for p in _parts(town, 3) if p.kind == "voice"] == [None, None]
    assert not media.exists(shared_note.path) and not media.exists(berlin_own.path)
    assert not media.exists(gate.path)
    with _session(town) as s:
        assert {(e.holder, e.kind) for e in s.exec(select(ExpiredMedia).where(
            ExpiredMedia.network_id == n2)).all()} == {("relay_part", "voice")}
        assert [p.media_key for p in s.exec(select(SyncDayPhoto)).all()] == [""]
        checkin = s.exec(select(SyncDayCircle).where(SyncDayCircle.turnout == 40)).one()
        assert checkin.outcome == "We closed gate 3"  # what was said stays
        planned = s.exec(select(Timer).where(Timer.kind == retention.SWEEP_TIMER,
                                             Timer.state == "pending")).all()
        assert len(planned) == 1 and planned[0].due_at.hour == 3  # tomorrow's sweep


async def test_a_backlog_is_swept_in_batches(tmp_path, database_url, clock):
    town = await start_town(tmp_path, database_url, clock, batch_size=2)
    try:
        await town.network(("lagos", "Lagos", "NG", "Africa/Lagos", "en"))
        for n in range(5):
            await town.say("lagos", "amaka", "/circle info")
        nid = network_id(town, "lagos")
        before = len(_outbox(town, nid))
        assert before >= 5
        town.clock.advance(timedelta(days=6))
        with _session(town) as s:
            work = Work(town.app.services, s, town.clock.now())
            report = await retention.sweep(work)
            retention.plan_next(work, report)
        assert report.per_network[nid]["messages"] == 2 and report.more
        assert len(_outbox(town, nid)) == before - 2
        # The follow-ups run a minute apart until the backlog is gone, then tomorrow's.
        await town.app.advance(town.clock, timedelta(minutes=30))
        assert _outbox(town, nid) == []
        with _session(town) as s:
            kinds = s.exec(select(Timer.key).where(Timer.kind == retention.SWEEP_TIMER,
                                                   Timer.state == "pending")).all()
        assert len(kinds) == 1 and not kinds[0].startswith("retention:sweep:more")
    finally:
        await town.stop()


async def test_files_nothing_points_at_go_after_their_grace(tmp_path, sqlite_url, clock):
    town = await start_town(tmp_path, sqlite_url, clock, unclaimed_media_hours=48)
    try:
        await town.network(("lagos", "Lagos", "NG", "Africa/Lagos", "en"))
        media = town.app.services.media
        await town.say("lagos", "lagos_coord", "/circle export")
        exported = [r for r in town.log if r[4].attachments][-1][4].attachments[0].path  # delivered
        stray = media.put(b"a photo posted in the chat that no feature took", "image/jpeg")
        fresh = media.put(b"a photo posted an hour ago", "image/jpeg")
        waiting = media.put(b"a file in a message not yet delivered", "application/pdf")
        again = media.put(b"a voice note sent a second time", "audio/ogg")
        with _session(town) as s:
            s.add(OutboxMessage(platform="nowhere", chat_id="x", payload={
                "text": "", "attachments": [{"kind": "file", "path": waiting}]},
                created_at=town.clock.now(), next_attempt_at=town.clock.now()))
        now = town.clock.now().timestamp()
        for key, age in ((exported, 72), (stray, 72), (fresh, 1), (waiting, 72), (again, 72)):
            os.utime(media.path(key), (now - age * 3600, now - age * 3600))
        # The same bytes arrive again (an adapter downloads them before any row points at
        # them): storing them counts as a fresh arrival.
        assert media.put(b"a voice note sent a second time", "audio/ogg") == again
        with _session(town) as s:
            report = await retention.sweep(Work(town.app.services, s, town.clock.now()))
        assert report.unclaimed == 2
        assert not media.exists(stray) and not media.exists(exported)
        assert media.exists(fresh) and media.exists(waiting) and media.exists(again)
    finally:
        await town.stop()


async def test_a_failing_sweep_waits_for_tomorrow(tmp_path, sqlite_url, clock, monkeypatch, caplog):
    town = await start_town(tmp_path, sqlite_url, clock)
    try:
        retention.ensure_planned(town.app.services)

        async def broken(work, config=None):
            raise RuntimeError("disk on fire")
        monkeypatch.setattr(retention, "sweep", broken)
        await town.app.advance(town.clock, timedelta(days=1))
        with _session(town) as s:
            timers = s.exec(select(Timer).where(Timer.kind == retention.SWEEP_TIMER)
                            .order_by(Timer.id)).all()
        assert [t.state for t in timers] == ["done", "pending"]
        assert timers[1].due_at - timers[0].due_at == timedelta(days=1)
        assert "retention sweep failed" in caplog.text
    finally:
        await town.stop()

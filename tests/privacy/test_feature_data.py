"""The calendar, sync days and the treasury in /mydata, /forgetme, /circle export and /link.

Amaka, a coordinator in Lagos, adds an event and answers it, raises a dilemma in a scenario
lab, writes Lagos's words for a sync day and checks in with a photo, records a contribution,
requests a draw and votes on it. Then she asks for her data, and then to be forgotten.
"""
from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import select

from core.storage import unit_of_work
from core.storage.agenda import CalendarEvent, EventRsvp, LabItem, LabSession
from core.storage.models import Person
from core.storage.syncday import SyncDayCircle, SyncDayPhoto
from core.storage.treasury import TreasuryContribution, TreasuryDraw, TreasuryVote
from tests.privacy.conftest import CHICAGO, LAGOS, photo, start_town


@pytest.fixture
async def town(tmp_path, database_url, clock):
    t = await start_town(tmp_path, database_url, clock)
    await t.network(LAGOS, CHICAGO)
    await t.say("lagos", "amaka", "/whoami")
    await t.say("lagos", "lagos_coord", "/coordinator add Amaka")
    await t.say("lagos", "lagos_coord", "/treasury settings min_membership_days 0")
    yield t
    await t.stop()


async def _amaka_lives(town) -> str:
    """Everything Amaka does; returns the media key of her photo."""
    say = town.say
    await say("lagos", "amaka", "/event add Picnic at the docks 2026-03-10 12:00 place=Union Hall")
    await say("lagos", "amaka", "/event rsvp 1 going")
    await say("lagos", "lagos_coord", "/lab start Futures")
    await say("lagos", "amaka", "/lab dilemma Amaka asks: automate the port?")
    await say("lagos", "lagos_coord", "/lab gains 1 shareholders")
    await say("lagos", "amaka", "/lab pays 1 the dockers, says Amaka")
    await say("lagos", "lagos_coord", "/lab end")
    await say("lagos", "lagos_coord", "/syncday declare Port 2026-03-03 10:00 same_local_hour")
    await say("lagos", "amaka", "/syncday adapt 1 Meet at gate 3 with Amaka")
    await say("lagos", "amaka", "/treasury contribute 25 USD sent from Amaka's own account")
    await say("lagos", "amaka", "/treasury draw 500 USD strike high 4 Bail for the dockers")
    out = await say("lagos", "amaka", "/treasury vote 1 yes")
    assert "yes" in out[-1].lower(), out
    await say("lagos", "lagos_coord", "/steward add Amaka")
    await town.app.advance(town.clock, timedelta(days=1, hours=2))
    gate = photo(town, b"\xff\xd8 Amaka at gate 3")
    out = await say("lagos", "amaka", "/syncday checkin 1 turnout=40 outcome=Amaka led the march",
                    attachments=[gate])
    assert "check-in" in out[-1], out
    return gate.path


def _zip_of_last_attachment(town, user: str) -> zipfile.ZipFile:
    row = [r for r in town.log if r[1] == user and r[2] and r[4].attachments][-1]
    return zipfile.ZipFile(io.BytesIO(town.app.services.media.get(row[4].attachments[0].path)))


async def test_mydata_has_what_she_did_in_the_calendar_sync_days_and_treasury(town):
    gate = await _amaka_lives(town)
    out = await town.say("lagos", "amaka", "/mydata")
    assert "private message" in out[-1]
    z = _zip_of_last_attachment(town, "amaka")
    data = json.loads(z.read("data.json"))
    cal = data["calendar"]
    assert [e["title"] for e in cal["events_created"]] == ["Picnic at the docks"]
    assert cal["events_created"][0]["place"] == "Union Hall"
    assert [(r["event"], r["answer"]) for r in cal["rsvps"]] == [("Picnic at the docks", "going")]
    assert [(i["kind"], i["text"]) for i in cal["lab_entries"]] == [
        ("dilemma", "Amaka asks: automate the port?"), ("pays", "the dockers, says Amaka")]
    sd = data["syncday"]
    assert [a["text"] for a in sd["adaptations"]] == ["Meet at gate 3 with Amaka"]
    assert [(c["turnout"], c["outcome"]) for c in sd["checkins"]] == [(40, "Amaka led the march")]
    assert [p["media"] for p in sd["photos"]] == [gate]
    assert f"media/{gate.replace('/', '_')}" in z.namelist()  # the photo itself is in the zip
    tr = data["treasury"]
    assert [(v["draw_id"], v["choice"], v["account"]) for v in tr["votes"]] == [(1, "yes", "console:amaka")]
    assert [d["purpose"] for d in tr["draws_requested"]] == ["Bail for the dockers"]
    assert [(c["amount_minor"], c["note"]) for c in tr["contributions"]] == [
        (2500, "sent from Amaka's own account")]
    assert tr["steward_in_circles"] == [data["memberships"][0]["circle_id"]]


async def test_forgetting_removes_her_words_and_keeps_every_count(town):
    gate = await _amaka_lives(town)
    media = town.app.services.media
    with unit_of_work(town.app.services.engine) as s:
        old_csv = s.exec(select(LabSession)).one().csv_key
        assert "says Amaka" in media.get(old_csv).decode()
    await town.say("lagos", "amaka", "/mydata")
    row = [r for r in town.log if r[1] == "amaka" and r[2] and r[4].attachments][-1]
    archive = row[4].attachments[0].path
    out = await town.say("lagos", "amaka", "/forgetme")
    code = out[-1].split("/forgetme ")[1].split()[0]
    await town.say("lagos", "amaka", f"/forgetme {code}")
    assert not media.exists(archive)  # the copy of everything about her, sent privately
    with unit_of_work(town.app.services.engine) as s:
        stub = s.exec(select(Person).where(Person.erased_at != None)).one()  # noqa: E711
        # Scenario lab: her entries are gone from the items and from the map kept afterwards.
        items = s.exec(select(LabItem).order_by(LabItem.id)).all()
        assert [(i.kind, i.text) for i in items] == [("dilemma", ""), ("gains", "shareholders")]
        lab = s.exec(select(LabSession)).one()
        assert "Amaka" not in lab.table_text and "shareholders" in lab.table_text
        assert "Amaka" not in media.get(lab.csv_key).decode()
        assert not media.exists(old_csv)
        # Sync day: her check-in note and photo go; the turnout stays for the summary.
        row = s.exec(select(SyncDayCircle)).one()
        assert (row.turnout, row.outcome) == (40, "")
        assert [p.media_key for p in s.exec(select(SyncDayPhoto)).all()] == [""]
        assert not media.exists(gate)
        # Treasury: her vote still counts, without the account it came from; her note goes.
        vote = s.exec(select(TreasuryVote)).one()
        assert (vote.person_id, vote.choice, vote.account) == (stub.id, "yes", "")
        assert s.exec(select(TreasuryContribution)).one().note == ""
        # What she wrote on behalf of her circle stays, nameless: the draw (its purpose is
        # in the ledger too), the event, the circle's words for its kickoff.
        assert s.exec(select(TreasuryDraw)).one().purpose == "Bail for the dockers"
        event = s.exec(select(CalendarEvent)).one()
        assert (event.title, event.created_by) == ("Picnic at the docks", stub.id)
        assert row.adaptation == "Meet at gate 3 with Amaka"
        assert s.exec(select(EventRsvp)).one().person_id == stub.id
    out = await town.say("lagos", "lagos_coord", "/treasury verify")
    assert "✅" in out[-1], out
    out = await town.say("lagos", "lagos_coord", "/treasury ballot 1")
    assert "Lagos" in "\n".join(out) and "1" in "\n".join(out)


async def test_a_circle_export_carries_its_calendar_sync_days_and_treasury(town):
    await _amaka_lives(town)
    await town.say("lagos", "lagos_coord", "/circle export")
    row = [r for r in town.log if r[1] == "lagos" and r[4].attachments][-1]
    data = json.loads(town.app.services.media.get(row[4].attachments[0].path))
    assert [e["title"] for e in data["calendar"]["events"]] == ["Picnic at the docks"]
    assert data["calendar"]["labs"][0]["map"].count("shareholders") == 1
    assert data["syncday"]["taking_part"][0]["turnout"] == 40
    assert [d["purpose"] for d in data["treasury"]["draws"]] == ["Bail for the dockers"]
    kinds = [e["kind"] for e in data["treasury"]["ledger"]["entries"]]
    assert "contribution" in kinds and "draw_requested" in kinds
    assert data["treasury"]["ledger"]["head_seq"] >= len(kinds)
    # Chicago's export holds none of Lagos's.
    await town.say("chicago", "chicago_coord", "/circle export")
    row = [r for r in town.log if r[1] == "chicago" and r[4].attachments][-1]
    other = json.loads(town.app.services.media.get(row[4].attachments[0].path))
    assert other["calendar"]["events"] == [] and other["treasury"]["draws"] == []


async def test_linked_accounts_keep_one_vote_and_one_answer(tmp_path, database_url, clock):
    town = await start_town(tmp_path, database_url, clock)
    try:
        await town.network(CHICAGO, LAGOS, platform_of={"lagos": "beta"})
        await town.say("lagos", "lagos_coord", "/treasury settings min_membership_days 0",
                       platform="beta")
        await town.say("chicago", "chicago_coord",
                       "/event add Assembly 2026-03-10 12:00 scope=network")
        await town.say("chicago", "maria", "/whoami")
        await town.say("lagos", "maria_on_beta", "/whoami", platform="beta")
        await town.say("lagos", "lagos_coord", "/treasury draw 500 USD strike high 4 Bail",
                       platform="beta")
        await town.say("chicago", "maria", "/event rsvp 1 maybe")
        await town.say("chicago", "maria", "/treasury vote 1 no")
        town.clock.advance(timedelta(minutes=5))
        await town.say("lagos", "maria_on_beta", "/event rsvp 1 going", platform="beta")
        await town.say("lagos", "maria_on_beta", "/treasury vote 1 yes", platform="beta")
        await town.say("lagos", "maria_on_beta", "/event add Linked 2026-03-11 12:00", platform="beta")
        await town.say("chicago", "maria", "/link")
        code = town.direct_to("maria")[-1].split("link code is ")[1].split(".")[0].strip()
        out = await town.say("lagos", "maria_on_beta", f"/link {code}", platform="beta")
        assert "now one person" in out[-1]
        with unit_of_work(town.app.services.engine) as s:
            maria = s.exec(select(Person).where(Person.display_name == "Maria")).one()
            votes = s.exec(select(TreasuryVote)).all()
            assert [(v.person_id, v.choice) for v in votes] == [(maria.id, "yes")]  # the later
            answers = s.exec(select(EventRsvp)).all()
            assert [(a.person_id, a.answer) for a in answers] == [(maria.id, "going")]
            assert s.exec(select(CalendarEvent.created_by).where(
                CalendarEvent.title == "Linked")).one() == maria.id
    finally:
        await town.stop()

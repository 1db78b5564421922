"""People control their data: export everything, erase on request, circles take their data."""
from __future__ import annotations

import io
import json
import zipfile

from sqlmodel import select

from core.storage import unit_of_work
from core.storage.models import Account, OutboxMessage, Person

LAGOS = ("lagos", "Lagos", "NG", "Africa/Lagos", "en")


def _attachment(town, user):
    rows = [r for r in town.log if r[1] == user and r[2] and r[4].attachments]
    att = rows[-1][4].attachments[0]
    return town.app.services.media.get(att.path)


async def test_mydata_sends_a_zip_privately(town):
    await town.network(LAGOS)
    await town.say("lagos", "amaka", "/lang es")
    out = await town.say("lagos", "amaka", "/mydata")
    # Amaka chose Spanish: the reply comes from the Spanish catalog.
    from core import i18n
    assert i18n.t("es", "privacy.sent_privately") in out
    blob = _attachment(town, "amaka")
    data = json.loads(zipfile.ZipFile(io.BytesIO(blob)).read("data.json"))
    assert data["person"]["display_name"] == "Amaka" and data["person"]["language"] == "es"
    assert data["accounts"] == [{"platform": "console", "account_id": "amaka", "display_name": "Amaka"}]
    assert len(data["memberships"]) == 1


async def test_forgetme_erases_names_and_accounts_after_confirmation(town):
    await town.network(LAGOS)
    await town.say("lagos", "amaka", "/whoami")
    out = await town.say("lagos", "amaka", "/forgetme")
    code = out[-1].split("/forgetme ")[1].split()[0]
    out = await town.say("lagos", "amaka", "/forgetme FORGET-000000")
    assert "wrong or has expired" in out[-1]
    out = await town.say("lagos", "amaka", f"/forgetme {code}")
    assert "erased" in out[-1]
    with unit_of_work(town.app.services.engine) as s:
        assert s.exec(select(Account).where(Account.platform_user_id == "amaka")).all() == []
        erased = s.exec(select(Person).where(Person.erased_at != None)).one()  # noqa: E711
        assert erased.display_name.startswith("erased member #")
        texts = " ".join(r.payload.get("text", "") for r in s.exec(select(OutboxMessage)).all())
        assert "Amaka" not in texts


async def test_circle_export_has_members_and_settings(town):
    await town.network(LAGOS)
    await town.say("lagos", "amaka", "hello")
    out = await town.say("lagos", "lagos_coord", "/circle export")
    assert "All data of the circle" in out[-1]
    row = [r for r in town.log if r[1] == "lagos" and r[4].attachments][-1]
    data = json.loads(town.app.services.media.get(row[4].attachments[0].path))
    assert data["circle"]["timezone"] == "Africa/Lagos"
    assert {m["display_name"] for m in data["members"]} >= {"Lagos_coord"}


async def test_erasure_keeps_the_ledger_verifiable_and_the_tally(town):
    await town.network(LAGOS, ("chicago", "Chicago", "US", "America/Chicago", "en"))
    await town.say("lagos", "amaka", "/treasury contribute 25 USD")
    await town.say("lagos", "amaka", "/archive add testimony Amaka's own words about +[Acme] visibility=network")
    await town.say("lagos", "lagos_coord", "/relay start Docks Lagos,Chicago 24h")
    await town.say("chicago", "chicago_coord", "/relay accept")
    await town.say("lagos", "amaka", "/relay report Amaka reports from the docks")
    out = await town.say("lagos", "amaka", "/forgetme")
    code = out[-1].split("/forgetme ")[1].split()[0]
    await town.say("lagos", "amaka", f"/forgetme {code}")
    out = await town.say("lagos", "lagos_coord", "/treasury verify")
    from core import i18n
    assert any("✅" in o for o in out), out
    with unit_of_work(town.app.services.engine) as s:
        from core.storage.treasury import TreasuryLedgerRow
        entries = s.exec(select(TreasuryLedgerRow)).all()
        dumped = json.dumps([e.data for e in entries], default=str)
        assert "Amaka" not in dumped and "amaka" not in dumped
        assert any(e.kind == "contribution" for e in entries)  # the money stays on the books
        from core.storage.archive import ArchiveEntry
        texts = " ".join(str(e.text or "") for e in s.exec(select(ArchiveEntry)).all())
        assert "Amaka's own words" not in texts
        from core.storage.relay import RelayPart
        parts = s.exec(select(RelayPart)).all()
        assert len(parts) == 1 and parts[0].text == ""  # the leg keeps its shape, not her words
    out = await town.say("lagos", "amaka_again", "/archive search Acme")
    assert "Amaka's own words" not in " ".join(out)


async def test_erasure_removes_private_chats_whatever_the_platform_calls_them(town):
    from core import outbox
    from core.messages import Outgoing
    from core.storage.models import AdapterState
    await town.network(LAGOS)
    await town.say("lagos", "amaka", "/whoami", direct=True)  # her private chat: "dm:amaka"
    with unit_of_work(town.app.services.engine) as s:
        # A door that names private rooms on its own (Matrix) remembers hers, and a message
        # from before messages were marked with their person waits there.
        s.add(AdapterState(key="console:dm:amaka", value={"room": "!a1b2:example.org"}))
        outbox.enqueue(s, "console", "!a1b2:example.org", Outgoing(text="About your pledge"),
                       now=town.clock.now())
        in_group = s.exec(select(OutboxMessage.id).where(OutboxMessage.chat_id == "lagos")).all()
    out = await town.say("lagos", "amaka", "/forgetme")
    code = out[-1].split("/forgetme ")[1].split()[0]
    await town.say("lagos", "amaka", f"/forgetme {code}")
    with unit_of_work(town.app.services.engine) as s:
        chats = {r.chat_id for r in s.exec(select(OutboxMessage)).all()}
        assert "dm:amaka" not in chats and "!a1b2:example.org" not in chats
        assert s.get(AdapterState, "console:dm:amaka") is None
        kept = s.exec(select(OutboxMessage.id).where(OutboxMessage.chat_id == "lagos")).all()
        assert set(in_group) <= set(kept)  # what the circle was told stays (without her name)

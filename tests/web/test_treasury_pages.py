"""The treasury in the open: balances, every ledger entry with its hash, the chain checked
by the server (and by the browser, in the Chromium test), and who gives and who receives."""
from __future__ import annotations

import json

from sqlalchemy import update

from core.ledger import verify_export
from core.storage import unit_of_work
from core.storage.treasury import TreasuryLedgerRow
from tests.web.conftest import publish_cmd, url_of


async def _treasury(town, chat="chicago") -> str:
    out = await publish_cmd(town, chat, "/publish treasury")
    return url_of(out, "treasury balances")


async def test_balances_and_the_ledger_with_every_hash(lived, web):
    base = await _treasury(lived)
    page = await web.get(base)
    assert page.status_code == 200 and "EUR" in page.text and "75.00" in page.text
    ledger = await web.get(base + "ledger")
    assert ledger.status_code == 200
    export = await web.get(base + "ledger.json")
    assert export.headers["content-type"] == "application/json"
    doc = json.loads(export.text)
    assert doc["entries"] and verify_export(export.text).ok
    for entry in doc["entries"]:
        assert entry["hash"] in ledger.text and f'id="entry-{entry["seq"]}"' in ledger.text
    assert doc["entries"][-1]["hash"] in page.text  # the head, as announced in the chats
    csv = await web.get(base + "ledger.csv")
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert verify_export(csv.text).ok


async def test_the_server_verifies_the_chain_and_names_a_tampered_entry(lived, web):
    base = await _treasury(lived)
    ok = await web.get(base + "verify")
    assert 'id="server-result" data-ok="true"' in ok.text
    assert "/static/verify.js" in ok.text  # the browser check is offered too
    head = json.loads((await web.get(base + "ledger.json")).text)["entries"][-1]["hash"]
    found = await web.get(base + "verify", params={"head": head[:16]})
    assert f"The hash {head[:16]} is in this ledger." in found.text
    missing = await web.get(base + "verify", params={"head": "0" * 64})
    assert "is NOT in this ledger" in missing.text

    with unit_of_work(lived.app.services.engine) as s:
        s.execute(update(TreasuryLedgerRow).where(TreasuryLedgerRow.seq == 2)
                  .values(data={"forged": 1}))
    bad = await web.get(base + "verify")
    assert 'data-ok="false"' in bad.text
    assert "The chain is broken at entry 2: its content does not match its hash" in bad.text


async def test_the_asymmetry_report_and_its_chart(lived, web):
    base = await _treasury(lived)
    page = await web.get(base + "asymmetry")
    assert page.status_code == 200
    assert "<th scope=\"row\">Chicago</th>" in page.text and "<th scope=\"row\">Beirut</th>" in page.text
    assert 'src="asymmetry.png"' in page.text and 'alt="Bar chart' in page.text
    chart = await web.get(base + "asymmetry.png")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG")


async def test_treasury_pages_follow_the_publishing_circles_language(lived, web):
    base = await _treasury(lived, chat="beirut")
    for path in ("", "ledger", "verify", "asymmetry"):
        page = await web.get(base + path)
        assert '<html lang="ar" dir="rtl">' in page.text, path


async def test_an_unpublished_treasury_is_not_found(lived, web):
    base = await _treasury(lived)
    await publish_cmd(lived, "chicago", "/unpublish treasury")
    for path in ("", "ledger", "ledger.json", "verify", "asymmetry", "asymmetry.png"):
        assert (await web.get(base + path)).status_code == 404, path

"""End to end in a real browser: headless Chromium opens a published dossier, the ledger and
the verify page (whose script recomputes every hash with SubtleCrypto), served by uvicorn.

Screenshots are kept under test-artifacts/ (not committed). Without Chromium the test is
skipped with the reason; in CI (TESSERA_REQUIRE_SERVICES=1) that skip fails the run.
"""
from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from core.web import WebServer
from tests.web.conftest import publish_cmd, url_of
from tests.web.test_serve import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get update && apt-get install -y chromium)")


async def chromium(profile: Path, *args: str) -> str:
    """Run headless Chromium once; its standard output (the DOM for --dump-dom)."""
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--window-size=412,915", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode("utf-8")


async def test_a_dossier_and_the_ledger_in_headless_chromium(lived, tmp_path):
    relay_out = await publish_cmd(lived, "chicago", "/publish relay 1")
    treasury_out = await publish_cmd(lived, "beirut", "/publish treasury")
    port = free_port()
    server = WebServer(lived.app.services, "127.0.0.1", port)
    await server.start()
    ARTIFACTS.mkdir(exist_ok=True)
    root = f"http://127.0.0.1:{port}"
    try:
        dossier = root + url_of(relay_out, "dossier of relay #1")
        dom = await chromium(tmp_path / "p1", "--dump-dom", dossier)
        assert "We held the picket at the warehouse." in dom
        assert "أضربنا نحن أيضا" in dom
        assert re.search(r'<audio controls="" preload="none" src="http://127\.0\.0\.1:\d+/p/[^"]+/media/', dom)
        shot = ARTIFACTS / "web-dossier.png"
        shot.unlink(missing_ok=True)
        await chromium(tmp_path / "p2", f"--screenshot={shot}", dossier)
        assert shot.read_bytes().startswith(b"\x89PNG")

        ledger = root + url_of(treasury_out, "treasury ledger")
        dom = await chromium(tmp_path / "p3", "--dump-dom", ledger)
        assert '<html lang="ar" dir="rtl">' in dom
        hashes = re.findall(r'<code class="hash" dir="ltr">([0-9a-f]{64})</code>', dom)
        assert len(hashes) >= 4 and hashes[0] == "0" * 64  # the first entry follows genesis
        shot = ARTIFACTS / "web-ledger.png"
        shot.unlink(missing_ok=True)
        await chromium(tmp_path / "p4", f"--screenshot={shot}", ledger)
        assert shot.read_bytes().startswith(b"\x89PNG")

        # The verify page's script recomputes the chain in the browser and agrees.
        verify = root + url_of(treasury_out, "ledger verification")
        dom = await chromium(tmp_path / "p5", "--virtual-time-budget=10000", "--dump-dom", verify)
        result = re.search(r'<p id="browser-result"[^>]*data-result="(\w+)"[^>]*>([^<]*)<', dom)
        assert result, dom[-3000:]
        assert result.group(1) == "ok", result.group(2)
        assert hashes[-1] in result.group(2)
    finally:
        await server.stop()


async def test_the_browser_check_agrees_with_the_server_on_tricky_text(lived, tmp_path):
    """Escapes, combining accents, right-to-left text, emoji and keys whose UTF-16 order
    differs from their code point order: the browser must hash what the server hashed."""
    from datetime import datetime, timezone

    from sqlalchemy import update

    from core.storage import unit_of_work
    from core.storage.treasury import TreasuryLedgerRow, append_entry

    tricky = {"purpose": 'Grève "générale"\n\ttab \x01 e\u0301 🚩 عربي \u2028', "z": 1,
              "a": [True, None, -5, {"b": "c"}], "\U0001F600": 1, "\uff5e": 2, "é": "x"}
    with unit_of_work(lived.app.services.engine) as s:
        entry = append_entry(s, 1, "rate", datetime(2026, 3, 3, 12, 0, 0, 123456, timezone.utc),
                             tricky)
    out = await publish_cmd(lived, "chicago", "/publish treasury")
    port = free_port()
    server = WebServer(lived.app.services, "127.0.0.1", port)
    await server.start()
    verify = f"http://127.0.0.1:{port}" + url_of(out, "ledger verification")
    pattern = r'<p id="browser-result"[^>]*data-result="(\w+)"[^>]*>([^<]*)<'
    try:
        dom = await chromium(tmp_path / "p1", "--virtual-time-budget=10000", "--dump-dom", verify)
        result = re.search(pattern, dom)
        assert result and result.group(1) == "ok", dom[-3000:]
        assert entry.hash in result.group(2)

        with unit_of_work(lived.app.services.engine) as s:
            s.execute(update(TreasuryLedgerRow).where(TreasuryLedgerRow.seq == entry.seq)
                      .values(data={**entry.data, "z": 2}))
        dom = await chromium(tmp_path / "p2", "--virtual-time-budget=10000", "--dump-dom", verify)
        result = re.search(pattern, dom)
        assert result and result.group(1) == "bad", dom[-3000:]
        assert f"entry {entry.seq}: its content does not match its hash" in result.group(2)
        assert 'data-ok="false"' in dom  # the server agrees
    finally:
        await server.stop()

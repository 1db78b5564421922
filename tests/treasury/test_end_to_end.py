"""From pledge to payout across circles on three platforms, as members live it in chats."""
from __future__ import annotations

from datetime import timedelta

from core.ledger import verify_export
from tests.treasury.conftest import PLATFORM, say, three_circles


def _sent(town, platform, chat):
    return [r[4] for r in town.all_sent() if r[0] == platform and r[1] == chat and not r[2]]


async def test_a_draw_from_request_to_disbursement_across_three_platforms(any_ttown):
    town = any_ttown
    await three_circles(town)

    out = await say(town, "chicago", "chicago_coord", "/treasury pledge 3% EUR")
    assert "Chicago pledges 3 % of income in EUR per month" in out
    # The treasury's first use gave Chicago, the first circle, the stewardship: all know it.
    for chat in ("chicago", "gaziantep", "lagos"):
        assert any("holds the stewardship first" in t for t in town.texts(chat, PLATFORM[chat]))
    out = await say(town, "chicago", "chicago_coord", "/treasury income 2500 EUR")
    assert "comes to EUR 75.00" in out
    out = await say(town, "gaziantep", "gaziantep_coord", "/treasury pledge 50 EUR quarterly")
    assert "EUR 50.00 every 3 months" in out

    out = await say(town, "chicago", "chicago_ana", "/treasury contribute 75 EUR March share")
    assert "Contribution #1 of EUR 75.00 from Chicago" in out
    out = await say(town, "gaziantep", "gaziantep_ben", "/treasury contribute 500 EUR")
    assert "Contribution #2" in out
    out = await say(town, "lagos", "lagos_ana", "/treasury confirm 2")
    assert "Only the treasury's stewards" in out
    await say(town, "chicago", "chicago_coord", "/treasury confirm 1")
    out = await say(town, "chicago", "chicago_coord", "/treasury confirm 2")
    assert "now holds EUR 575.00" in out
    assert "confirmed receiving your contribution #2" in town.last("gaziantep", "alpha")

    out = await say(town, "lagos", "lagos_coord",
                    "/treasury draw 300 EUR strike high 4 Strike fund for the dock workers")
    assert "Draw #1 requested" in out and "all 3 circles" in out
    # One ballot, opened in every chat on every platform, with the poll and the commands.
    for chat, platform in PLATFORM.items():
        opened = [m for m in _sent(town, platform, chat) if m.poll is not None]
        assert len(opened) == 1
        poll = opened[0].poll
        assert poll.ref == "ballot:1"
        assert [o.command for o in poll.options] == [
            "/treasury vote 1 yes", "/treasury vote 1 no", "/treasury vote 1 abstain"]
        assert "Strike fund for the dock workers" in opened[0].text
        assert "closes" in opened[0].text and "Quorum" in opened[0].text
    # Deadline in each circle's local time (48 h for high urgency).
    assert "CST" in [m for m in _sent(town, "console", "chicago") if m.poll][0].text or \
        "CDT" in [m for m in _sent(town, "console", "chicago") if m.poll][0].text

    await say(town, "gaziantep", "gaziantep_ana", "/treasury vote 1 yes")
    out = await say(town, "gaziantep", "gaziantep_ben", "/treasury vote 1 no")
    out = await say(town, "gaziantep", "gaziantep_ben", "/treasury vote 1 yes")
    assert "changed your vote on ballot #1 to Yes" in out
    out = await say(town, "chicago", "chicago_ana", "/treasury vote 1 yes")
    # The tally so far: overall and the voter's own circle; the ballot shows every circle.
    assert "Tally: 2 yes" in out and "Chicago: 1 yes, 0 no" in out  # counted per circle
    assert "Gaziantep" not in out and "/treasury ballot 1" in out
    out = await say(town, "chicago", "chicago_ana", "/treasury ballot 1")
    assert "Gaziantep: 2 yes, 0 no" in out
    out = await say(town, "lagos", "lagos_ben", "/treasury vote 1 yes")

    early = await say(town, "lagos", "lagos_coord", "/treasury close 1")
    assert "still open" in early
    await town.wait(timedelta(hours=48))
    for chat, platform in PLATFORM.items():
        closing = [m for m in _sent(town, platform, chat) if m.close_ref == "ballot:1"]
        assert len(closing) == 1
        assert "the draw of EUR 300.00 for Lagos is approved" in closing[0].text
        assert "3 of 3 circles took part" in closing[0].text

    out = await say(town, "lagos", "lagos_coord", "/treasury disburse 1 IBAN-TRX-4471")
    assert "Only the treasury's stewards" in out
    out = await say(town, "chicago", "chicago_coord", "/treasury disburse 1 IBAN-TRX-4471")
    assert "Draw #1 is paid out" in out and "EUR 275.00" in out
    assert "Payment reference: IBAN-TRX-4471" in town.last("lagos", "beta")
    out = await say(town, "gaziantep", "gaziantep_ana", "/treasury balance")
    assert "The treasury holds: EUR 275.00" in out

    out = await say(town, "lagos", "lagos_ana", "/treasury verify")
    assert "Ledger verified" in out

    await say(town, "lagos", "lagos_ana", "/treasury report")
    report = _sent(town, "beta", "lagos")[-1]
    assert "Lagos" in report.text and "EUR 300.00" in report.text
    [chart] = report.attachments
    assert chart.kind == "image" and chart.mime_type == "image/png"
    assert town.app.services.media.get(chart.path)[:8] == b"\x89PNG\r\n\x1a\n"

    for fmt in ("json", "csv"):
        await say(town, "lagos", "lagos_ana", f"/treasury export {fmt}")
        [file] = _sent(town, "beta", "lagos")[-1].attachments
        exported = town.app.services.media.get(file.path).decode("utf-8")
        result = verify_export(exported)
        assert result.ok and result.checked >= 10

"""A town that ran a relay, planned an action and used its treasury, and a web client on it.

Chicago (English) and Beirut (Arabic, right to left) form one network. Translation is off:
the web only shows what the features stored.
"""
from __future__ import annotations


import httpx
import pytest

from bots import calendar_feature, circles, help as help_, publish, relay, treasury
from core.messages import Attachment, ReplyTo
from core.web import create_app
from tests.conftest import make_config
from tests.relay.conftest import prompt_ref
from tests.relay.media import ogg_opus

FEATURES = [help_.feature, circles.feature, relay.feature, calendar_feature.feature,
            treasury.feature, publish.feature]
CHICAGO = ("chicago", "Chicago", "US", "America/Chicago", "en")
BEIRUT = ("beirut", "Beirut", "LB", "Asia/Beirut", "ar")
NOTE = ogg_opus(12.5)


async def start_town(tmp_path, url, clock, **tessera):
    from tests.support.chat import Town
    # Coordinators send many commands in no time here: lift the flood protection.
    config = make_config(tmp_path, url, translation={"enabled": False}, tessera=tessera,
                         commands={"flood_burst": 1000})
    return await Town.start(config, clock, features=FEATURES)


async def run_relay(town) -> Attachment:
    """Relay #1 from Chicago (a text and a voice note) to Beirut (a text), completed."""
    await town.say("chicago", "chicago_coord", "/relay start Night shift chicago,beirut 24h")
    await town.say("beirut", "beirut_coord", "/relay accept 1")
    await town.say("chicago", "maria", "/relay report We held the picket at the warehouse.")
    key = town.app.services.media.put(NOTE, "audio/ogg")
    note = Attachment(kind="voice", mime_type="audio/ogg", size=len(NOTE), filename="note.ogg",
                      path=key)
    await town.say("chicago", "maria", "", attachments=[note],
                   reply_to=ReplyTo(prompt_ref(town, "chicago")))
    await town.say("chicago", "chicago_coord", "/relay pass")
    await town.say("beirut", "rana", "/relay report أضربنا نحن أيضا")
    await town.say("beirut", "beirut_coord", "/relay pass")
    assert "is complete" in town.last("chicago"), town.texts("chicago")[-3:]
    return note


async def plan_and_fund(town) -> None:
    """A network-wide event, a circle's own event, a pledge and a confirmed contribution."""
    await town.say("chicago", "chicago_coord", "/event add Solidarity call 2026-03-14 10:00 "
                                               "duration=90m scope=network")
    await town.say("beirut", "beirut_coord", "/event add Tenant meeting 2026-03-20 18:00")
    await town.say("chicago", "chicago_coord", "/treasury pledge 50 EUR")
    await town.say("chicago", "maria", "/treasury contribute 75 EUR")
    out = await town.say("chicago", "chicago_coord", "/treasury confirm 1")
    assert "EUR 75.00" in "\n".join(out), out


@pytest.fixture
async def town(tmp_path, sqlite_url, clock):
    t = await start_town(tmp_path, sqlite_url, clock)
    await t.network(CHICAGO, BEIRUT)
    # Beirut's coordinator reads replies in English (the tests read them); Beirut's pages
    # still follow the circle's language, Arabic.
    await t.say("beirut", "beirut_coord", "/lang en")
    yield t
    await t.stop()


@pytest.fixture
async def lived(town):
    """The town after a relay, an action plan and a treasury contribution (nothing published)."""
    await run_relay(town)
    await plan_and_fund(town)
    return town


def client_for(town, **kw) -> httpx.AsyncClient:
    """An HTTP client talking to the web application in-process."""
    app = create_app(town.app.services, chart=publish.chart_renderer(), **kw)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def web(lived):
    async with client_for(lived) as client:
        yield client


async def publish_cmd(town, chat: str, text: str) -> str:
    """A coordinator publishes something; returns the bot's answer."""
    return "\n".join(await town.say(chat, f"{chat}_coord", text))


def url_of(answer: str, label: str) -> str:
    """The path of the link labelled `label` in a /publish answer."""
    for line in answer.replace("\u200f", "").splitlines():  # right-to-left marks
        if line.startswith(f"• {label}: "):
            return line.split(": ", 1)[1].replace("http://testserver", "")
    raise AssertionError(f"no link {label!r} in:\n{answer}")



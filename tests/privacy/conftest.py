"""Two networks that lived a while: relays with voice notes, a sync day with a photo, a
treasury, and the retention settings each chose.

Lagos and Chicago form one network, Berlin and Paris another. The deployment's defaults are
short (media 10 days, messages 5, audit 10) so that a fake clock can walk past them.
"""
from __future__ import annotations

import pytest
from sqlmodel import select

from core.messages import Attachment
from core.storage import unit_of_work
from core.storage.models import Network
from tests.conftest import make_config
from tests.relay.media import ogg_opus

LAGOS = ("lagos", "Lagos", "NG", "Africa/Lagos", "en")
CHICAGO = ("chicago", "Chicago", "US", "America/Chicago", "en")
BERLIN = ("berlin", "Berlin", "DE", "Europe/Berlin", "en")
PARIS = ("paris", "Paris", "FR", "Europe/Paris", "en")
SHORT = {"media_days": 10, "messages_days": 5, "audit_days": 10}
SHARED = ogg_opus(8.0, b"the same voice note, sent in two networks")


async def start_town(tmp_path, url, clock, **retention):
    from tests.support.chat import Town
    config = make_config(tmp_path, url, translation={"enabled": False},
                         commands={"flood_burst": 1000}, retention={**SHORT, **retention})
    return await Town.start(config, clock)


@pytest.fixture
async def two_networks(tmp_path, database_url, clock):
    """The town on SQLite and on PostgreSQL, with both networks formed."""
    town = await start_town(tmp_path, database_url, clock)
    await town.network(LAGOS, CHICAGO)
    await town.network(BERLIN, PARIS)
    yield town
    await town.stop()


def voice(town, data: bytes, name: str = "note.ogg") -> Attachment:
    """A voice note already downloaded into the media store, as an adapter hands it over."""
    key = town.app.services.media.put(data, "audio/ogg")
    return Attachment(kind="voice", mime_type="audio/ogg", size=len(data), filename=name, path=key)


def document(town, data: bytes, name: str = "leaflet.pdf") -> Attachment:
    key = town.app.services.media.put(data, "application/pdf")
    return Attachment(kind="file", mime_type="application/pdf", size=len(data), filename=name,
                      path=key)


def photo(town, data: bytes) -> Attachment:
    key = town.app.services.media.put(data, "image/jpeg")
    return Attachment(kind="image", mime_type="image/jpeg", size=len(data), filename="gate.jpg",
                      path=key)


async def complete_relay(town, first: str, second: str, title: str, *parts) -> None:
    """A relay from `first` to `second`; each of `parts` is (chat, user, text, attachments)."""
    await town.say(first, f"{first}_coord", f"/relay start {title} {first},{second} 24h")
    await town.say(second, f"{second}_coord", "/relay accept")
    for chat in (first, second):
        for where, user, text, atts in parts:
            if where == chat:
                await town.say(chat, user, f"/relay report {text}".strip(), attachments=atts)
        await town.say(chat, f"{chat}_coord", "/relay pass")
    assert "is complete" in town.last(first), town.texts(first)[-3:]


def network_id(town, name_of_circle_chat: str) -> int:
    from core.storage.models import Circle
    with unit_of_work(town.app.services.engine) as s:
        return s.exec(select(Circle.network_id).where(Circle.chat_id == name_of_circle_chat)).one()


def networks(town) -> list[Network]:
    with unit_of_work(town.app.services.engine) as s:
        return list(s.exec(select(Network).order_by(Network.id)).all())

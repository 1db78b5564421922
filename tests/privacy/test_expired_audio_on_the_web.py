"""A published relay whose recordings expired still reads well: words, no dead players.

Chicago's voice note was published with the relay's dossier and podcast feed; 91 days later
the network's media period (90 days by default) has passed and the sweep removed the file.
"""
from __future__ import annotations

import shutil
from datetime import timedelta

import feedparser
import pytest

from core import retention
from core.storage import unit_of_work
from core.work import Work
from tests.web.conftest import (
    BEIRUT, CHICAGO, client_for, publish_cmd, run_relay, start_town, url_of,
)


@pytest.fixture
async def published(tmp_path, sqlite_url, clock):
    town = await start_town(tmp_path, sqlite_url, clock)
    await town.network(CHICAGO, BEIRUT)
    await town.say("beirut", "beirut_coord", "/lang en")
    note = await run_relay(town)
    base = url_of(await publish_cmd(town, "chicago", "/publish relay 1"), "dossier of relay #1")
    yield town, note, base
    await town.stop()


async def _sweep(town) -> retention.SweepReport:
    with unit_of_work(town.app.services.engine) as s:
        return await retention.sweep(Work(town.app.services, s, town.clock.now()))


async def test_after_expiry_the_dossier_and_feed_show_words_only(published):
    town, note, base = published
    async with client_for(town) as web:
        feed = feedparser.parse((await web.get(base + "feed.xml")).content)
        audio_link = feed.entries[0].enclosures[0].href
        assert (await web.get(audio_link)).status_code == 200
        town.clock.advance(timedelta(days=91))
        report = await _sweep(town)
        assert report.media == 1 and not town.app.services.media.exists(note.path)
        page = await web.get(base)
        assert page.status_code == 200
        assert "We held the picket at the warehouse." in page.text and "<audio" not in page.text
        raw = await web.get(base + "feed.xml")
        feed = feedparser.parse(raw.content)
        assert raw.status_code == 200 and not feed.bozo
        assert [e.get("enclosures") for e in feed.entries] == [[], []]  # no chain episode either
        assert (await web.get(audio_link)).status_code == 404
        assert (await web.get(base + "dossier.md")).status_code == 200


async def test_a_file_gone_without_the_sweep_is_no_dead_link_either(published):
    town, note, base = published
    async with client_for(town) as web:
        town.app.services.media.delete(note.path)  # e.g. removed by hand, or a failed commit
        page = await web.get(base)
        assert page.status_code == 200 and "<audio" not in page.text
        feed = feedparser.parse((await web.get(base + "feed.xml")).content)
        assert not feed.bozo and all(not e.get("enclosures") for e in feed.entries)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the whole-chain episode needs ffmpeg")
async def test_the_whole_chain_episode_is_made_again_when_its_file_went(published):
    town, note, base = published
    async with client_for(town) as web:
        feed = feedparser.parse((await web.get(base + "feed.xml")).content)
        chain = feed.entries[-1].enclosures[0].href
        assert (await web.get(chain)).status_code == 200
        # Nothing points at the joined file, so the sweep treats it as unclaimed.
        key = chain.rsplit("/", 1)[-1]
        media = town.app.services.media
        media.delete(f"{key[:2]}/{key}")
        feed = feedparser.parse((await web.get(base + "feed.xml")).content)
        again = feed.entries[-1].enclosures[0].href
        assert (await web.get(again)).status_code == 200

"""A published relay on the web: its dossier, its podcast feed (read by feedparser, as a
podcast app would) and its audio, with the range requests podcast apps use to seek."""
from __future__ import annotations

import shutil

import feedparser

from core import i18n
from core.web import app as web_app
from tests.web.conftest import NOTE, publish_cmd, url_of


async def _published(town) -> str:
    return url_of(await publish_cmd(town, "chicago", "/publish relay 1"), "dossier of relay #1")


async def test_the_dossier_page_shows_both_reports(lived, web):
    base = await _published(lived)
    page = await web.get(base)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "We held the picket at the warehouse." in page.text
    assert "أضربنا نحن أيضا" in page.text and 'lang="ar" dir="rtl"' in page.text
    assert page.headers["x-robots-tag"] == "noindex, nofollow"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert (await web.get(base + "index.html")).text == page.text
    md = await web.get(base + "dossier.md")
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert "> We held the picket at the warehouse." in md.text


async def test_the_podcast_feed_parses_and_its_enclosure_is_served(lived, web):
    base = await _published(lived)
    raw = await web.get(base + "feed.xml")
    assert raw.headers["content-type"] == "application/rss+xml; charset=utf-8"
    feed = feedparser.parse(raw.content)
    assert not feed.bozo and feed.version == "rss20"
    reports = ["1. Chicago (Chicago, US)", "2. Beirut (Beirut, LB)"]
    enclosure = feed.entries[0].enclosures[0]
    assert enclosure.type == "audio/ogg" and int(enclosure.length) == len(NOTE)
    assert enclosure.href.startswith("http://testserver" + base + "media/")
    audio = await web.get(enclosure.href)
    assert audio.status_code == 200 and audio.content == NOTE
    assert audio.headers["content-type"] == "audio/ogg"
    assert audio.headers["accept-ranges"] == "bytes"
    if shutil.which("ffmpeg") is None:
        assert [e.title for e in feed.entries] == reports
        return
    # ffmpeg is installed (as in CI): the whole chain follows as one more episode, served too.
    assert [e.title for e in feed.entries] == reports + [i18n.t("en", "relay.pub.chain_episode")]
    whole = feed.entries[-1].enclosures[0]
    assert whole.type == "audio/ogg" and whole.href.startswith("http://testserver" + base + "media/")
    chain_audio = await web.get(whole.href)
    assert chain_audio.status_code == 200 and chain_audio.content[:4] == b"OggS"
    assert int(whole.length) == len(chain_audio.content)
    assert "ffmpeg" not in feed.feed.description


async def test_without_ffmpeg_the_feed_has_no_chain_episode_and_says_why(lived, web, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(web_app.shutil, "which",
                        lambda name, *a, **kw: None if name == "ffmpeg" else real_which(name, *a, **kw))
    base = await _published(lived)
    feed = feedparser.parse((await web.get(base + "feed.xml")).content)
    assert not feed.bozo
    assert [e.title for e in feed.entries] == ["1. Chicago (Chicago, US)", "2. Beirut (Beirut, LB)"]
    assert i18n.t(feed.feed.language, "relay.feed_no_ffmpeg") in feed.feed.description


async def test_audio_answers_range_requests(lived, web):
    base = await _published(lived)
    feed = feedparser.parse((await web.get(base + "feed.xml")).content)
    href = feed.entries[0].enclosures[0].href
    part = await web.get(href, headers={"Range": "bytes=10-29"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 10-29/{len(NOTE)}"
    assert part.content == NOTE[10:30]
    tail = await web.get(href, headers={"Range": "bytes=-8"})
    assert tail.status_code == 206 and tail.content == NOTE[-8:]
    beyond = await web.get(href, headers={"Range": f"bytes={len(NOTE) + 5}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(NOTE)}"
    # A client that has the file already is told so.
    again = await web.get(href, headers={"If-None-Match": part.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_only_the_relays_own_media_are_served(lived, web):
    base = await _published(lived)
    media = lived.app.services.media
    other = media.put(b"a private voice note of another relay", "audio/ogg").split("/")[-1]
    assert (await web.get(base + f"media/{other}")).status_code == 404
    sneaky = await web.get(base + "media/../../tessera.db", follow_redirects=True)
    assert sneaky.status_code == 404
    assert (await web.get(base + "media/..%2F..%2F..%2Ftessera.db")).status_code == 404
    assert (await web.get(base + "media/")).status_code == 404
    assert (await web.get(base + "nothing-here")).status_code == 404


async def test_pages_revalidate_with_etags(lived, web):
    base = await _published(lived)
    first = await web.get(base)
    assert first.headers["cache-control"] == "no-cache" and "last-modified" in first.headers
    second = await web.get(base, headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 304
    lived.clock.advance(__import__("datetime").timedelta(days=3))
    third = await web.get(base)  # a later request renders the same bytes
    assert third.headers["etag"] == first.headers["etag"]


async def test_a_language_can_be_asked_for(lived, web):
    base = await _published(lived)
    page = await web.get(base + "?lang=ar")
    assert '<html lang="ar" dir="rtl">' in page.text
    bad = await web.get(base + "?lang=<script>")
    assert bad.status_code == 200 and "<script>" not in bad.text.split("<body>")[0]


async def test_the_index_feed_gathers_every_published_relay(lived, web):
    out = await publish_cmd(lived, "chicago", "/publish relay 1")
    feed = feedparser.parse((await web.get(url_of(out, "podcast feed of all relays"))).content)
    assert not feed.bozo and feed.feed.title == "Test Network: relays"
    assert len(feed.entries) == 2 and feed.entries[0].enclosures[0].type == "audio/ogg"
    assert feed.entries[0].link.startswith("http://testserver/p/")

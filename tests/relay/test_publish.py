"""Publishing builders on a hand-made dossier: escaping, links, feed validity, the zip."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from html.parser import HTMLParser

import feedparser

from core import i18n
from core.media import MediaStore
from core.publish import (
    DossierView, Links, PartView, ReportView, TranslationView, build_zip, render_feed, render_html,
    render_markdown,
)
from core.publish.feed import ChainEpisode
from tests.relay.media import ogg_opus

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def dossier(media: MediaStore) -> DossierView:
    note = ogg_opus(9.0)
    key = media.put(note, "audio/ogg")
    parts = [
        PartView(1, "text", "Maria", "<script>alert('x')</script> We struck.", None, "en", T0,
                 translations={("text", "ar"): TranslationView("مرحبا", "machine")}),
        PartView(2, "voice", "Maria", "", "Night shift out.", "en", T0, media_key=key,
                 mime_type="audio/ogg", size=len(note), duration=9.0, filename="note.ogg",
                 translations={("transcript", "ar"): TranslationView("Night shift out.", "missing")}),
    ]
    report = ReportView(7, 1, "Chicago couriers", "Chicago", "US", "America/Chicago", "en",
                        "handed_off", T0, None, parts)
    return DossierView(3, "Rent & wages", "Couriers Across Borders", "completed", "ar", T0, T0,
                       [report], ["Chicago couriers (Chicago): handed_off"], T0)


def test_html_is_escaped_right_to_left_and_links_audio(tmp_path):
    media = MediaStore(tmp_path)
    page = render_html(dossier(media), Links(""))
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert '<html lang="ar" dir="rtl">' in page

    class Audio(HTMLParser):
        srcs: list = []

        def handle_starttag(self, tag, attrs):
            if tag == "audio":
                self.srcs.append(dict(attrs)["src"])

    parser = Audio()
    parser.feed(page)
    assert parser.srcs == [f"media/{dossier(media).reports[0].parts[1].media_key.split('/')[-1]}"]


def test_markdown_quotes_members_words_and_labels_machine_translation(tmp_path):
    md = render_markdown(dossier(MediaStore(tmp_path)), Links("https://relays.example.net/relays/3"))
    assert "> <script>alert('x')</script> We struck." in md
    assert "> مرحبا" in md
    assert "(https://relays.example.net/relays/3/media/" in md
    assert "(https://relays.example.net/relays/3/feed.xml)" in md


def test_feed_has_itunes_tags_exact_enclosures_and_a_chain_episode(tmp_path):
    media = MediaStore(tmp_path)
    view = dossier(media)
    chain = ChainEpisode("ab/" + "ab" * 32 + ".ogg", 4242, "audio/ogg")
    raw = render_feed(view, Links("https://relays.example.net/relays/3"), chain)
    feed = feedparser.parse(raw)
    assert not feed.bozo and feed.version == "rss20"
    assert b'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"' in raw
    first, whole = feed.entries
    enc = first.enclosures[0]
    assert (enc.type, int(enc.length)) == ("audio/ogg", view.reports[0].parts[1].size)
    assert enc.href.startswith("https://relays.example.net/relays/3/media/")
    assert int(whole.enclosures[0].length) == 4242
    assert "ffmpeg" not in feed.feed.description
    without = feedparser.parse(render_feed(view, Links(""), None))
    # The dossier is in Arabic, so the note about the missing chain episode is too.
    assert i18n.t("ar", "relay.feed_no_ffmpeg") in without.feed.description
    assert len(without.entries) == 1


def test_zip_bundles_pages_feed_and_media_with_relative_links(tmp_path):
    media = MediaStore(tmp_path)
    view = dossier(media)
    bundle = zipfile.ZipFile(io.BytesIO(build_zip(view, media)))
    key = view.reports[0].parts[1].media_key
    name = "media/" + key.split("/")[-1]
    assert sorted(bundle.namelist()) == sorted(["index.html", "dossier.md", "feed.xml", name])
    assert bundle.read(name) == media.get(key)
    assert feedparser.parse(bundle.read("feed.xml")).entries[0].enclosures[0].href == name

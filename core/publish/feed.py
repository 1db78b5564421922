"""The relay as a podcast: RSS 2.0 with the iTunes namespace.

One episode per report (its first audio part as the enclosure, with the exact byte length
and MIME type; the other parts linked in the notes), plus one episode of the whole chain
when it could be made (it needs ffmpeg; without it the feed says so).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import format_datetime

from core import i18n
from core.publish.dossier import translation_note
from core.publish.model import DossierView, Links, ReportView

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ET.register_namespace("itunes", ITUNES)


@dataclass(frozen=True)
class ChainEpisode:
    """The whole chain's audio in one stored file."""

    media_key: str
    size: int
    mime_type: str


def _t(lang: str, key: str, /, **p) -> str:
    return i18n.t(lang, "relay.pub." + key, **p)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _notes(view: DossierView, report: ReportView, links: Links) -> str:
    lang = view.lang
    lines = []
    if report.responds_to:
        lines.append(_t(lang, "responds", circle=report.responds_to))
    for p in report.parts:
        lines.append(f"{p.number} · {i18n.t(lang, f'relay.kind_{p.kind}')} · {p.author}")
        for name in ("text", "transcript"):
            words = getattr(p, name)
            if not words:
                continue
            original = _t(lang, "original", lang=i18n.language_name(p.language, lang))
            lines.append(f"{original}: “{words}”")
            label, translated = translation_note(lang, p, name)
            lines.append(f"{label}: “{translated}”" if translated else label)
        if p.media_key:
            lines.append(links.media(p.media_key))
    return "\n".join(lines)


def render_feed(view: DossierView, links: Links, chain: ChainEpisode | None = None) -> bytes:
    """The podcast feed as UTF-8 XML bytes."""
    lang = view.lang
    rss = ET.Element("rss", {"version": "2.0"})
    ch = _sub(rss, "channel")
    _sub(ch, "title", _t(lang, "heading", title=view.title))
    _sub(ch, "link", links.html)
    description = _t(lang, "feed_description", chain=" → ".join(view.chain))
    has_audio = any(r.audio_parts for r in view.reports)
    if chain is None and has_audio:
        description += " " + i18n.t(lang, "relay.feed_no_ffmpeg")
    _sub(ch, "description", description)
    _sub(ch, "language", lang)
    _sub(ch, "generator", "Tessera")
    _sub(ch, "lastBuildDate", format_datetime(view.generated_at))
    _sub(ch, f"{{{ITUNES}}}author", view.network or "Tessera")
    _sub(ch, f"{{{ITUNES}}}summary", description)
    _sub(ch, f"{{{ITUNES}}}explicit", "false")
    _sub(ch, f"{{{ITUNES}}}type", "serial")
    _sub(ch, f"{{{ITUNES}}}category", text="News")
    for n, report in enumerate(view.reports, 1):
        item = _sub(ch, "item")
        _sub(item, "title", _t(lang, "episode", position=n, circle=report.circle, city=report.city,
                               country=report.country))
        _sub(item, "description", _notes(view, report, links))
        _sub(item, "link", f"{links.html}#leg-{report.leg_id}")
        _sub(item, "guid", f"tessera-relay-{view.relay_id}-leg-{report.leg_id}", isPermaLink="false")
        if report.reported_at:
            _sub(item, "pubDate", format_datetime(report.reported_at))
        _sub(item, f"{{{ITUNES}}}episode", str(n))
        audio = report.audio_parts
        if audio:
            first = audio[0]
            _sub(item, "enclosure", url=links.media(first.media_key), length=first.size,
                 type=first.mime_type or "audio/ogg")
            if first.duration is not None:
                _sub(item, f"{{{ITUNES}}}duration", str(int(round(first.duration))))
    if chain is not None:
        item = _sub(ch, "item")
        _sub(item, "title", _t(lang, "chain_episode"))
        _sub(item, "description", _t(lang, "chain_episode_description"))
        _sub(item, "guid", f"tessera-relay-{view.relay_id}-chain-{chain.media_key.rsplit('/', 1)[-1][:16]}",
             isPermaLink="false")
        if view.finished_at:
            _sub(item, "pubDate", format_datetime(view.finished_at))
        _sub(item, "enclosure", url=links.media(chain.media_key), length=chain.size,
             type=chain.mime_type)
        _sub(item, f"{{{ITUNES}}}episodeType", "bonus")
    ET.indent(rss)
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)

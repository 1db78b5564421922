"""The network's podcast feed: every published relay's episodes in one channel.

An adapter over `core.publish.render_feed`: each relay's feed is built by the relay
publisher, and its items are gathered here, so episodes look the same in both feeds.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import format_datetime

from core.publish.feed import ITUNES


def merge_feeds(title: str, link: str, description: str, lang: str, author: str,
                feeds: list[bytes], built_at: datetime) -> bytes:
    """One RSS 2.0 channel holding the items of `feeds` (each a relay's feed), in order."""
    rss = ET.Element("rss", {"version": "2.0"})
    ch = ET.SubElement(rss, "channel")
    for tag, text in (("title", title), ("link", link), ("description", description),
                      ("language", lang), ("generator", "Tessera"),
                      ("lastBuildDate", format_datetime(built_at))):
        ET.SubElement(ch, tag).text = text
    ET.SubElement(ch, f"{{{ITUNES}}}author").text = author
    ET.SubElement(ch, f"{{{ITUNES}}}summary").text = description
    ET.SubElement(ch, f"{{{ITUNES}}}explicit").text = "false"
    ET.SubElement(ch, f"{{{ITUNES}}}category", {"text": "News"})
    for raw in feeds:
        channel = ET.fromstring(raw).find("channel")
        if channel is None:
            continue
        for item in channel.findall("item"):
            # Episode numbers restart in every relay: they mean nothing across relays.
            for numbered in item.findall(f"{{{ITUNES}}}episode"):
                item.remove(numbered)
            ch.append(item)
    ET.indent(rss)
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)

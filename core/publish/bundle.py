"""A zip a group can put on any static host: index.html, dossier.md, feed.xml and media/.

Every link inside is relative, so the folder works wherever it is unpacked or uploaded.
"""
from __future__ import annotations

import io
import zipfile

from core.publish.dossier import render_html, render_markdown
from core.publish.feed import ChainEpisode, render_feed
from core.publish.model import DossierView, Links, media_name


def build_zip(view: DossierView, media, chain: ChainEpisode | None = None) -> bytes:
    """The bundle as bytes; `media` is the MediaStore the parts' files live in."""
    links = Links("")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("index.html", render_html(view, links))
        zf.writestr("dossier.md", render_markdown(view, links))
        zf.writestr("feed.xml", render_feed(view, links, chain))
        keys = [p.media_key for r in view.reports for p in r.parts if p.media_key]
        if chain is not None:
            keys.append(chain.media_key)
        for key in dict.fromkeys(keys):
            if media.exists(key):
                # Audio is already compressed: store it as it is.
                zf.write(media.path(key), f"media/{media_name(key)}", zipfile.ZIP_STORED)
    return buf.getvalue()

"""Exporting a relay: the dossier, the podcast feed or a zip, as bytes with a file name.

Shared by `tessera relay export`, the `/relay export` chat command and (later) the web
server. The whole-chain episode is made with ffmpeg when it is installed, off the event loop.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from core.publish import build_zip, render_feed, render_html, render_markdown
from core.publish.feed import ChainEpisode
from core.publish.model import DossierView, Links, relay_base
from core.relay_service import dossier_view
from core.storage.relay import Relay

MIME = {"md": "text/markdown", "html": "text/html", "rss": "application/rss+xml",
        "zip": "application/zip"}
EXT = {"md": "md", "html": "html", "rss": "xml", "zip": "zip"}


@dataclass(frozen=True)
class Export:
    """One exported file."""

    data: bytes
    filename: str
    mime_type: str


def chain_audio(paths: list[Path]) -> bytes | None:
    """All audio parts joined into one Ogg/Opus file with ffmpeg, or None without ffmpeg.

    Runs ffmpeg as a separate program on files of the media store; nothing is executed
    from the media themselves.
    """
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg or not paths:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "chain.ogg"
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
        for p in paths:
            cmd += ["-i", str(p)]
        inputs = "".join(f"[{i}:a]" for i in range(len(paths)))
        cmd += ["-filter_complex", f"{inputs}concat=n={len(paths)}:v=0:a=1[a]", "-map", "[a]",
                "-c:a", "libopus", "-b:a", "48k", str(out)]
        try:
            subprocess.run(cmd, check=True, timeout=600, capture_output=True)
        except (subprocess.SubprocessError, OSError):
            return None
        return out.read_bytes()


async def make_chain_episode(services, view: DossierView) -> ChainEpisode | None:
    """Store the whole-chain audio in the media store (content-addressed); None without ffmpeg."""
    paths = [services.media.path(p.media_key) for r in view.reports for p in r.audio_parts
             if services.media.exists(p.media_key)]
    if not shutil.which("ffmpeg") or not paths:
        return None
    data = await asyncio.to_thread(chain_audio, paths)
    if data is None:
        return None
    key = services.media.put(data, "audio/ogg")
    return ChainEpisode(media_key=key, size=len(data), mime_type="audio/ogg")


async def export_relay(services, session: Session, relay: Relay, fmt: str, lang: str | None,
                       now: datetime) -> Export:
    """The relay in `fmt` (md, html, rss or zip)."""
    view = dossier_view(session, relay, lang, now, media=services.media)
    links = Links(relay_base(services.public_url, relay.id))
    name = f"relay-{relay.id}.{EXT[fmt]}"
    if fmt == "md":
        return Export(render_markdown(view, links).encode("utf-8"), name, MIME[fmt])
    if fmt == "html":
        return Export(render_html(view, links).encode("utf-8"), name, MIME[fmt])
    chain = await make_chain_episode(services, view)
    if fmt == "rss":
        return Export(render_feed(view, links, chain), name, MIME[fmt])
    data = await asyncio.to_thread(build_zip, view, services.media, chain)
    return Export(data, name, MIME[fmt])

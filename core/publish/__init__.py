"""Publishing relays: a dossier (Markdown, self-contained HTML), a podcast feed (RSS 2.0 with
the iTunes namespace) and a zip bundle for any static host.

Builders are plain functions from a `DossierView` (see `model`) to `str`/`bytes`, so the
CLI, the chat command and a web server can all use them.
"""
from core.publish.bundle import build_zip
from core.publish.dossier import render_html, render_markdown
from core.publish.feed import render_feed
from core.publish.model import DossierView, Links, PartView, ReportView, TranslationView

__all__ = ["DossierView", "Links", "PartView", "ReportView", "TranslationView", "build_zip",
           "render_feed", "render_html", "render_markdown"]

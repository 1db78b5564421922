"""Plain views of a relay for messages and publications (no database objects inside)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath


@dataclass(frozen=True)
class TranslationView:
    """A part's words in a reader's language.

    `status`: machine (translated offline by a model), same (already that language),
    missing (no model for the pair; `text` is the original), off (translation disabled).
    """

    text: str
    status: str
    via: str = ""


@dataclass
class PartView:
    """One part of a field report as published."""

    number: int
    kind: str  # text, voice, audio, file
    author: str
    text: str
    transcript: str | None
    language: str
    created_at: datetime
    media_key: str | None = None
    mime_type: str = ""
    size: int = 0
    duration: float | None = None
    filename: str = ""
    translations: dict[tuple[str, str], TranslationView] = field(default_factory=dict)
    part_id: int | None = None  # the stored part, when built from the database

    def translation(self, field_name: str, lang: str) -> TranslationView | None:
        """The stored rendering of `text` or `transcript` in `lang`, if any."""
        return self.translations.get((field_name, lang))

    @property
    def is_audio(self) -> bool:
        """Voice notes and audio files (they become podcast episodes)."""
        return self.kind in ("voice", "audio") and bool(self.media_key)


@dataclass
class ReportView:
    """One circle's field report in the chain."""

    leg_id: int
    position: int
    circle: str
    city: str
    country: str
    timezone: str
    language: str
    state: str
    reported_at: datetime | None
    responds_to: str | None = None  # the circle whose report this one answers
    parts: list[PartView] = field(default_factory=list)

    @property
    def audio_parts(self) -> list[PartView]:
        """Parts with playable audio, in order."""
        return [p for p in self.parts if p.is_audio]


@dataclass
class DossierView:
    """A whole relay, ready to publish in `lang` (the language translations are shown in)."""

    relay_id: int
    title: str
    network: str
    state: str
    lang: str
    created_at: datetime
    finished_at: datetime | None
    reports: list[ReportView]
    chain: list[str]  # every circle of the chain, in order, with its fate
    generated_at: datetime


def media_name(key: str) -> str:
    """The file name of a media-store key inside a bundle ("<sha256>.ogg")."""
    return PurePosixPath(key).name


@dataclass(frozen=True)
class Links:
    """Where the published pieces live.

    `base` "" gives links relative to the dossier (the zip layout: index.html, dossier.md,
    feed.xml, media/…); an absolute base ("https://host/relays/3") gives absolute links.
    """

    base: str = ""

    def _at(self, path: str) -> str:
        return f"{self.base.rstrip('/')}/{path}" if self.base else path

    def media(self, key: str) -> str:
        """Link to a stored media file."""
        return self._at(f"media/{media_name(key)}")

    @property
    def html(self) -> str:
        """The HTML dossier."""
        return self._at("index.html")

    @property
    def markdown(self) -> str:
        """The Markdown dossier."""
        return self._at("dossier.md")

    @property
    def feed(self) -> str:
        """The podcast feed."""
        return self._at("feed.xml")


def relay_base(public_url: str, relay_id: int) -> str:
    """The absolute folder of a relay's publications, or "" without a public URL."""
    return f"{public_url.rstrip('/')}/relays/{relay_id}" if public_url else ""

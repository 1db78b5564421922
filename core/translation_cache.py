"""A durable memory of translations already made, so no text is translated twice.

One row per (source, target, glossary, text), keyed by a SHA-256 of the four, holding only
the translated text and the pivot languages used; the original report is not stored. An
in-memory LRU sits in front so a relay fanning one report out to many circles does not
even touch the database.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel


class TranslationCacheEntry(SQLModel, table=True):
    """A translation made once and reused (table `translation_cache`)."""

    __tablename__ = "translation_cache"

    key: str = Field(primary_key=True, max_length=64)  # hex SHA-256, see cache_key()
    source: str = Field(max_length=35)  # BCP 47 tags fit in 35 characters
    target: str = Field(max_length=35)
    via: str = Field(default="", max_length=255)  # pivot languages, comma separated
    text: str = Field(sa_type=Text)


@dataclass(frozen=True)
class CachedTranslation:
    """What the cache remembers: the translated text and the pivots used."""

    text: str
    via: tuple[str, ...] = ()


def cache_key(
    source: str, target: str, text: str, glossary: Mapping[str, str] | None = None
) -> str:
    """The SHA-256 (hex) identifying a translation request.

    Glossary terms match case-insensitively, so they are folded before hashing; the
    order in which a glossary was written does not matter.
    """
    terms = sorted((term.strip().casefold(), value) for term, value in (glossary or {}).items())
    payload = json.dumps([source, target, terms, text], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class TranslationCache:
    """Translations by `cache_key`, in the database with an LRU in memory in front.

    Thread-safe: translations run in worker threads. Each database call opens its own
    short session on the shared engine.
    """

    def __init__(self, engine: Engine, memory_size: int = 2048):
        self._engine = engine
        self._memory: OrderedDict[str, CachedTranslation] = OrderedDict()
        self._memory_size = memory_size
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedTranslation | None:
        """The remembered translation for `key`, or None."""
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
        with Session(self._engine) as session:
            row = session.get(TranslationCacheEntry, key)
            if row is None:
                return None
            hit = CachedTranslation(row.text, tuple(filter(None, row.via.split(","))))
        self._remember(key, hit)
        return hit

    def put(
        self, key: str, source: str, target: str, text: str, via: tuple[str, ...] = ()
    ) -> None:
        """Remember a translation. Writing the same key twice keeps the first row."""
        entry = TranslationCacheEntry(
            key=key, source=source, target=target, via=",".join(via), text=text
        )
        with Session(self._engine) as session:
            if session.get(TranslationCacheEntry, key) is None:
                session.add(entry)
                try:
                    session.commit()
                except IntegrityError:  # another worker or process wrote it first
                    session.rollback()
        self._remember(key, CachedTranslation(text, tuple(via)))

    def _remember(self, key: str, hit: CachedTranslation) -> None:
        with self._lock:
            self._memory[key] = hit
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)

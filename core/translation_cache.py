"""A durable memory of translations already made, so no text is translated twice.

One row per (source, target, glossary, text), keyed by a SHA-256 of the four, holding only
the translated text, the pivot languages used, a SHA-256 of the source text alone
(`text_hash`) and when the translation was made (`made_at`); the original report is not
stored. An in-memory LRU sits in front so a relay fanning one report out to many circles
does not even touch the database.

A translation of a member's words is their words, so it goes when they do:
`forget_texts` removes every translation of given texts (erasure, withdrawal), and the daily
retention sweep removes translations older than the deployment's messages period
(`forget_older_than`). Rows from before `made_at` existed hold NULL and count as old.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, delete, event, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, Session, SQLModel, select

from core.clock import Clock, SystemClock
from core.storage.models import UtcField

log = logging.getLogger("tessera.translation")
_QUICK_MS = 200  # how long a cache write waits for SQLite's write lock

_CHUNK = 500  # hashes or keys per IN (...) query


class TranslationCacheEntry(SQLModel, table=True):
    """A translation made once and reused (table `translation_cache`)."""

    __tablename__ = "translation_cache"

    key: str = Field(primary_key=True, max_length=64)  # hex SHA-256, see cache_key()
    source: str = Field(max_length=35)  # BCP 47 tags fit in 35 characters
    target: str = Field(max_length=35)
    via: str = Field(default="", max_length=255)  # pivot languages, comma separated
    text: str = Field(sa_type=Text)
    # Hex SHA-256 of the source text alone (see text_hash()): finds every translation of
    # someone's words, into any language and with any glossary. NULL on rows made before.
    text_hash: str | None = Field(default=None, max_length=64, index=True)
    made_at: datetime | None = UtcField(nullable=True, index=True)  # NULL: made before


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


def text_hash(text: str) -> str:
    """The SHA-256 (hex) of a source text alone, exactly as it was given to the translator."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TranslationCache:
    """Translations by `cache_key`, in the database with an LRU in memory in front.

    Thread-safe: translations run in worker threads. Each database call opens its own
    short session on the shared engine. `clock` stamps `made_at` (the deployment's clock,
    so retention and tests agree on what "old" means).
    """

    def __init__(self, engine: Engine, memory_size: int = 2048, clock: Clock | None = None):
        self._engine = engine
        self._clock = clock or SystemClock()
        self._memory: OrderedDict[str, CachedTranslation] = OrderedDict()
        self._hash_of: dict[str, str | None] = {}  # memory key -> text_hash
        self._keys_of: dict[str, set[str]] = {}  # text_hash -> memory keys
        self._memory_size = memory_size
        self._lock = threading.Lock()
        self._unsaved: list[dict] = []  # rows a busy database could not take yet

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
            digest = row.text_hash
        self._remember(key, hit, digest)
        return hit

    def put(
        self, key: str, source: str, target: str, text: str, via: tuple[str, ...] = (), *,
        original: str, now: datetime | None = None,
    ) -> None:
        """Remember `text`, the translation of `original`. Writing the same key twice keeps
        the first row. `now` (default: the cache's clock) is when it was made."""
        digest = text_hash(original)
        row = dict(key=key, source=source, target=target, via=",".join(via), text=text,
                   text_hash=digest, made_at=now or self._clock.now())
        self._remember(key, CachedTranslation(text, tuple(via)), digest)
        with self._lock:
            rows, self._unsaved = self._unsaved + [row], []
        if not self._store(rows):
            with self._lock:  # written with the next translation, when the database is free
                self._unsaved = (rows + self._unsaved)[-self._memory_size:]

    def _store(self, rows: list[dict]) -> bool:
        """Write `rows` (those already there are kept); False when the database was busy.

        On SQLite the unit of work that asked for the translation may hold the only write
        lock while it waits for this thread: waiting out the usual busy timeout would stall
        the command for half a minute, so the cache tries briefly and writes later instead.
        """
        from core.storage import SQLITE_BUSY_MS  # (core.storage imports this module's table)
        sqlite = self._engine.dialect.name == "sqlite"
        try:
            with self._engine.connect() as conn:
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={_QUICK_MS}")
                    conn.commit()
                try:
                    with Session(bind=conn) as session:
                        for row in {r["key"]: r for r in rows}.values():
                            if session.get(TranslationCacheEntry, row["key"]) is None:
                                session.add(TranslationCacheEntry(**row))
                        try:
                            session.commit()
                        except IntegrityError:  # another worker or process wrote one first
                            session.rollback()
                            return self._store_one_by_one(rows) if len(rows) > 1 else True
                finally:
                    if sqlite:
                        conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
                        conn.commit()
            return True
        except OperationalError:
            log.info("translation cache: database busy; %d translation(s) kept in memory "
                     "for now", len(rows))
            return False

    def _store_one_by_one(self, rows: list[dict]) -> bool:
        return all([self._store([row]) for row in rows])

    def drop(self, keys: Iterable[str] = (), hashes: Iterable[str] = ()) -> int:
        """Forget in memory the translations under `keys` and those of the source texts
        whose `text_hash` is in `hashes`; returns how many went. The database is untouched."""
        hashes = set(hashes)
        with self._lock:
            doomed = set(keys)
            for digest in hashes:
                doomed |= self._keys_of.get(digest, set())
            self._unsaved = [r for r in self._unsaved
                             if r["key"] not in doomed and r["text_hash"] not in hashes]
            gone = 0
            for key in doomed:
                if self._memory.pop(key, None) is not None:
                    gone += 1
                    self._unindex(key)
            return gone

    def _remember(self, key: str, hit: CachedTranslation, digest: str | None) -> None:
        with self._lock:
            self._memory[key] = hit
            self._memory.move_to_end(key)
            self._unindex(key)
            self._hash_of[key] = digest
            if digest is not None:
                self._keys_of.setdefault(digest, set()).add(key)
            while len(self._memory) > self._memory_size:
                old, _ = self._memory.popitem(last=False)
                self._unindex(old)

    def _unindex(self, key: str) -> None:
        digest = self._hash_of.pop(key, None)
        if digest is not None:
            keys = self._keys_of.get(digest)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_of[digest]


def live_cache(services) -> TranslationCache | None:
    """The translation cache the deployment's translator keeps in memory, if any."""
    cache = getattr(getattr(services, "translator", None), "cache", None)
    return cache if isinstance(cache, TranslationCache) else None


def _session_of(session_or_engine: Session | Engine) -> tuple[Session, bool]:
    if isinstance(session_or_engine, Session):
        return session_or_engine, False
    return Session(session_or_engine), True


def forget_texts(session_or_engine: Session | Engine, texts: Iterable[str | None],
                 cache: TranslationCache | None = None) -> int:
    """Delete every cached translation of `texts` (into any language, with any glossary);
    returns how many rows went.

    Given a session, the deletion joins its unit of work (it commits or rolls back with the
    erasure it belongs to); given an engine, it commits at once. Pass the live `cache`
    (`live_cache(services)`) so its in-memory copies go too. A process that cannot be
    reached this way (another worker) keeps its in-memory copies only until they fall out
    of its LRU or it restarts; it never writes them back, and serves one only to whoever
    sends the very same source text again, who has those words already.
    """
    hashes = sorted({text_hash(t) for t in texts if t and t.strip()})
    if not hashes:
        return 0
    session, own = _session_of(session_or_engine)
    gone = 0
    try:
        for i in range(0, len(hashes), _CHUNK):
            chunk = hashes[i:i + _CHUNK]
            result = session.exec(delete(TranslationCacheEntry)
                                  .where(TranslationCacheEntry.text_hash.in_(chunk)))
            gone += result.rowcount or 0
        if own:
            session.commit()
    finally:
        if own:
            session.close()
    _drop(session, own, cache, hashes=hashes)
    return gone


def forget_older_than(session: Session, cutoff: datetime, limit: int,
                      cache: TranslationCache | None = None) -> int:
    """Delete up to `limit` cached translations made before `cutoff` (or at an unknown time,
    before `made_at` existed); returns how many went. Part of the retention sweep."""
    old = or_(TranslationCacheEntry.made_at == None,  # noqa: E711
              TranslationCacheEntry.made_at < cutoff)
    keys = session.exec(select(TranslationCacheEntry.key).where(old)
                        .order_by(TranslationCacheEntry.key).limit(limit)).all()
    for i in range(0, len(keys), _CHUNK):
        session.exec(delete(TranslationCacheEntry)
                     .where(TranslationCacheEntry.key.in_(keys[i:i + _CHUNK])))
    if keys:
        _drop(session, False, cache, keys=keys)
    return len(keys)


def _drop(session: Session, committed: bool, cache: TranslationCache | None, **what) -> None:
    """Drop from memory now and, when the deletion waits for its unit of work, once more
    after it commits: a worker thread may read a row back in between."""
    if cache is None:
        return
    cache.drop(**what)
    if not committed:
        event.listen(session, "after_commit", lambda _s: cache.drop(**what), once=True)

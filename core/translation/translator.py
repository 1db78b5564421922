"""Translating field reports between circles, offline, with Argos Translate.

`ArgosTranslator.translate` never blocks the event loop: the model runs in a worker
thread. A pair without a model never raises; it returns the original text marked
`missing_model` so the caller can show it with a note and an install hint.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.translation.argos import ModelShelf
from core.translation.text import plan_pieces
from core.translation_cache import TranslationCache, cache_key

# Pivot through English first: it is the hub of Argos's published models.
PREFERRED_PIVOTS = ("en",)


@dataclass(frozen=True)
class Translation:
    """The outcome of one translation request."""

    text: str  # translated text, or the original when nothing was translated
    source: str
    target: str
    translated: bool  # False when source == target, the text is empty or no model exists
    via: tuple[str, ...] = ()  # pivot languages used, e.g. ("en",)
    cached: bool = False
    missing_model: bool = False  # True: no installed path; show a note and an install hint


@runtime_checkable
class Translator(Protocol):
    """What core services need from a translator."""

    def can_translate(self, source: str, target: str) -> bool: ...

    async def translate(
        self, text: str, source: str, target: str, glossary: Mapping[str, str] | None = None
    ) -> Translation: ...


def normalise_language(code: str) -> str:
    """`" ES_ar "` -> `"es-ar"`: Argos codes are lower case."""
    return code.strip().lower().replace("_", "-")


class ArgosTranslator:
    """Translator backed by installed Argos Translate packages.

    `model_calls` counts batches sent to a model (one per hop per request), which lets
    tests and benchmarks prove that cached texts are never translated again.
    """

    def __init__(self, cache: TranslationCache | None = None, max_workers: int = 1):
        self._cache = cache
        self._shelf = ModelShelf()
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.model_calls = 0

    @property
    def cache(self) -> TranslationCache | None:
        """The translations it remembers (erasure and retention remove rows through it)."""
        return self._cache

    def installed_pairs(self) -> list[tuple[str, str]]:
        """The directly installed (source, target) pairs, sorted."""
        return sorted(self._shelf.pairs())

    def route(self, source: str, target: str) -> list[str] | None:
        """Languages to pass through, ends included (`["es", "en", "ar"]`), or None.

        A direct model wins; otherwise one pivot with both legs installed, English first,
        then the others alphabetically. Regional codes fall back to the base language
        (`es-ar` uses an `es` model).
        """
        pairs = self._shelf.pairs()
        languages = {code for pair in pairs for code in pair}
        source = _known(normalise_language(source), languages)
        target = _known(normalise_language(target), languages)
        if source == target:
            return [source]
        if (source, target) in pairs:
            return [source, target]
        others = languages - {source, target}
        pivots = [p for p in PREFERRED_PIVOTS if p in others]
        for pivot in pivots + sorted(others - set(pivots)):
            if (source, pivot) in pairs and (pivot, target) in pairs:
                return [source, pivot, target]
        return None

    def can_translate(self, source: str, target: str) -> bool:
        """True when a direct model or one pivot connects the languages (or they are equal)."""
        return self.route(source, target) is not None

    def translate_sync(
        self, text: str, source: str, target: str, glossary: Mapping[str, str] | None = None
    ) -> Translation:
        """Translate `text` now, in this thread. Prefer `translate` from async code.

        Glossary terms (whole words, any case) are replaced by their renderings verbatim
        and never shown to the model; only the text between them is translated.
        """
        src, tgt = normalise_language(source), normalise_language(target)
        if not text.strip() or src == tgt:
            return Translation(text, source, target, translated=False)
        key = cache_key(src, tgt, text, glossary)
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            return Translation(hit.text, source, target, True, hit.via, cached=True)
        path = self.route(src, tgt)
        if path is None:
            return Translation(text, source, target, translated=False, missing_model=True)
        if len(path) == 1:  # regional variants of one language, e.g. es-ar -> es
            return Translation(text, source, target, translated=False)

        pieces = plan_pieces(text, glossary)
        sentences = list(dict.fromkeys(p.text for p in pieces if p.translate))
        rendered = dict(zip(sentences, self._run_path(path, sentences), strict=True))
        result = "".join(rendered[p.text] if p.translate else p.text for p in pieces)
        via = tuple(path[1:-1])
        if self._cache is not None:
            self._cache.put(key, src, tgt, result, via, original=text)
        return Translation(result, source, target, True, via)

    async def translate(
        self, text: str, source: str, target: str, glossary: Mapping[str, str] | None = None
    ) -> Translation:
        """Translate in a worker thread; the event loop keeps serving chats meanwhile."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self.translate_sync, text, source, target, glossary)
        return await loop.run_in_executor(self._pool(), call)

    def close(self) -> None:
        """Stop the worker threads (waits for running translations)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _run_path(self, path: list[str], sentences: list[str]) -> list[str]:
        for source, target in zip(path, path[1:], strict=False):
            if not sentences:
                break
            with self._lock:
                self.model_calls += 1
            sentences = self._shelf.translate(source, target, sentences)
        return sentences

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="tessera-translate"
                )
            return self._executor


def _known(code: str, languages: set[str]) -> str:
    """The installed code for `code`, falling back from a regional tag to its base."""
    if code in languages or "-" not in code:
        return code
    base = code.split("-", 1)[0]
    return base if base in languages else code

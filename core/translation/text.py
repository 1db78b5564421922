"""Cutting a report into the pieces a translation model should see.

Pure text rules, no model: line breaks and glossary terms are kept verbatim, the rest is
cut into sentences (Argos models are trained on single sentences). Our own splitter
replaces Argos's default MiniSBD/Stanza splitters, which download a model on first use
and so fail on an offline server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# A sentence ends at . ! ? … (and the Arabic and Devanagari marks) followed by optional
# closing quotes/brackets and whitespace; CJK full stops need no whitespace after them.
_SENTENCE_END = re.compile(
    r"[.!?…؟।]+[\"'”’»)\]]*\s+"
    r"|[。！？]+[」』”’)）]*\s*"
)
# Titles and short forms whose full stop rarely ends a sentence (any case), plus initials.
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms mx prof st sr sra srta jr no nr nº vs etc approx ca cf dept gen av ave "
    "bd str tel hr hrs min art abs dir".split()
)
_WORD_BEFORE = re.compile(r"(\w+)$")
_LINE_BREAKS = re.compile(r"(\r?\n+)")
# Bullets and numbering at the start of a line belong to the layout, not the language.
_LIST_MARKER = re.compile(r"\s*(?:[-*•·–—>]|\d{1,3}[.)])\s+")


@dataclass(frozen=True)
class Piece:
    """A run of text that is either sent to the model or kept exactly as it is."""

    text: str
    translate: bool


def split_sentences(text: str) -> list[str]:
    """Split one line into sentences, each keeping its trailing whitespace.

    A full stop followed by a lower-case word ("approx. five", "e.g. this"), or after a
    title or an initial ("Dr. Okafor", "J. Smith"), does not end a sentence. Joining the
    result gives back `text` exactly.
    """
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        following = text[match.end() : match.end() + 1]
        if following.islower() or _is_abbreviation(text[start : match.start()], match.group(0)):
            continue
        sentences.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        sentences.append(text[start:])
    return sentences


def _is_abbreviation(before: str, boundary: str) -> bool:
    if not boundary.startswith(".") or boundary.startswith(".."):
        return False
    word = _WORD_BEFORE.search(before)
    if word is None:
        return False
    token = word.group(1)
    return token.casefold() in _ABBREVIATIONS or (len(token) == 1 and token.isupper())


def glossary_pattern(glossary: Mapping[str, str]) -> re.Pattern[str] | None:
    """A case-insensitive, whole-word pattern matching any glossary term (longest first)."""
    terms = sorted({term.strip() for term in glossary if term.strip()}, key=len, reverse=True)
    if not terms:
        return None
    alternatives = "|".join(re.escape(term) for term in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def plan_pieces(text: str, glossary: Mapping[str, str] | None = None) -> list[Piece]:
    """Cut `text` into pieces; joining their texts gives back `text` with glossary terms
    replaced by their renderings.

    Only pieces with `translate=True` go to the model: sentences containing letters,
    stripped of surrounding whitespace. Line breaks, list markers, whitespace, bare
    numbers and punctuation, and glossary renderings stay verbatim.
    """
    renderings = {term.strip().casefold(): value for term, value in (glossary or {}).items()}
    pattern = glossary_pattern(glossary or {})
    pieces: list[Piece] = []
    for line in _LINE_BREAKS.split(text):
        if not line or _LINE_BREAKS.fullmatch(line):
            _keep(pieces, line)
            continue
        marker = _LIST_MARKER.match(line)
        start = marker.end() if marker else 0
        _keep(pieces, line[:start])
        for match in pattern.finditer(line, start) if pattern else ():
            _add_prose(pieces, line[start : match.start()])
            _keep(pieces, _rendering(glossary or {}, renderings, match.group(0)))
            start = match.end()
        _add_prose(pieces, line[start:])
    return pieces


def _rendering(glossary: Mapping[str, str], renderings: dict[str, str], found: str) -> str:
    rendering = renderings.get(found.casefold())
    if rendering is not None:
        return rendering
    # casefold() and re.IGNORECASE disagree on a few letters (ß/ẞ); ask the regex.
    for term, value in glossary.items():
        if re.fullmatch(re.escape(term.strip()), found, re.IGNORECASE):
            return value
    return found


def _add_prose(pieces: list[Piece], prose: str) -> None:
    for sentence in split_sentences(prose):
        core = sentence.strip()
        if not any(ch.isalpha() for ch in core):
            _keep(pieces, sentence)
            continue
        lead = sentence[: len(sentence) - len(sentence.lstrip())]
        tail = sentence[len(sentence.rstrip()) :]
        _keep(pieces, lead)
        pieces.append(Piece(core, True))
        _keep(pieces, tail)


def _keep(pieces: list[Piece], text: str) -> None:
    """Append verbatim text, merging with a verbatim neighbour to keep plans short."""
    if not text:
        return
    if pieces and not pieces[-1].translate:
        pieces[-1] = Piece(pieces[-1].text + text, False)
    else:
        pieces.append(Piece(text, False))

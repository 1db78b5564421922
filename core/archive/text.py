"""Pure text rules of the archive: words, actor markers, options, names, search queries.

Nothing here touches a database or the clock.

Actors are marked in an entry as `+[Name]` ("+[Amazon.com Inc] pays pickers 12 EUR"): the
plus and square brackets survive every chat platform's formatting, allow spaces and
punctuation in names, and never collide with @mentions.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

MARKER = re.compile(r"\+\[([^\[\]\n]{1,120})\]")
_HASHTAG = re.compile(r"(?<![\w#])#([^\W_][\w-]{0,40})")


def words(text: str) -> list[str]:
    """Search words: runs of letters, digits and combining marks, lower-cased, with the
    accents of Latin, Greek and Cyrillic letters dropped ("İşçiler" -> "isciler",
    "café" -> "cafe"), so people typing on any keyboard find each other's words.

    Both full-text backends index only these words joined by single spaces, so SQLite FTS5
    and PostgreSQL see the very same tokens (no URL, e-mail or hyphen rules of their own).
    Marks of other scripts (Devanagari vowel signs...) are kept: they are letters there.
    """
    out: list[str] = []
    cur: list[str] = []
    for ch in _fold(text or ""):
        if unicodedata.category(ch)[0] in "LNM":
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return unicodedata.normalize("NFC", _ACCENTS.sub("", decomposed))


_ACCENTS = re.compile("[\u0300-\u036f]")


def search_text_for(text: str, *extra: str) -> str:
    """The indexed form of an entry: its words, then the words of `extra` (actor names)."""
    return " ".join(words(" ".join((text, *extra))))


def find_markers(text: str) -> list[str]:
    """Actor names marked with `+[...]`, in order, each once (as first written)."""
    seen: dict[str, str] = {}
    for m in MARKER.finditer(text or ""):
        name = " ".join(m.group(1).split())
        if name:
            seen.setdefault(alias_key(name), name)
    return list(seen.values())


def unmark(text: str) -> str:
    """The text with `+[Name]` shown as plain `Name` (mentions are stored separately)."""
    return MARKER.sub(lambda m: " ".join(m.group(1).split()), text or "")


def hashtags(text: str) -> list[str]:
    """`#tags` written in the text, lower case."""
    return [t.lower() for t in _HASHTAG.findall(text or "")]


def split_options(text: str, keys: set[str] | frozenset[str]) -> tuple[str, dict[str, str]]:
    """Take `key=value` options (value may be "quoted") out of free text.

    Returns the remaining text (spacing kept) and the options; unknown keys stay in the text
    so that "ratio=3:1" in a testimony is not lost.
    """
    opts: dict[str, str] = {}
    pattern = re.compile(r'(?<!\S)([a-z_]+)=(?:"([^"]*)"|\'([^\']*)\'|(\S*))')

    def take(m: re.Match) -> str:
        key = m.group(1).lower()
        if key not in keys:
            return m.group(0)
        opts[key] = next(g for g in m.groups()[1:] if g is not None)
        return ""

    rest = pattern.sub(take, text or "")
    return re.sub(r"[ \t]{2,}", " ", rest).strip(), opts


def parse_tags(value: str) -> list[str]:
    """"a, #B,c" -> ["a", "b", "c"] (no duplicates, order kept)."""
    out: list[str] = []
    for part in re.split(r"[,\s]+", value or ""):
        tag = part.strip().lstrip("#").lower()
        if tag and tag not in out:
            out.append(tag[:40])
    return out


# -- actor names -----------------------------------------------------------------------------

# Legal-form words and web suffixes that do not make two companies different.
_NOISE = frozenset("""
inc incorporated corp corporation co company companies ltd limited llc llp plc gmbh ag kg
sa sas sarl srl spa bv nv ab as asa oy oyj kk pty pvt sl sau se holding holdings group the
com net org
""".split())
_LINKING = frozenset("of for and the de des du la le el y et und der die das".split())


def alias_key(name: str) -> str:
    """How a spelling is compared for identity: case, spacing and outer punctuation ignored.

    "Amazon" and " amazon " are one spelling; "Amazon.com Inc" is another (a merge proposal).
    """
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    return " ".join(folded.split()).strip(" .,;:!?\"'()[]")


def core_words(name: str) -> list[str]:
    """The distinctive words of a name: accents, legal forms and web suffixes dropped."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name or "")
                    if not unicodedata.combining(c))
    ws = words(plain)
    core = [w for w in ws if w not in _NOISE]
    return core or ws


def _initials(ws: list[str]) -> str:
    return "".join(w[0] for w in ws if w not in _LINKING)


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def similarity(a: str, b: str) -> tuple[float, str]:
    """How likely two spellings name the same actor (0..1) and why, for merge proposals.

    - "same" (1.0): equal once legal forms, suffixes and accents are dropped
      ("Amazon" / "Amazon.com Inc");
    - "abbreviation" (0.9): a short all-capitals name that is the initials of the other or
      its letters in order from the same first letter ("IOM", "AMZN" / "Amazon");
    - "spelling" (the ratio): close spellings ("Amazone" / "Amazon").
    """
    ca, cb = core_words(a), core_words(b)
    ja, jb = "".join(ca), "".join(cb)
    if not ja or not jb:
        return 0.0, ""
    if ca == cb or ja == jb:
        return 1.0, "same"
    for short_raw, short, long_words in ((a, ja, cb), (b, jb, ca)):
        letters = re.sub(r"[^A-Za-z]", "", short_raw)
        if 2 <= len(letters) <= 6 and letters.isupper() and len(short) < len("".join(long_words)):
            long = "".join(long_words)
            if short == _initials(long_words) or (
                    len(short) >= 3 and short[0] == long[0] and _is_subsequence(short, long)):
                return 0.9, "abbreviation"
    ratio = difflib.SequenceMatcher(None, " ".join(ca), " ".join(cb)).ratio()
    return round(ratio, 3), "spelling"


def find_known(text: str, aliases: dict[tuple[str, ...], int]) -> set[int]:
    """Actor ids whose alias (as a sequence of words) occurs in `text` on word boundaries.

    The longest spelling wins where spellings overlap ("Amazon.com Inc" is not also
    "Amazon"), and `+[...]` markers are left out: a marked name is already the author's
    explicit choice of actor.
    """
    ws = words(MARKER.sub(" . ", text or ""))
    longest = max((len(seq) for seq in aliases), default=0)
    found: set[int] = set()
    i = 0
    while i < len(ws):
        for n in range(min(longest, len(ws) - i), 0, -1):
            actor_id = aliases.get(tuple(ws[i:i + n]))
            if actor_id is not None:
                found.add(actor_id)
                i += n
                break
        else:
            i += 1
    return found


# -- search queries --------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """One part of a query: a word or a "quoted phrase", maybe a prefix (word*), maybe
    excluded (-word)."""

    words: tuple[str, ...]
    prefix: bool = False
    exclude: bool = False


class BadQuery(ValueError):
    """A query that cannot be searched (nothing to look for, only exclusions)."""


def parse_query(query: str) -> list[Term]:
    """Read what a member typed: words (all must occur), "phrases", prefix*, -exclusions."""
    terms: list[Term] = []
    for m in re.finditer(r'(-?)"([^"]*)"|(-?)(\S+)', query or ""):
        if m.group(2) is not None:
            ws = tuple(words(m.group(2)))
            if ws:
                terms.append(Term(ws, exclude=bool(m.group(1))))
            continue
        raw = m.group(4)
        prefix = raw.endswith("*")
        ws = tuple(words(raw))
        if not ws:
            continue
        # Several words from one token ("supply-chain") form the phrase "supply chain".
        terms.append(Term(ws, prefix=prefix, exclude=bool(m.group(3))))
    if terms and all(t.exclude for t in terms):
        raise BadQuery("only exclusions")
    return terms


def fts5_query(terms: list[Term]) -> str:
    """The SQLite FTS5 MATCH expression for `terms`."""
    def one(t: Term) -> str:
        body = '"' + " ".join(t.words) + '"'
        return body + ("*" if t.prefix else "")

    pos = " AND ".join(one(t) for t in terms if not t.exclude)
    neg = "".join(f" NOT {one(t)}" for t in terms if t.exclude)
    return pos + neg


def tsquery(terms: list[Term]) -> str:
    """The PostgreSQL `to_tsquery('simple', ...)` text for `terms` (same meaning as FTS5)."""
    def one(t: Term) -> str:
        parts = [f"'{w}'" for w in t.words]
        if t.prefix:
            parts[-1] += ":*"
        body = " <-> ".join(parts)
        return f"({body})" if len(parts) > 1 else body

    pos = " & ".join(one(t) for t in terms if not t.exclude)
    neg = "".join(f" & !{one(t)}" for t in terms if t.exclude)
    return pos + neg

"""Every circle hears Tessera in its own language: the catalogs are complete and safe.

English (core/locales/en) is the reference. For each required language and each English part
file, the translation must have every key, the same placeholders, the plural forms its
language needs, the same markup and the same commands, and it must really be translated.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from babel import Locale

from core import i18n
from core.markup import RLM, directional

REQUIRED = ["en", "es", "fr", "pt", "de", "tr", "uk", "ar"]
TRANSLATED = [lang for lang in REQUIRED if lang != "en"]
LATIN = ["es", "fr", "pt", "de", "tr"]
EN_DIR = i18n.LOCALES_DIR / "en"
PARTS = sorted(p.stem for p in EN_DIR.glob("*.toml"))

_LINK = re.compile(r"\[[^\]]+\]\([^)\s]+\)")
# A command is a slash at the start of a word: "/circle", not "core/ledger.py" or "Europe/Berlin".
_COMMAND = re.compile(r"(?<![\w/.])/[a-z][a-z_]*")
_CODE = re.compile(r"`[^`]*`")
_ARABIC = re.compile(r"[\u0600-\u06FF]")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_WORD = re.compile(r"[A-Za-z]{2,}")


def _part(lang: str, part: str) -> dict:
    """One part file of one language, flattened the way core.i18n does it."""
    path = i18n.LOCALES_DIR / lang / f"{part}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    flat: dict = {}
    i18n._flatten("", data, flat)
    return flat


def _texts(message) -> list[str]:
    return list(message.values()) if isinstance(message, dict) else [message]


def _pairs(lang: str):
    """(part, key, english, translation) for every English key the translation has."""
    for part in PARTS:
        theirs = _part(lang, part)
        for key, en in _part("en", part).items():
            if key in theirs:
                yield part, key, en, theirs[key]


def _markup(text: str) -> tuple[int, int, int, int]:
    return text.count("**"), text.count("__"), text.count("`"), len(_LINK.findall(text))


def _has_words(english: str) -> bool:
    """True when an English message has words to translate (not only placeholders, marks, code)."""
    bare = re.sub(r"\{[^}]*\}", "", english)
    bare = _CODE.sub("", _LINK.sub("", _COMMAND.sub("", bare)))
    return bool(_WORD.search(bare))


def _numbers(lang: str, category: str) -> set[int]:
    """The whole numbers (below 1200) that fall in a plural category of `lang`."""
    rule = Locale.parse(lang).plural_form
    return {n for n in range(0, 1200) if rule(n) == category}


def _may_drop_count(lang: str, category: str, english) -> bool:
    """A plural form may leave out {count} only when its words alone say the number.

    That holds when the category is one number (Arabic "two": "جزءان"), or when English
    also leaves it out and the category holds no number above one (French "one" is 0 and 1).
    Ukrainian "one" also covers 21, 31..., so there the number must stay.
    """
    numbers = _numbers(lang, category)
    english_drops = any("count" not in i18n.placeholders(t) for t in _texts(english))
    return len(numbers) == 1 or (english_drops and numbers <= {0, 1})


def test_required_languages_are_available():
    assert set(REQUIRED) <= set(i18n.available_languages())
    assert i18n.available_languages()[0] == "en"


def test_english_has_parts():
    assert {"core", "privacy", "matrix"} <= set(PARTS)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_english_key_is_translated(lang):
    missing = {}
    for part in PARTS:
        theirs = _part(lang, part)
        lost = [k for k in _part("en", part) if k not in theirs]
        if lost:
            missing[f"{lang}/{part}.toml"] = lost
    assert not missing, f"messages missing: {missing}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_keys_english_does_not_have(lang):
    extra = {}
    for part in PARTS:
        mine = _part("en", part)
        unknown = [k for k in _part(lang, part) if k not in mine]
        if unknown:
            extra[f"{lang}/{part}.toml"] = unknown
    assert not extra, f"keys English does not have (typos or stale): {extra}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_match_english(lang):
    wrong = []
    for part, key, en, tr in _pairs(lang):
        if isinstance(en, dict) != isinstance(tr, dict):
            wrong.append(f"{part}:{key}: plural table in one language only")
            continue
        if i18n.placeholders(tr) != i18n.placeholders(en):
            wrong.append(f"{part}:{key}: {sorted(i18n.placeholders(tr))} != "
                         f"{sorted(i18n.placeholders(en))}")
        if isinstance(tr, dict) and "count" in i18n.placeholders(en):
            for form, text in tr.items():
                if "count" not in i18n.placeholders(text) and not _may_drop_count(lang, form, en):
                    wrong.append(f"{part}:{key}.{form}: drops {{count}}, but {form} covers "
                                 f"{sorted(_numbers(lang, form))[:4]}...")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lang", REQUIRED)
def test_plural_tables_have_every_category(lang):
    needed = set(Locale.parse(lang).plural_form.tags) | {"other"}
    wrong = []
    for part in PARTS:
        for key, message in _part(lang, part).items():
            if isinstance(message, dict) and set(message) != needed:
                wrong.append(f"{part}:{key}: {sorted(message)} (needs {sorted(needed)})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lang", REQUIRED)
def test_catalog_loads_without_clashes(lang):
    # core.i18n raises when a key is defined in two part files; tomllib raises on bad TOML.
    i18n._load.cache_clear()
    catalog = i18n.messages(lang)
    assert catalog
    if lang != "en":
        assert set(i18n.messages("en")) <= set(catalog)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_markup_and_commands_survive(lang):
    wrong = []
    for part, key, en, tr in _pairs(lang):
        if isinstance(en, dict) != isinstance(tr, dict):
            continue
        en_texts = _texts(en)
        en_marks = _markup(en_texts[-1] if not isinstance(en, dict) else en["other"])
        commands = set().union(*(_COMMAND.findall(t) for t in en_texts))
        for text in _texts(tr):
            if _markup(text) != en_marks:
                wrong.append(f"{part}:{key}: markup {_markup(text)} != {en_marks}")
            lost = {c for c in commands if c not in _COMMAND.findall(text)}
            if lost:
                wrong.append(f"{part}:{key}: commands changed or lost: {sorted(lost)}")
    assert not wrong, "\n".join(wrong)


def _render(lang: str, key: str, message, count: int) -> str:
    params = {name: f"<{name}>" for name in i18n.placeholders(message)}
    params["count"] = count
    return i18n.t(lang, key, **params)


@pytest.mark.parametrize("lang", REQUIRED)
def test_every_message_renders(lang):
    # A stray brace in a translation would raise here instead of in a circle's chat.
    for key, message in i18n.messages(lang).items():
        for count in (0, 1, 2, 3, 5, 11, 21, 100, 1000000):
            text = _render(lang, key, message, count)
            assert "{" not in text.replace("{{", ""), (key, text)


def test_arabic_is_marked_right_to_left_line_by_line():
    for key, message in i18n.messages("ar").items():
        text = _render("ar", key, message, 3)
        marked = directional(text, "ar")
        lines = marked.split("\n")
        assert all(line.startswith(RLM) for line in lines if line), key
        assert marked.replace(RLM, "") == text.replace(RLM, "")


@pytest.mark.parametrize("lang,script", [("ar", _ARABIC), ("uk", _CYRILLIC)])
def test_non_latin_catalogs_are_written_in_their_script(lang, script):
    english = []
    for part, key, en, tr in _pairs(lang):
        if _has_words(_texts(en)[-1]) and not all(script.search(t) for t in _texts(tr)):
            english.append(f"{part}:{key}")
    assert not english, f"left untranslated in {lang}: {english}"


@pytest.mark.parametrize("lang", LATIN)
def test_latin_catalogs_are_really_translated(lang):
    pairs = list(_pairs(lang))
    same = [f"{part}:{key}" for part, key, en, tr in pairs
            if en == tr and _has_words(_texts(en)[-1]) and len(_texts(en)[-1]) > 12]
    # Loan words ("Dossier", "Podcast") may match English; whole sentences must not.
    assert len(same) <= max(3, len(pairs) // 50), f"{lang}: same as English: {same}"


# --- languages, countries and periods by name, never by code ---------------------------------

def test_a_language_code_where_a_sentence_names_a_language_is_caught():
    from tests.conftest import language_codes_in
    assert language_codes_in("relay.original", {"lang": "es", "label": ""})
    assert language_codes_in("relay.via", {"via": "en,fr"})
    assert language_codes_in("archive.by", {"language": "pt-BR", "author": "Ana", "at": "x"})
    assert language_codes_in("circles.lang_list", {"langs": "…", "current": "uk"})
    assert not language_codes_in("relay.original", {"lang": "іспанська", "label": ""})
    assert not language_codes_in("relay.via", {"via": "English, French"})
    assert not language_codes_in("relay.glossary_added", {"lang": ""})  # no language meant
    # A sync day's "target" is the company a day of action is against, not a language.
    assert not language_codes_in("syncday.declared", {"target": "es"})


@pytest.mark.parametrize("lang", REQUIRED)
def test_relay_lines_name_languages_the_readers_way(lang, languages_named):
    from datetime import datetime, timezone

    from core.publish.model import PartView, TranslationView
    from core.relay_messages import part_lines

    # Italian words, machine-translated into the reader's language through English; the
    # transcript has no model.
    part = PartView(number=1, kind="voice", author="Lucia", text="Sciopero!",
                    transcript="Sciopero.", language="it",
                    created_at=datetime(2026, 3, 1, tzinfo=timezone.utc),
                    translations={("text", lang): TranslationView("…", "machine", "en"),
                                  ("transcript", lang): TranslationView("", "missing")})
    text = "\n".join(part_lines(lang, part))
    italian, own, english = (i18n.language_name(c, lang) for c in ("it", lang, "en"))
    assert text.count(italian) >= 3 and own in text and english in text, text
    assert not re.search(r"\((?:it|en)\)|\bit →|→ " + lang + r"\b", text), text


@pytest.mark.parametrize("lang", REQUIRED)
def test_every_wage_period_kind_and_actor_kind_has_words(lang):
    from core.archive.service import ACTOR_KINDS, DEFAULT_KINDS, PERIODS
    for key in ([f"archive.per.{p}" for p in PERIODS]
                + [f"archive.kind_name.{k}" for k in DEFAULT_KINDS]
                + [f"archive.actor_kind.{k}" for k in ACTOR_KINDS]):
        assert key in i18n.messages(lang), key
    if lang != "en":
        assert i18n.t(lang, "archive.per.hour") != "per hour"

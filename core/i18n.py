"""Message catalogs: every word the bots say goes through here.

Catalogs are TOML files in `core/locales/<lang>/<part>.toml` (one file per feature, so
each can be written and translated on its own), one key per message, with named
placeholders (`{circle}`) and plural forms as tables keyed by CLDR category
(`one`, `few`, `many`, `other`), chosen by Babel for the language and the `count` argument.
A message missing from a language falls back to English, so a half-finished catalog is
still usable.
"""
from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.numbers import format_decimal

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANG = "en"


class _Missing(dict):
    # Keep unknown placeholders visible instead of crashing a reply.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _flatten(prefix: str, table: dict[str, Any], out: dict[str, Any]) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and not _is_plural(value):
            _flatten(full, value, out)
        else:
            out[full] = value


def _is_plural(value: dict[str, Any]) -> bool:
    return bool(value) and set(value) <= {"zero", "one", "two", "few", "many", "other"}


@lru_cache(maxsize=None)
def _load(lang: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.toml")):
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        part: dict[str, Any] = {}
        _flatten("", data, part)
        clash = set(part) & set(flat)
        if clash:
            raise ValueError(f"{path}: keys defined twice in {lang}: {sorted(clash)[:5]}")
        flat.update(part)
    return flat


@lru_cache(maxsize=None)
def _plural_rule(lang: str):
    try:
        return Locale.parse(lang).plural_form
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANG).plural_form


def available_languages() -> list[str]:
    """Codes of every language with a catalog, English first."""
    return list(_catalog_codes())


@lru_cache(maxsize=1)
def _catalog_codes() -> tuple[str, ...]:
    # Read once: catalogs ship with the code, and /lang asks on every use.
    codes = sorted(p.name for p in LOCALES_DIR.iterdir() if p.is_dir() and any(p.glob("*.toml")))
    return tuple(sorted(codes, key=lambda c: (c != DEFAULT_LANG, c)))


@lru_cache(maxsize=1024)
def language_name(code: str, in_lang: str | None = None) -> str:
    """The language's own name (or its name in `in_lang`), e.g. "español"."""
    try:
        return Locale.parse(code).get_display_name(in_lang or code) or code
    except (UnknownLocaleError, ValueError):
        return code


def language_names(codes: str | list[str] | tuple[str, ...], in_lang: str) -> str:
    """Several languages ("en,fr" or a list) by their names in `in_lang`, comma separated.

    For sentences such as "machine translation (Spanish → Ukrainian via English)": readers
    see names in their own language, never codes.
    """
    if isinstance(codes, str):
        codes = [c for c in codes.split(",") if c.strip()]
    return join_list((language_name(c.strip(), in_lang) for c in codes), in_lang)


@lru_cache(maxsize=64)
def _babel_locale(lang: str) -> Locale:
    try:
        return Locale.parse((lang or DEFAULT_LANG).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LANG)


def country_name(code: str, in_lang: str) -> str:
    """A country's name in `in_lang` from its ISO 3166 code ("DE" -> "Alemania" in es);
    the code itself when CLDR does not know it."""
    return _babel_locale(in_lang).territories.get((code or "").upper()) or code


def format_day(day: date, lang: str) -> str:
    """A calendar date as readers of `lang` write it, month in words ("1 oct 2026")."""
    return format_skeleton("yMMMd", day, locale=_babel_locale(lang))


def format_number(value: int | float | Decimal, lang: str, decimals: int | None = None) -> str:
    """A number with the locale's digits, decimal mark and grouping ("30,5" in de).

    `decimals` fixes how many digits follow the mark (rounded half-even); None keeps what
    the value needs.
    """
    if decimals is None:
        return format_decimal(value, locale=_babel_locale(lang))
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(value, format=pattern, locale=_babel_locale(lang))


def normalise_language(code: str) -> str | None:
    """Map user input ("ES", "es-MX", "Spanish") to a catalog code, or None."""
    low = code.strip().replace("_", "-").lower()
    langs = _catalog_codes()
    if low in langs:
        return low
    if low.split("-")[0] in langs:
        return low.split("-")[0]
    return _by_name().get(low)


@lru_cache(maxsize=1)
def _by_name() -> dict[str, str]:
    # "español" and "spanish" -> "es", for every catalog language.
    names: dict[str, str] = {}
    for c in reversed(_catalog_codes()):  # the first catalog wins a shared name
        names[language_name(c, "en").lower()] = c
        names[language_name(c).lower()] = c
    return names


# Lists inside a sentence: Arabic script writes its own comma and semicolon ("،", "؛").
_ARABIC_SCRIPT = frozenset({"ar", "fa", "ur", "ps", "ckb", "sd", "ug"})


def join_list(items: Iterable[Any], lang: str, *, strong: bool = False) -> str:
    """Items shown to people, one after another, with the separator readers of `lang` use:
    "Lagos, Berlin" in most languages, "لاغوس، برلين" in Arabic.

    `strong=True` separates items that hold commas themselves ("; ", "؛ " in Arabic). No
    "and" before the last item: these lists are enumerations (names, countries, numbers),
    and several are followed by "—" when empty, which the caller decides.
    """
    arabic = (lang or "").replace("_", "-").split("-")[0].lower() in _ARABIC_SCRIPT
    sep = ("؛ " if arabic else "; ") if strong else ("، " if arabic else ", ")
    return sep.join(str(i) for i in items)


@dataclass(frozen=True)
class Phrase:
    """A catalog message to be said later, in whatever language the reader turns out to have.

    Core code that cannot know the reader (a service refusing a repeat rule) puts a `Phrase`
    where a sentence needs a reason: `CalendarProblem("calendar.bad_rule",
    reason=Phrase("calendar.rule.freq", value="SOMETIMES"))`. `t` renders it in the language
    of the sentence it fills, so no English explanation slips into a translated reply.
    """

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, key: str, /, **params: Any) -> Phrase:
        """`Phrase(key, params)` written like a `t` call."""
        return cls(key, params)

    def render(self, lang: str) -> str:
        """The message in `lang` (placeholders may hold phrases too)."""
        return t(lang, self.key, **self.params)

    def __str__(self) -> str:
        return self.render(DEFAULT_LANG)


class Country(Phrase):
    """A country (ISO 3166 code) named in whatever language the sentence it fills is in:
    one announcement to many circles says "Nigeria", "Nigéria", "Нігерія"."""

    def __init__(self, code: str) -> None:
        super().__init__("", {"code": code})

    def render(self, lang: str) -> str:
        return country_name(self.params["code"], lang)


def messages(lang: str) -> dict[str, Any]:
    """All messages of one catalog (flattened keys), without fallback."""
    return dict(_load(lang))


def placeholders(template: str | dict[str, str]) -> set[str]:
    """Names of the placeholders a message uses (all plural forms together)."""
    texts = template.values() if isinstance(template, dict) else [template]
    names: set[str] = set()
    for text in texts:
        names |= {f for _, f, _, _ in string.Formatter().parse(text) if f}
    return names


def t(lang: str, key: str, /, **params: Any) -> str:
    """The message `key` in `lang`, with placeholders filled.

    Plural messages pick their form from `params["count"]`. A parameter that is a `Phrase`
    is said in `lang` too.
    """
    if any(isinstance(v, Phrase) for v in params.values()):
        params = {k: v.render(lang) if isinstance(v, Phrase) else v for k, v in params.items()}
    template = _load(lang).get(key)
    if template is None:
        lang = DEFAULT_LANG
        template = _load(DEFAULT_LANG).get(key)
    if template is None:
        return key
    if isinstance(template, dict):
        form = _plural_rule(lang)(abs(params.get("count", 0)))
        template = template.get(form) or template.get("other") or next(iter(template.values()))
    return template.format_map(_Missing(params))

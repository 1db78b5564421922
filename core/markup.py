"""Light markup shared by every renderer, and splitting long texts safely.

The core writes **bold**, __italic__, `code` and [label](url). Each adapter turns that into
what its platform understands: HTML (Telegram, Matrix), Markdown (Discord) or plain text.
"""
from __future__ import annotations

import html
import re

_TOKEN = re.compile(
    r"\*\*(?P<bold>.+?)\*\*|__(?P<italic>.+?)__|`(?P<code>[^`]+)`|\[(?P<label>[^\]]+)\]\((?P<url>[^)\s]+)\)",
    re.S,
)

RTL_LANGS = {"ar", "fa", "he", "ur", "ps", "yi"}


def _render(text: str, bold, italic, code, link, plain) -> str:
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(plain(text[pos:m.start()]))
        if m.group("bold") is not None:
            out.append(bold(m.group("bold")))
        elif m.group("italic") is not None:
            out.append(italic(m.group("italic")))
        elif m.group("code") is not None:
            out.append(code(m.group("code")))
        else:
            out.append(link(m.group("label"), m.group("url")))
        pos = m.end()
    out.append(plain(text[pos:]))
    return "".join(out)


def to_plain(text: str) -> str:
    """Markup removed; links shown as "label (url)"."""
    same = lambda s: s  # noqa: E731
    return _render(text, same, same, same, lambda l, u: f"{l} ({u})", same)


def to_html(text: str) -> str:
    """Markup as the small HTML subset Telegram and Matrix both accept."""
    esc = lambda s: html.escape(s, quote=False)  # noqa: E731
    return _render(
        text,
        lambda s: f"<b>{esc(s)}</b>",
        lambda s: f"<i>{esc(s)}</i>",
        lambda s: f"<code>{esc(s)}</code>",
        lambda l, u: f'<a href="{html.escape(u)}">{esc(l)}</a>',
        esc,
    )


def to_markdown(text: str) -> str:
    """Markup as Discord-flavoured Markdown."""
    def esc(s: str) -> str:
        return re.sub(r"([*_~|>`])", r"\\\1", s)

    return _render(
        text,
        lambda s: f"**{esc(s)}**",
        lambda s: f"*{esc(s)}*",
        lambda s: f"`{s}`",
        lambda l, u: f"[{esc(l)}]({u})",
        esc,
    )


def is_rtl(lang: str) -> bool:
    """True for languages written right to left."""
    return lang.split("-")[0].lower() in RTL_LANGS


RLM = "\u200f"


def directional(text: str, lang: str) -> str:
    """Mark each line of a right-to-left message as such.

    Chat clients guess a paragraph's direction from its first strong character; a line of
    Arabic that starts with a command, a number or a name in Latin letters would otherwise be
    laid out left to right. A right-to-left mark at the start of each line settles it, on
    every platform, without changing what the words are.
    """
    if not is_rtl(lang) or not text:
        return text
    return "\n".join(line if not line or line.startswith(RLM) else RLM + line
                     for line in text.split("\n"))


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into pieces of at most `limit` characters.

    Cuts at paragraph breaks, then line breaks, then spaces, and never inside a markup token,
    so each piece renders on its own.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _best_cut(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _best_cut(text: str, limit: int) -> int:
    protected = [(m.start(), m.end()) for m in _TOKEN.finditer(text[: limit * 2])]

    def safe(i: int) -> bool:
        return all(not (s < i < e) for s, e in protected)

    for sep in ("\n\n", "\n", " "):
        i = text.rfind(sep, 0, limit)
        while i > 0 and not safe(i):
            i = text.rfind(sep, 0, i)
        if i > limit // 4:
            return i + len(sep) if sep != " " else i
    # No good boundary: cut hard, but still outside a token when possible.
    i = limit
    while i > 0 and not safe(i):
        i -= 1
    return i or limit

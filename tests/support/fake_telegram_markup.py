"""Text formatting the way the Bot API applies it, for the fake Telegram server.

Telegram turns ``parse_mode`` text into plain text plus entities, and refuses
malformed markup with ``400 Bad Request: can't parse entities: ...``. The fake
does the same so that an adapter that forgets to escape a ``.`` in MarkdownV2
or a ``<`` in HTML fails in tests the way it would fail in a real circle.

Entity offsets and lengths are in UTF-16 code units, as in the Bot API; error
positions are UTF-8 byte offsets into the original text, as Telegram reports them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

__all__ = ["MarkupError", "auto_entities", "parse_text", "utf16_len"]


class MarkupError(ValueError):
    """Markup Telegram would refuse; ``str(err)`` is the reason after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how the Bot API counts offsets)."""
    return len(text.encode("utf-16-le")) // 2


# Patterns Telegram recognises in plain text (user messages and unformatted bot text).
_AUTO_PATTERNS = [
    ("bot_command", re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?!\w)")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("url", re.compile(r"(?<![\w@])https?://[^\s<>\"]+[^\s<>\".,;:!?)\]]")),
]


def auto_entities(text: str) -> list[dict]:
    """Entities Telegram detects by itself: commands, mentions, hashtags and links."""
    found: list[tuple[int, int, str]] = []
    taken: list[range] = []
    for kind, pattern in _AUTO_PATTERNS:
        for match in pattern.finditer(text):
            span = range(match.start(), match.end())
            if any(span.start < other.stop and other.start < span.stop for other in taken):
                continue
            taken.append(span)
            found.append((match.start(), match.end(), kind))
    found.sort()
    return [
        {"offset": utf16_len(text[:start]), "length": utf16_len(text[start:end]), "type": kind}
        for start, end, kind in found
    ]


@dataclass
class _Builder:
    """Accumulates plain text and entities while a parser walks the source."""

    source: str
    parts: list[str] = field(default_factory=list)
    offset: int = 0
    entities: list[dict] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.offset += utf16_len(text)

    def entity(self, kind: str, start: int, **extra) -> None:
        if self.offset > start:
            self.entities.append({"offset": start, "length": self.offset - start, "type": kind, **extra})

    def byte_at(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8"))

    def result(self) -> tuple[str, list[dict]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict]]:
    """Apply ``parse_mode`` like the Bot API: return (plain text, entities) or raise MarkupError."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, auto_entities(text)
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise MarkupError(f"Unsupported parse_mode {parse_mode!r}")


# --- HTML -------------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_HTML_ATTR = re.compile(r"""\s*([a-zA-Z_:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _html_entity(text: str, i: int) -> tuple[str, int]:
    """Decode the character reference at text[i] == '&'; a bare '&' stays literal."""
    match = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);").match(text, i)
    if not match:
        return "&", i + 1
    name = match.group(1)
    if name.startswith("#"):
        return html.unescape(match.group(0)), match.end()
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name], match.end()
    return "&", i + 1


def _parse_html(text: str) -> tuple[str, list[dict]]:
    out = _Builder(text)
    stack: list[tuple[str, int, dict, int]] = []  # tag, start offset, extra fields, source index
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            decoded, i = _html_entity(text, i)
            out.add(decoded)
            continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        end = text.find(">", i)
        if end < 0:
            raise MarkupError(f"Unclosed start tag at byte offset {out.byte_at(i)}")
        body = text[i + 1 : end]
        if body.startswith("/"):
            name = body[1:].strip().lower()
            if not stack:
                raise MarkupError(f'Unexpected end tag at byte offset {out.byte_at(i)}')
            open_name, start, extra, _ = stack.pop()
            if name != open_name:
                raise MarkupError(
                    f'Unmatched end tag at byte offset {out.byte_at(i)}, expected "</{open_name}>", '
                    f'found "</{name}>"'
                )
            kind = _HTML_TAGS[open_name]
            if open_name == "blockquote" and extra.pop("expandable", False):
                kind = "expandable_blockquote"
            if open_name == "code" and stack and stack[-1][0] == "pre":
                stack[-1][2].setdefault("language", extra.get("language"))
            else:
                out.entity(kind, start, **{k: v for k, v in extra.items() if v is not None})
        else:
            name_match = re.match(r"[a-zA-Z][a-zA-Z0-9-]*", body)
            name = name_match.group(0).lower() if name_match else ""
            if name not in _HTML_TAGS:
                raise MarkupError(f'Unsupported start tag "{name}" at byte offset {out.byte_at(i)}')
            attrs = {
                m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
                for m in _HTML_ATTR.finditer(body[len(name):].rstrip("/"))
                if m.group(1)
            }
            extra = _html_extra(name, attrs, out.byte_at(i))
            stack.append((name, out.offset, extra, i))
        i = end + 1
    if stack:
        name = stack[-1][0]
        raise MarkupError(f'Can\'t find end tag corresponding to start tag "{name}"')
    return out.result()


def _html_extra(name: str, attrs: dict[str, str], at_byte: int) -> dict:
    """Entity fields carried by a tag's attributes; refuses what Telegram refuses."""
    if name == "a":
        if not attrs.get("href"):
            raise MarkupError(f"Can't find href attribute of a link at byte offset {at_byte}")
        return {"url": attrs["href"]}
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise MarkupError(f'Tag "span" must have class "tg-spoiler" at byte offset {at_byte}')
    if name == "code" and attrs.get("class", "").startswith("language-"):
        return {"language": attrs["class"][len("language-"):]}
    if name == "tg-emoji":
        return {"custom_emoji_id": attrs.get("emoji-id", "")}
    if name == "blockquote":
        return {"expandable": "expandable" in attrs}
    return {}


# --- MarkdownV2 ---------------------------------------------------------------------------

_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_V2_NAMES = {
    "*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler",
    "[": "text_link",
}
_V2_TITLES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
    "spoiler": "Spoiler", "text_link": "TextUrl", "code": "Code", "pre": "Pre",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[dict]]:
    out = _Builder(text)
    stack: list[tuple[str, int, int]] = []  # marker, start offset, source index
    quote_start: int | None = None
    i = 0
    while i < len(text):
        char = text[i]
        at_line_start = i == 0 or text[i - 1] == "\n"
        if at_line_start and quote_start is not None and char != ">":
            out.entity("blockquote", quote_start)
            if out.entities and i > 0:
                out.entities[-1]["length"] -= 1  # the line break ends the quote, outside it
            quote_start = None
        if char == "\\":
            if i + 1 >= len(text):
                raise MarkupError("Character '\\' is reserved and must be escaped with the preceding '\\'")
            out.add(text[i + 1])
            i += 2
            continue
        if char == ">" and at_line_start:
            if quote_start is None:
                quote_start = out.offset
            i += 1
            continue
        if char == "`":
            i = _v2_code(text, i, out)
            continue
        marker = text[i : i + 2] if text[i : i + 2] in ("__", "||") else char
        if marker in _V2_NAMES:
            i = _v2_toggle(text, i, marker, stack, out)
            continue
        if char == "]":
            if not stack or stack[-1][0] != "[":
                raise MarkupError("Character ']' is reserved and must be escaped with the preceding '\\'")
            i = _v2_link_target(text, i, stack, out)
            continue
        if char in _V2_RESERVED:
            raise MarkupError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(char)
        i += 1
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    if stack:
        marker, _, index = stack[-1]
        name = _V2_TITLES[_V2_NAMES[marker]]
        raise MarkupError(f"Can't find end of {name} entity at byte offset {out.byte_at(index)}")
    return out.result()


def _v2_toggle(text: str, i: int, marker: str, stack: list, out: _Builder) -> int:
    """Open or close a paired marker (``*``, ``_``, ``__``, ``~``, ``||``, ``[``)."""
    open_markers = [entry[0] for entry in stack]
    if marker != "[" and marker in open_markers:
        if stack[-1][0] != marker:
            inner, _, index = stack[-1]
            name = _V2_TITLES[_V2_NAMES[inner]]
            raise MarkupError(f"Can't find end of {name} entity at byte offset {out.byte_at(index)}")
        _, start, _ = stack.pop()
        out.entity(_V2_NAMES[marker], start)
    else:
        stack.append((marker, out.offset, i))
    return i + len(marker)


def _v2_link_target(text: str, i: int, stack: list, out: _Builder) -> int:
    """Close ``[text]`` with its ``(url)``; inside the url only ``)`` and ``\\`` are escaped."""
    _, start, index = stack.pop()
    if text[i + 1 : i + 2] != "(":
        raise MarkupError(f"Can't find end of TextUrl entity at byte offset {out.byte_at(index)}")
    j = i + 2
    url: list[str] = []
    while j < len(text) and text[j] != ")":
        if text[j] == "\\" and j + 1 < len(text):
            j += 1
        url.append(text[j])
        j += 1
    if j >= len(text):
        raise MarkupError(f"Can't find end of a URL at byte offset {out.byte_at(i + 1)}")
    target = "".join(url)
    user = re.fullmatch(r"tg://user\?id=(\d+)", target)
    if user:
        out.entity("text_mention", start, user={"id": int(user.group(1)), "is_bot": False, "first_name": ""})
    else:
        out.entity("text_link", start, url=target)
    return j + 1


def _v2_code(text: str, i: int, out: _Builder) -> int:
    """Inline ``code`` or a ```pre``` block; inside, only ` and \\ need escaping."""
    fence = "```" if text.startswith("```", i) else "`"
    j = i + len(fence)
    language = None
    if fence == "```":
        newline = text.find("\n", j)
        first_line = text[j:newline] if newline >= 0 else ""
        if newline >= 0 and re.fullmatch(r"[\w+#.-]*", first_line):
            language = first_line or None
            j = newline + 1
    start = out.offset
    while j < len(text):
        if text[j] == "\\" and j + 1 < len(text):
            out.add(text[j + 1])
            j += 2
            continue
        if text.startswith(fence, j):
            kind = "pre" if fence == "```" else "code"
            out.entity(kind, start, **({"language": language} if language else {}))
            return j + len(fence)
        out.add(text[j])
        j += 1
    name = "Pre" if fence == "```" else "Code"
    raise MarkupError(f"Can't find end of {name} entity at byte offset {out.byte_at(i)}")


# --- legacy Markdown ----------------------------------------------------------------------

_LEGACY = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown(text: str) -> tuple[str, list[dict]]:
    out = _Builder(text)
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if text.startswith("```", i) or char in _LEGACY:
            fence = "```" if text.startswith("```", i) else char
            close = text.find(fence, i + len(fence))
            if close < 0:
                raise MarkupError(
                    f"Can't find end of the entity starting at byte offset {out.byte_at(i)}"
                )
            start = out.offset
            out.add(text[i + len(fence) : close])
            out.entity("pre" if fence == "```" else _LEGACY[fence], start)
            i = close + len(fence)
            continue
        if char == "[":
            match = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(text, i)
            if not match:
                raise MarkupError(
                    f"Can't find end of the entity starting at byte offset {out.byte_at(i)}"
                )
            start = out.offset
            out.add(match.group(1))
            out.entity("text_link", start, url=match.group(2))
            i = match.end()
            continue
        out.add(char)
        i += 1
    return out.result()

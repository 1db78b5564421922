"""Neutral `Outgoing` messages -> Matrix event contents (pure: no network, no database).

One Outgoing may need several Matrix events (a long text, attachments, a poll with its
text fallback); `render` returns them in sending order as `Part`s. Parts that carry media
get their `mxc://` URL filled in after upload; a poll end gets the poll's event id.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from core import markup
from core.messages import Attachment, Outgoing, Poll

# Element and most clients still send and render the unstable MSC3381 names; responses in
# either form are accepted (see matrix_events.POLL_RESPONSE_TYPES).
POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
TEXT_LIMIT = 16_000  # characters; an event may be 64 KiB and HTML roughly doubles the text


@dataclass
class Part:
    """One Matrix event to send.

    `attachment` is uploaded first and its URL put into the content; `choices` maps answer
    ids (polls) or reaction keys (RSVP messages) to commands and is remembered after
    sending; `reactions` are keys the bot puts under its own message so members can click
    them; `close_ref` marks a poll end whose target the adapter looks up.
    """

    event_type: str
    content: dict[str, Any]
    attachment: Attachment | None = None
    choices: dict[str, str] = field(default_factory=dict)
    reactions: tuple[str, ...] = ()
    poll_ref: str | None = None
    close_ref: str | None = None


def text_content(text: str, msgtype: str = "m.notice") -> dict[str, Any]:
    """A message with a plain-text body and its HTML rendering.

    m.notice is Matrix's convention for automated messages: other bots must not answer
    them, so two bots in a room cannot loop.
    """
    body = markup.to_plain(text)
    formatted = markup.to_html(text).replace("\n", "<br>")
    content: dict[str, Any] = {"msgtype": msgtype, "body": body}
    if formatted != html.escape(body, quote=False):
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted
    return content


def reaction_key(label: str) -> str:
    """The reaction key standing for a choice: its label, trimmed."""
    return label.strip()[:64]


def choice_lines(options) -> list[str]:
    """Numbered options with the command that works without polls or reactions."""
    return [f"{i}. {c.label} — `{c.command}`" for i, c in enumerate(options, 1)]


def media_content(att: Attachment, url: str | None = None) -> dict[str, Any]:
    """m.audio / m.image / m.file content; voice notes flagged so clients play them as voice."""
    msgtype = {"voice": "m.audio", "audio": "m.audio", "image": "m.image"}.get(att.kind, "m.file")
    filename = att.filename or _default_name(att)
    info: dict[str, Any] = {"mimetype": att.mime_type, "size": att.size}
    content: dict[str, Any] = {"msgtype": msgtype, "body": filename, "filename": filename,
                               "info": info}
    if att.caption:  # MSC2530 captions: body is the caption when filename is separate
        caption = text_content(att.caption, msgtype)
        content["body"] = caption["body"]
        if "formatted_body" in caption:
            content["format"] = caption["format"]
            content["formatted_body"] = caption["formatted_body"]
    if url:
        content["url"] = url
    if msgtype == "m.audio":
        ms = int(round((att.duration or 0) * 1000))
        if ms:
            info["duration"] = ms
        content["org.matrix.msc1767.file"] = {"name": filename, "mimetype": att.mime_type,
                                              "size": att.size, **({"url": url} if url else {})}
        content["org.matrix.msc1767.audio"] = {"duration": ms}
        if att.kind == "voice":
            content["org.matrix.msc3245.voice"] = {}
    return content


def _default_name(att: Attachment) -> str:
    ext = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "image/png": ".png",
           "image/jpeg": ".jpg"}.get(att.mime_type, "")
    return f"{att.kind}{ext}"


def poll_start_content(poll: Poll) -> tuple[dict[str, Any], dict[str, str]]:
    """MSC3381 poll content and its answer id -> command map."""
    answers = [{"id": str(i), "org.matrix.msc1767.text": c.label}
               for i, c in enumerate(poll.options, 1)]
    numbered = [f"{i}. {c.label}" for i, c in enumerate(poll.options, 1)]
    fallback = "\n".join([poll.question, *numbered])
    content = {
        "org.matrix.msc3381.poll.start": {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "question": {"org.matrix.msc1767.text": poll.question, "body": poll.question,
                         "msgtype": "m.text"},
            "answers": answers,
        },
        "org.matrix.msc1767.text": fallback,
        "body": fallback,
    }
    return content, {str(i): c.command for i, c in enumerate(poll.options, 1)}


def poll_end_content(poll_event_id: str, text: str) -> dict[str, Any]:
    """MSC3381 poll end referring to the poll's start event."""
    return {
        "org.matrix.msc3381.poll.end": {},
        "org.matrix.msc1767.text": text,
        "body": text,
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
    }


def render(message: Outgoing, text_limit: int = TEXT_LIMIT) -> list[Part]:
    """The Matrix events that say `message`, in order."""
    parts: list[Part] = []
    if message.close_ref:
        parts.append(Part(POLL_END, poll_end_content("", markup.to_plain(message.text)),
                          close_ref=message.close_ref))
        return parts
    text = message.text
    choices: dict[str, str] = {}
    if message.choices:
        # No buttons on Matrix: each choice is a reaction key under the message, and the
        # typed command always works too.
        text = "\n".join([t for t in [text] if t] + choice_lines(message.choices))
        choices = {reaction_key(c.label): c.command for c in message.choices}
    if text:
        pieces = markup.split_text(text, text_limit)
        for piece in pieces:
            parts.append(Part("m.room.message", text_content(piece)))
        if choices:
            parts[-1].choices = choices
            parts[-1].reactions = tuple(choices)
    for att in message.attachments:
        parts.append(Part("m.room.message", media_content(att), attachment=att))
    if message.poll:
        # Clients without polls show nothing for a poll event: say it in text as well.
        fallback = "\n".join([f"**{message.poll.question}**", *choice_lines(message.poll.options)])
        parts.append(Part("m.room.message", text_content(fallback)))
        content, answer_map = poll_start_content(message.poll)
        parts.append(Part(POLL_START, content, choices=answer_map, poll_ref=message.poll.ref))
    if message.reply_to and parts:
        parts[0].content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.reply_to}}
    return parts

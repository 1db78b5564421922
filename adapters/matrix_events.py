"""Matrix events -> neutral `Incoming` messages (pure: no network, no database).

The adapter looks up what a pure function cannot know (the room's power levels and
display names, which poll or bot message an event answers) and hands it over in a
`MatrixEvent`; `to_incoming` only translates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from core.messages import Attachment, Incoming, ReplyTo, Sender

PLATFORM = "matrix"
# Power level from which a member counts as a room moderator (Matrix's conventional 50).
MODERATOR_LEVEL = 50

POLL_RESPONSE_TYPES = ("m.poll.response", "org.matrix.msc3381.poll.response")
POLL_START_TYPES = ("m.poll.start", "org.matrix.msc3381.poll.start")
VOICE_KEY = "org.matrix.msc3245.voice"
_MEDIA = {"m.audio": "audio", "m.image": "image", "m.file": "file", "m.video": "file"}


@dataclass(frozen=True)
class RoomView:
    """What the adapter knows about a room when an event arrives."""

    room_id: str
    title: str = ""
    is_direct: bool = False
    encrypted: bool = False
    # {"users": {user_id: level}, "users_default": 0}
    power_levels: dict[str, Any] = field(default_factory=dict)
    display_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MatrixEvent:
    """One event from a sync, with the context needed to translate it.

    `choices` maps answer ids (poll responses) or reaction keys (reactions) of the bot
    message this event relates to onto Tessera commands; empty when it relates to none.
    """

    room: RoomView
    event: dict[str, Any]
    bot_user_id: str
    bot_display_name: str = ""
    choices: dict[str, str] = field(default_factory=dict)


def power_level(power_levels: dict[str, Any], user_id: str) -> int:
    """A user's power level in a room (the room's default when not listed)."""
    users = power_levels.get("users") or {}
    try:
        return int(users.get(user_id, power_levels.get("users_default", 0)))
    except (TypeError, ValueError):
        return 0


def localpart(user_id: str) -> str:
    """"@ana:example.org" -> "ana"."""
    return user_id[1:].split(":", 1)[0] if user_id.startswith("@") else user_id


def relates_to(content: dict[str, Any]) -> dict[str, Any]:
    """The event's m.relates_to block ({} when absent or malformed)."""
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, dict) else {}


def poll_answers(content: dict[str, Any]) -> list[str]:
    """Answer ids chosen in a poll response, stable or unstable (MSC3381) form."""
    for key in ("org.matrix.msc3381.poll.response", "m.poll.response"):
        block = content.get(key)
        if isinstance(block, dict) and isinstance(block.get("answers"), list):
            return [str(a) for a in block["answers"]]
    selections = content.get("m.selections")
    return [str(a) for a in selections] if isinstance(selections, list) else []


def strip_reply_fallback(body: str) -> str:
    """Drop the "> <@ana:x> quoted text" lines clients put before a reply's own text."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    return "\n".join(lines[i:]).lstrip("\n")


def command_text(body: str, content: dict[str, Any], bot_user_id: str,
                 bot_display_name: str = "") -> str:
    """Turn "Tessera: circle info" or "@tessera:x circle info" into "/circle info".

    Text already starting with / or ! is returned as it is; so is ordinary talk. A name at
    the start counts as addressing the bot when followed by ":" or ",", or when the client
    marked the bot as mentioned (m.mentions).
    """
    text = body.strip()
    if text.startswith(("/", "!")):
        return text
    mentions = content.get("m.mentions")
    mentioned = isinstance(mentions, dict) and bot_user_id in (mentions.get("user_ids") or [])
    names = [bot_user_id, bot_display_name, "@" + localpart(bot_user_id), localpart(bot_user_id)]
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        if not text.lower().startswith(name.lower()):
            continue
        rest = text[len(name):]
        addressed = rest[:1] in (":", ",") or (mentioned and rest[:1] in (" ", "\n"))
        if name == bot_user_id and rest[:1] in (" ", "\n"):
            addressed = True  # a full Matrix id can only mean the bot
        if not addressed:
            continue
        rest = rest.lstrip(":, \n").strip()
        if rest:
            return rest if rest.startswith(("/", "!")) else "/" + rest
    return text


def _sender(view: RoomView, user_id: str) -> Sender:
    return Sender(
        user_id=user_id,
        display_name=view.display_names.get(user_id) or localpart(user_id),
        is_chat_admin=power_level(view.power_levels, user_id) >= MODERATOR_LEVEL,
    )


def _received_at(event: dict[str, Any]) -> datetime | None:
    ts = event.get("origin_server_ts")
    if not isinstance(ts, (int, float)):
        return None
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc)


def _attachment(content: dict[str, Any]) -> Attachment | None:
    msgtype = content.get("msgtype")
    kind = _MEDIA.get(msgtype or "")
    url = content.get("url")
    if kind is None or not isinstance(url, str):
        return None  # encrypted attachments carry "file" instead of "url": unreadable here
    if kind == "audio" and VOICE_KEY in content:
        kind = "voice"
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    body = str(content.get("body") or "")
    filename = str(content.get("filename") or body)
    # MSC2530: with a separate filename, the body is a caption.
    caption = body if content.get("filename") and body != filename else ""
    duration = info.get("duration")
    return Attachment(
        kind=kind,
        mime_type=str(info.get("mimetype") or "application/octet-stream"),
        size=int(info.get("size") or 0),
        filename=filename,
        duration=duration / 1000 if isinstance(duration, (int, float)) else None,
        platform_ref=url,
        caption=caption,
    )


def _member_event(raw: MatrixEvent, base: dict[str, Any]) -> Incoming | None:
    ev, view = raw.event, raw.room
    target = ev.get("state_key") or ""
    content = ev.get("content") or {}
    now = content.get("membership")
    prev_content = (ev.get("unsigned") or {}).get("prev_content") or ev.get("prev_content") or {}
    before = prev_content.get("membership")
    name = content.get("displayname") or view.display_names.get(target) or localpart(target)
    users = [{"user_id": target, "display_name": name}]
    system = Sender(user_id=ev.get("sender", ""), display_name="")
    if target == raw.bot_user_id:
        if now == "join" and before != "join":
            return Incoming(**base, sender=system, event="bot_added", data={"users": users})
        if now in ("leave", "ban") and before in ("join", "invite"):
            return Incoming(**base, sender=system, event="bot_removed", data={"users": users})
        return None
    if now == "join" and before != "join":
        return Incoming(**base, sender=system, event="joined", data={"users": users})
    if now in ("leave", "ban") and before == "join":
        return Incoming(**base, sender=system, event="left", data={"users": users})
    return None


def _power_event(raw: MatrixEvent, base: dict[str, Any]) -> Incoming | None:
    ev = raw.event
    now = ev.get("content") or {}
    before = (ev.get("unsigned") or {}).get("prev_content") or ev.get("prev_content") or {}
    promoted = [
        user for user in (now.get("users") or {})
        if user != raw.bot_user_id
        and power_level(now, user) >= MODERATOR_LEVEL
        and power_level(before, user) < MODERATOR_LEVEL
    ]
    if not promoted:
        return None
    users = [{"user_id": u, "display_name": raw.room.display_names.get(u) or localpart(u)}
             for u in sorted(promoted)]
    return Incoming(**base, sender=Sender(user_id=ev.get("sender", "")), event="admins",
                    data={"users": users})


def to_incoming(raw: MatrixEvent) -> Incoming | None:
    """Translate one Matrix event; None for events Tessera does not act on."""
    ev, view = raw.event, raw.room
    etype = ev.get("type")
    sender_id = ev.get("sender") or ""
    content = ev.get("content") if isinstance(ev.get("content"), dict) else {}
    base = dict(platform=PLATFORM, chat_id=view.room_id, chat_title=view.title,
                is_direct=view.is_direct, message_id=ev.get("event_id"),
                received_at=_received_at(ev))
    if etype == "m.room.member":
        return _member_event(raw, base)
    if sender_id == raw.bot_user_id:
        return None  # our own echo
    if etype == "m.room.power_levels":
        return _power_event(raw, base)
    if etype == "m.room.tombstone" and content.get("replacement_room"):
        return Incoming(**base, sender=Sender(user_id=sender_id), event="chat_moved",
                        data={"new_chat_id": content["replacement_room"]})
    sender = _sender(view, sender_id)
    if etype in POLL_RESPONSE_TYPES:
        answers = poll_answers(content)
        command = raw.choices.get(answers[0]) if answers else None
        return Incoming(**base, sender=sender, text=command) if command else None
    if etype == "m.reaction":
        key = relates_to(content).get("key")
        command = raw.choices.get(key) if isinstance(key, str) else None
        return Incoming(**base, sender=sender, text=command) if command else None
    if etype != "m.room.message":
        return None
    msgtype = content.get("msgtype")
    if msgtype == "m.notice" or relates_to(content).get("rel_type") == "m.replace":
        return None  # notices are other bots talking; edits are not new commands
    in_reply = relates_to(content).get("m.in_reply_to")
    reply_to = None
    if isinstance(in_reply, dict) and in_reply.get("event_id"):
        reply_to = ReplyTo(message_id=in_reply["event_id"])
    body = str(content.get("body") or "")
    if reply_to is not None:
        body = strip_reply_fallback(body)
    attachment = _attachment(content)
    if attachment is not None:
        return Incoming(**base, sender=sender, text=attachment.caption,
                        attachments=[attachment], reply_to=reply_to)
    if msgtype not in ("m.text", "m.emote"):
        return None
    text = command_text(body, content, raw.bot_user_id, raw.bot_display_name)
    return Incoming(**base, sender=sender, text=text, reply_to=reply_to)

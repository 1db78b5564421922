"""Pure translations between python-telegram-bot objects and Tessera's neutral messages.

Nothing here talks to Telegram, reads the clock or touches the database: incoming updates
become `Incoming` values (attachments still carry only Telegram's file id), and outgoing
messages become an ordered list of `Part`s, one per Bot API call, that the adapter sends.
"""
from __future__ import annotations

import datetime as dtm
import hashlib
import html
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from telegram import (
    CallbackQuery, ChatMemberUpdated, InlineKeyboardButton, InlineKeyboardMarkup, Message,
    PollAnswer, Update, User,
)

from core import markup
from core.messages import Attachment, Incoming, Outgoing, ReplyTo, Sender

PLATFORM = "telegram"
TEXT_LIMIT = 4096  # characters of visible text (counted in UTF-16 units by Telegram)
CAPTION_LIMIT = 1024
POLL_OPTIONS = (2, 10)  # Telegram accepts 2-10 options (recent Bot API versions allow 12)
POLL_QUESTION_LIMIT = 300
POLL_OPTION_LIMIT = 100
CALLBACK_DATA_LIMIT = 64  # bytes
LONG_BUTTON_PREFIX = "tsr:"  # callback data standing for a command too long to carry itself
# The updates Tessera asks for (chat_member is only delivered while the bot is an admin).
ALLOWED_UPDATES = ["message", "callback_query", "poll_answer", "my_chat_member", "chat_member"]
# The account Telegram shows when an anonymous group admin speaks "as the group".
ANONYMOUS_ADMIN_ID = 1087968824
_PRESENT = ("member", "administrator", "creator", "restricted")
_ADMIN = ("administrator", "creator")


# ---- incoming -------------------------------------------------------------------------------

def seconds(value: Any) -> float | None:
    """A Telegram duration (int seconds or timedelta, depending on PTB settings) in seconds."""
    if value is None:
        return None
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)


def _duration(media: Any) -> float | None:
    # PTB 22 warns when int durations are read; the value is the same either way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return seconds(getattr(media, "duration", None))


def sender_of(user: User | None, is_admin: bool = False) -> Sender:
    """A Telegram account as the core sees it."""
    if user is None:
        return Sender(user_id="unknown", display_name="")
    return Sender(user_id=str(user.id), display_name=user.full_name, is_chat_admin=is_admin,
                  is_bot=user.is_bot)


def attachments_of(message: Message) -> list[Attachment]:
    """Voice notes, audio, documents and photos of a message (not yet downloaded)."""
    found: list[Attachment] = []
    caption = message.caption or ""
    if message.voice:
        v = message.voice
        found.append(Attachment("voice", v.mime_type or "audio/ogg", v.file_size or 0, "",
                                _duration(v), platform_ref=v.file_id, caption=caption))
    if message.audio:
        a = message.audio
        found.append(Attachment("audio", a.mime_type or "audio/mpeg", a.file_size or 0,
                                a.file_name or a.title or "", _duration(a),
                                platform_ref=a.file_id, caption=caption))
    if message.document:
        d = message.document
        kind = "image" if (d.mime_type or "").startswith("image/") else "file"
        found.append(Attachment(kind, d.mime_type or "application/octet-stream",
                                d.file_size or 0, d.file_name or "", platform_ref=d.file_id,
                                caption=caption))
    if message.photo:
        p = message.photo[-1]  # the largest size Telegram made
        found.append(Attachment("image", "image/jpeg", p.file_size or 0, "",
                                platform_ref=p.file_id, caption=caption))
    return found


def _chat_fields(message: Message) -> dict[str, Any]:
    chat = message.chat
    return {"platform": PLATFORM, "chat_id": str(chat.id),
            "chat_title": chat.title or chat.full_name or "",
            "is_direct": chat.type == "private"}


def _users(users) -> list[dict[str, str]]:
    return [{"user_id": str(u.id), "display_name": u.full_name} for u in users if not u.is_bot]


def message_to_incoming(message: Message, bot_id: int, bot_username: str = "") -> Incoming | None:
    """A message or service message; None when Tessera has nothing to do with it."""
    base = _chat_fields(message)
    who = sender_of(message.from_user)
    if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        # An anonymous admin speaking as the group: an admin, but no person we can name.
        who = Sender(user_id=f"chat{message.chat.id}", display_name=message.chat.title or "",
                     is_chat_admin=True)
    elif message.sender_chat is not None or message.is_automatic_forward:
        return None  # a channel posting into the group, not a person
    if message.migrate_to_chat_id:
        return Incoming(**base, sender=who, event="chat_moved",
                        data={"new_chat_id": str(message.migrate_to_chat_id)})
    if message.migrate_from_chat_id:
        # Arrives in the new supergroup; name the old chat so its circle is found.
        base["chat_id"] = str(message.migrate_from_chat_id)
        return Incoming(**base, sender=who, event="chat_moved",
                        data={"new_chat_id": str(message.chat.id)})
    if message.new_chat_members:
        people = _users(message.new_chat_members)
        if not people:
            return None  # only the bot itself joined: my_chat_member says so
        return Incoming(**base, sender=who, event="joined", data={"users": people})
    if message.left_chat_member:
        people = _users([message.left_chat_member])
        if not people:
            return None
        return Incoming(**base, sender=who, event="left", data={"users": people})
    text = message.text or message.caption or ""
    if not _for_us(text, bot_username):
        return None
    reply = None
    r = message.reply_to_message
    if r is not None:
        reply = ReplyTo(message_id=str(r.message_id), text=r.text or r.caption or "",
                        sender_id=str(r.from_user.id) if r.from_user else None,
                        attachments=attachments_of(r))
    found = attachments_of(message)
    if not text and not found and reply is None:
        return None  # stickers, locations, games...
    return Incoming(**base, sender=who, text=text, message_id=str(message.message_id),
                    reply_to=reply, attachments=found,
                    received_at=message.date.astimezone(dtm.timezone.utc) if message.date else None)


_ADDRESSED = re.compile(r"^[/!][A-Za-z0-9_-]+@([A-Za-z0-9_]+)")


def _for_us(text: str, bot_username: str) -> bool:
    """False for `/cmd@another_bot`: in a group with several bots, only ours is ours."""
    m = _ADDRESSED.match(text or "")
    return not (m and bot_username and m.group(1).lower() != bot_username.lower())


def member_update_to_incoming(change: ChatMemberUpdated, bot_id: int) -> Incoming | None:
    """my_chat_member (the bot) and chat_member (anyone, when the bot is an admin)."""
    chat = change.chat
    base = {"platform": PLATFORM, "chat_id": str(chat.id), "chat_title": chat.title or "",
            "is_direct": chat.type == "private", "sender": sender_of(change.from_user)}
    old, new = change.old_chat_member.status, change.new_chat_member.status
    user = change.new_chat_member.user
    if user.id == bot_id:
        if chat.type == "private":
            return None  # a person blocking or unblocking the bot is not a circle event
        if new in _PRESENT and old not in _PRESENT:
            return Incoming(**base, event="bot_added")
        if new not in _PRESENT and old in _PRESENT:
            return Incoming(**base, event="bot_removed")
        return None
    people = _users([user])
    if not people:
        return None
    if new in _ADMIN and old not in _ADMIN:
        return Incoming(**base, event="admins", data={"users": people})
    if new in _PRESENT and old not in _PRESENT:
        return Incoming(**base, event="joined", data={"users": people})
    if new not in _PRESENT and old in _PRESENT:
        return Incoming(**base, event="left", data={"users": people})
    return None


def callback_to_incoming(query: CallbackQuery, command: str) -> Incoming | None:
    """A button press: the pressing person "says" the button's command in its chat."""
    message = query.message
    if message is None or not command:
        return None
    return Incoming(platform=PLATFORM, chat_id=str(message.chat.id),
                    chat_title=getattr(message.chat, "title", None) or "",
                    is_direct=message.chat.type == "private",
                    sender=sender_of(query.from_user), text=command)


def poll_answer_to_incomings(answer: PollAnswer, record: dict[str, Any]) -> list[Incoming]:
    """A vote on a native poll: one Incoming per chosen option, its command as text.

    `record` is what the adapter remembered when it sent the poll (chat, commands). A
    retracted vote (no options) says nothing: the core's ballots take the last vote.
    """
    if answer.user is None:
        return []  # an anonymous admin voting "as the chat": no person to count
    commands = record.get("commands", [])
    return [Incoming(platform=PLATFORM, chat_id=str(record["chat_id"]),
                     is_direct=bool(record.get("direct")), sender=sender_of(answer.user),
                     text=commands[i])
            for i in answer.option_ids if 0 <= i < len(commands)]


def update_to_incoming(update: Update, bot_id: int, bot_username: str = "") -> Incoming | None:
    """Everything that needs no remembered state (polls votes do: see the adapter)."""
    if update.message is not None:
        return message_to_incoming(update.message, bot_id, bot_username)
    if update.my_chat_member is not None:
        return member_update_to_incoming(update.my_chat_member, bot_id)
    if update.chat_member is not None:
        return member_update_to_incoming(update.chat_member, bot_id)
    if update.callback_query is not None and not (update.callback_query.data or "").startswith(
            LONG_BUTTON_PREFIX):
        return callback_to_incoming(update.callback_query, update.callback_query.data or "")
    return None


# ---- outgoing -------------------------------------------------------------------------------

@dataclass
class Part:
    """One Bot API call of an outgoing message, in the order they must be made.

    `method` names the PTB Bot method; `params` are its keyword arguments except the chat
    and the file. `media` is the attachment whose stored bytes go with it. `plain` is the
    text to fall back to if Telegram refuses the HTML. `buttons` maps long callback data to
    the command it stands for (the adapter remembers them).
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    media: Attachment | None = None
    plain: str | None = None
    poll_commands: list[str] = field(default_factory=list)
    poll_ref: str | None = None
    close_ref: str | None = None
    buttons: dict[str, str] = field(default_factory=dict)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def visible(html_text: str) -> str:
    """What members read once Telegram has parsed the HTML."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def split_for_telegram(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split light markup into pieces whose rendered text fits Telegram's limit.

    core.markup.split_text cuts at paragraphs, lines and spaces and never inside a markup
    token; a piece whose visible text is still too long (astral characters count twice in
    UTF-16) is split again, finer.
    """
    out: list[str] = []
    for piece in markup.split_text(text, limit):
        if utf16_len(visible(markup.to_html(piece))) <= limit or limit < 64:
            out.append(piece)
        else:
            out.extend(split_for_telegram(piece, limit // 2))
    return [p for p in out if p.strip()] or ([text] if text.strip() else [])


def callback_data(command: str) -> str:
    """The button's data: the command itself when it fits in 64 bytes, else a stand-in."""
    if len(command.encode()) <= CALLBACK_DATA_LIMIT:
        return command
    return LONG_BUTTON_PREFIX + hashlib.sha256(command.encode()).hexdigest()[:32]


def keyboard(choices) -> tuple[InlineKeyboardMarkup | None, dict[str, str]]:
    """Inline keyboard for choices: short labels side by side, long ones a row each."""
    if not choices:
        return None, {}
    long_ones = {callback_data(c.command): c.command for c in choices
                 if callback_data(c.command) != c.command}
    buttons = [InlineKeyboardButton(c.label[:64], callback_data=callback_data(c.command))
               for c in choices]
    per_row = 3 if all(len(c.label) <= 12 for c in choices) else 1
    rows = [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(rows), long_ones


def _text_parts(text: str) -> list[Part]:
    return [Part("send_message", {"text": markup.to_html(p), "parse_mode": "HTML"},
                 plain=markup.to_plain(p)) for p in split_for_telegram(text)]


_MEDIA_METHOD = {"voice": ("send_voice", "voice"), "audio": ("send_audio", "audio"),
                 "image": ("send_photo", "photo"), "file": ("send_document", "document")}


def _media_part(att: Attachment) -> list[Part]:
    method, _ = _MEDIA_METHOD.get(att.kind, _MEDIA_METHOD["file"])
    params: dict[str, Any] = {}
    if att.kind in ("voice", "audio") and att.duration:
        params["duration"] = int(round(att.duration))
    if att.kind == "audio" and att.filename:
        params["title"] = att.filename.rsplit(".", 1)[0]
    parts: list[Part] = []
    if att.caption:
        rendered = markup.to_html(att.caption)
        if utf16_len(visible(rendered)) <= CAPTION_LIMIT:
            params.update(caption=rendered, parse_mode="HTML")
        else:  # too long to ride along: say it first, then send the file bare
            parts.extend(_text_parts(att.caption))
    parts.append(Part(method, params, media=att,
                      plain=markup.to_plain(att.caption) if att.caption else None))
    return parts


def _fits_native_poll(poll) -> bool:
    low, high = POLL_OPTIONS
    return low <= len(poll.options) <= high


def render_parts(message: Outgoing) -> list[Part]:
    """The Bot API calls that say `message`, in order.

    Text (split at Telegram's limit), then attachments, then a native poll (or numbered
    buttons when it cannot be one), then stopping a poll. Buttons go under the last text or
    file sent; the first call answers `reply_to`.
    """
    parts: list[Part] = []
    if message.text.strip():
        parts.extend(_text_parts(message.text))
    for att in message.attachments:
        parts.extend(_media_part(att))
    markup_kb, long_ones = keyboard(message.choices)
    if markup_kb is not None:
        if not parts:  # buttons need something to hang under
            parts.extend(_text_parts(message.poll.question if message.poll else "👇"))
        parts[-1].params["reply_markup"] = markup_kb
        parts[-1].buttons.update(long_ones)
    if message.poll is not None:
        poll = message.poll
        if _fits_native_poll(poll):
            parts.append(Part("send_poll", {
                "question": poll.question[:POLL_QUESTION_LIMIT],
                "options": [o.label[:POLL_OPTION_LIMIT] for o in poll.options],
                # Votes must name the voter (one vote per person), so never anonymous.
                "is_anonymous": False, "allows_multiple_answers": False,
            }, poll_commands=[o.command for o in poll.options], poll_ref=poll.ref))
        else:
            lines = [f"**{poll.question}**"] + [f"{i}. {o.label}  →  `{o.command}`"
                                                for i, o in enumerate(poll.options, 1)]
            fallback = _text_parts("\n".join(lines))
            kb, more = keyboard(poll.options)
            fallback[-1].params["reply_markup"] = kb
            fallback[-1].buttons.update(more)
            parts.extend(fallback)
    if message.close_ref:
        parts.append(Part("stop_poll", close_ref=message.close_ref))
    return parts

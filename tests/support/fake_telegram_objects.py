"""The people, chats, files, polls and records the fake Telegram server keeps.

Each object knows how to render itself as Bot API JSON (``to_api``), shaped so
the real python-telegram-bot parses it without complaint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ApiError", "FakeChat", "FakePoll", "FakeUser", "RefusedSend", "SentRecord", "StoredFile",
    "chat_member",
]


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code", "description", "parameters"}``."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def to_api(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str, **parameters: Any) -> ApiError:
    """``400 Bad Request: <reason>``, the Bot API's answer to most invalid calls."""
    return ApiError(400, f"Bad Request: {reason}", parameters or None)


@dataclass
class FakeUser:
    """A Telegram account: an organiser, a member, or the bot itself."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False

    def to_api(self) -> dict:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for name in ("last_name", "username", "language_code"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data


@dataclass
class FakeChat:
    """A private chat, group or supergroup, with who is in it and where the bot stands."""

    id: int
    type: str  # "private", "group" or "supergroup"
    title: str | None = None
    user: FakeUser | None = None  # the other side of a private chat
    admins: list[FakeUser] = field(default_factory=list)  # the first one is the creator
    members: dict[int, FakeUser] = field(default_factory=dict)
    bot_status: str = "member"  # "member", "administrator", "left" or "kicked"
    username: str | None = None
    started: bool = False  # private chats: the user has opened the conversation
    blocked: bool = False  # private chats: the user blocked the bot
    migrated_to: int | None = None
    next_message_id: int = 1

    @property
    def is_group(self) -> bool:
        """Groups and supergroups share Telegram's group flood limit."""
        return self.type != "private"

    def to_api(self) -> dict:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private" and self.user:
            data.update({k: v for k, v in self.user.to_api().items()
                         if k in ("first_name", "last_name", "username")})
        else:
            data["title"] = self.title
        if self.username:
            data["username"] = self.username
        return data

    def full_info(self) -> dict:
        """``ChatFullInfo`` as getChat returns it."""
        data = self.to_api()
        data.update({
            "accent_color_id": abs(self.id) % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                "premium_subscription": False, "gifts_from_channels": False,
            },
        })
        if self.is_group:
            data["permissions"] = {
                "can_send_messages": True, "can_send_audios": True, "can_send_documents": True,
                "can_send_photos": True, "can_send_voice_notes": True, "can_send_polls": True,
                "can_send_other_messages": True, "can_invite_users": True,
            }
        return data

    def status_of(self, user: FakeUser, bot_id: int) -> str:
        """The member status Telegram would report for ``user`` here."""
        if user.id == bot_id:
            return self.bot_status
        if self.admins and self.admins[0].id == user.id:
            return "creator"
        if any(admin.id == user.id for admin in self.admins):
            return "administrator"
        if user.id in self.members or (self.user and self.user.id == user.id):
            return "member"
        return "left"


def chat_member(user: FakeUser, status: str) -> dict:
    """A ``ChatMember`` object of the given status, with every field PTB requires."""
    data: dict[str, Any] = {"status": status, "user": user.to_api()}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        rights = dict.fromkeys((
            "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
            "can_restrict_members", "can_change_info", "can_invite_users", "can_pin_messages",
        ), True)
        rights.update(dict.fromkeys((
            "can_be_edited", "is_anonymous", "can_promote_members", "can_post_stories",
            "can_edit_stories", "can_delete_stories", "can_manage_topics",
        ), False))
        data.update(rights)
    elif status == "kicked":
        data["until_date"] = 0
    return data


@dataclass
class StoredFile:
    """An uploaded (or user-sent) file, downloadable through getFile."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes | None  # None when the bot sent it by URL: the fake fetches nothing
    mime_type: str | None = None
    file_name: str | None = None

    @property
    def file_size(self) -> int:
        return len(self.data or b"")

    def to_api(self, **extra: Any) -> dict:
        """The media object (Voice, Audio, Document...) fields common to every kind."""
        data: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.data is not None:
            data["file_size"] = self.file_size
        if self.file_name:
            data["file_name"] = self.file_name
        if self.mime_type:
            data["mime_type"] = self.mime_type
        data.update({k: v for k, v in extra.items() if v is not None})
        return data


@dataclass
class FakePoll:
    """A poll the bot sent, with each voter's current choice."""

    id: str
    chat_id: int
    message_id: int
    question: str
    options: list[str]
    is_anonymous: bool = True
    type: str = "regular"
    allows_multiple_answers: bool = False
    correct_option_ids: list[int] = field(default_factory=list)
    allows_revoting: bool = True
    members_only: bool = False
    open_period: int | None = None
    is_closed: bool = False
    votes: dict[int, list[int]] = field(default_factory=dict)  # user id -> option ids

    def option_key(self, option_id: int) -> str:
        """The option's ``persistent_id`` (Bot API 9.6): stable even if options are added."""
        return f"{self.id}-{option_id}"

    def tally(self) -> list[int]:
        """Votes per option, in option order."""
        counts = [0] * len(self.options)
        for chosen in self.votes.values():
            for option_id in chosen:
                counts[option_id] += 1
        return counts

    def to_api(self) -> dict:
        data: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "options": [{"text": text, "voter_count": count, "persistent_id": self.option_key(i)}
                        for i, (text, count) in enumerate(zip(self.options, self.tally()))],
            "total_voter_count": sum(1 for chosen in self.votes.values() if chosen),
            "is_closed": self.is_closed,
            "is_anonymous": self.is_anonymous,
            "type": self.type,
            "allows_multiple_answers": self.allows_multiple_answers,
            "allows_revoting": self.allows_revoting,
            "members_only": self.members_only,
        }
        if self.correct_option_ids:
            data["correct_option_ids"] = self.correct_option_ids
        if self.open_period is not None:
            data["open_period"] = self.open_period
        return data


@dataclass
class SentRecord:
    """One accepted bot call that changed a chat: a send, an edit, a stopped poll, a deletion.

    ``kind`` is "text", "voice", "audio", "photo", "document", "poll", "edit",
    "edit_markup", "stop_poll" or "delete". ``text`` is what members read (after
    parse_mode, or the caption or poll question); ``params`` holds the raw call.
    ``time`` is the server's monotonic clock when the call was accepted.
    """

    method: str
    chat_id: int
    kind: str
    text: str | None
    time: float
    message_id: int | None
    message: dict | None
    params: dict[str, Any]
    file_bytes: bytes | None = None
    file_name: str | None = None
    mime_type: str | None = None
    reply_markup: dict | None = None
    parse_mode: str | None = None
    reply_to: int | None = None

    @property
    def buttons(self) -> list[dict]:
        """The inline keyboard's buttons, row after row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]


@dataclass(frozen=True)
class RefusedSend:
    """A send answered with 429: which chat, which limit ("chat"/"global"), for how long."""

    method: str
    chat_id: int
    scope: str
    retry_after: int
    time: float

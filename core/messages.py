"""Neutral messages: what adapters hand to the core and what the core asks them to say.

Incoming messages carry no platform objects, only ids and plain data. Outgoing messages are
plain data too, so they can be stored as JSON in the outbox and rendered later by whichever
adapter delivers them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

AttachmentKind = Literal["voice", "audio", "image", "file"]


@dataclass
class Attachment:
    """A piece of media. `path` is relative to the media store once stored."""

    kind: AttachmentKind
    mime_type: str = "application/octet-stream"
    size: int = 0
    filename: str = ""
    duration: float | None = None  # seconds, for voice and audio
    path: str | None = None  # media-store key (content address) once downloaded
    platform_ref: str | None = None  # the platform's file id, before download
    caption: str = ""


@dataclass
class Sender:
    """Who sent an incoming message, as the platform knows them."""

    user_id: str
    display_name: str = ""
    is_chat_admin: bool = False
    is_bot: bool = False


@dataclass
class ReplyTo:
    """The message an incoming message answers."""

    message_id: str
    text: str = ""
    sender_id: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class Incoming:
    """A neutral incoming message or chat event.

    `event` is None for ordinary messages and commands; adapters use it for membership and
    chat changes: "joined", "left", "admins", "bot_added", "bot_removed", "chat_moved",
    "chat_deleted". `data` carries the event's details (e.g. `{"new_chat_id": ...}`).
    """

    platform: str
    chat_id: str
    sender: Sender
    text: str = ""
    message_id: str | None = None
    chat_title: str = ""
    is_direct: bool = False
    reply_to: ReplyTo | None = None
    attachments: list[Attachment] = field(default_factory=list)
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None


@dataclass
class Choice:
    """A button or poll option: a label and the command it stands for."""

    label: str
    command: str


@dataclass
class Poll:
    """A native poll where the platform has one; numbered choices otherwise.

    `ref` names what the poll belongs to (for example "ballot:12") so that a later
    `close_ref` can stop it.
    """

    question: str
    options: list[Choice]
    ref: str


@dataclass
class Outgoing:
    """Something the core wants said in a chat.

    Text uses light markup understood by every renderer: **bold**, __italic__, `code` and
    [label](url). `close_ref` asks the adapter to stop the native poll opened with that ref.
    """

    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    poll: Poll | None = None
    close_ref: str | None = None
    reply_to: str | None = None
    lang: str = "en"

    def to_json(self) -> dict[str, Any]:
        """Plain data for the outbox."""
        # Field by field: every command writes one, and asdict's deep copy of plain strings
        # cost more than the row's INSERT.
        return {"text": self.text, "attachments": [asdict(a) for a in self.attachments],
                "choices": [asdict(c) for c in self.choices],
                "poll": asdict(self.poll) if self.poll is not None else None,
                "close_ref": self.close_ref, "reply_to": self.reply_to, "lang": self.lang}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Outgoing":
        """Rebuild from outbox data."""
        data = dict(data)
        data["attachments"] = [Attachment(**a) for a in data.get("attachments", [])]
        data["choices"] = [Choice(**c) for c in data.get("choices", [])]
        poll = data.get("poll")
        if poll:
            data["poll"] = Poll(
                question=poll["question"],
                options=[Choice(**o) for o in poll["options"]],
                ref=poll["ref"],
            )
        return cls(**data)

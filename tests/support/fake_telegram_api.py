"""The Bot API methods of the fake Telegram server: what the bot may call, and how it is refused.

``BotApiMethods`` is mixed into ``FakeTelegram`` (``fake_telegram``) and works on its
state: chats, messages, files, polls, the update queue and flood control. A method
named ``_m_<name>`` answers the Bot API method ``<name>`` (case-insensitively, as
Telegram does) with its ``result``, or raises ``ApiError`` for an error answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from tests.support.fake_telegram_limits import TelegramLimits
from tests.support.fake_telegram_markup import MarkupError, parse_text, utf16_len
from tests.support.fake_telegram_objects import (
    ApiError, FakeChat, FakePoll, FakeUser, RefusedSend, SentRecord, StoredFile, bad_request,
    chat_member,
)

__all__ = ["BotApiMethods", "MEDIA"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
POLL_OPTIONS = range(2, 13)  # Bot API 9.1 raised the maximum from 10 to 12

MEDIA = {  # kind -> (file_id prefix, folder on the file server, extension when unknown)
    "voice": ("AwACAgIAAxkBAAI", "voice", "oga"),
    "audio": ("CQACAgIAAxkBAAI", "music", "mp3"),
    "photo": ("AgACAgIAAxkBAAI", "photos", "jpg"),
    "document": ("BQACAgIAAxkBAAI", "documents", "bin"),
}


def _voice_mime(data: bytes) -> str | None:
    """The audio type Telegram accepts as a voice note, from the file's first bytes."""
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if data[4:8] == b"ftyp":
        return "audio/mp4"
    return None


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG or JPEG, read from its header; (0, 0) if unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    i = 2
    while data.startswith(b"\xff\xd8") and i + 9 < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    return 0, 0


class BotApiMethods:
    """The bot's side of the fake server (a mixin: ``FakeTelegram`` holds the state).

    It also relies on FakeTelegram's ``_new_message``, ``_enqueue``, ``_store`` and
    ``_bot_status_change``, which the test's pushes use too.
    """

    bot_user: FakeUser
    users: dict[int, FakeUser]
    chats: dict[int, FakeChat]
    messages: dict[tuple[int, int], dict]
    files: dict[str, StoredFile]
    polls: dict[str, FakePoll]
    sent: list[SentRecord]
    refused: list[RefusedSend]
    callback_answers: list[dict]
    commands: dict[tuple[str, str], list[dict]]
    webhook: dict | None
    privacy_mode: bool
    limits: TelegramLimits
    clock: Callable[[], float]

    # ---- parameter reading ----------------------------------------------------------------

    @staticmethod
    def _str(params: dict, name: str) -> str | None:
        value = params.get(name)
        return value if value is None or isinstance(value, str) else json.dumps(value)

    @staticmethod
    def _int(params: dict, name: str, default: int | None = None) -> int | None:
        value = params.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    @staticmethod
    def _bool(params: dict, name: str, default: bool = False) -> bool:
        value = params.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1")

    @staticmethod
    def _json(params: dict, name: str) -> Any:
        value = params.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None

    # ---- the bot's side: shared checks for everything that posts into a chat -----------

    def _target_chat(self, params: dict) -> FakeChat:
        """The chat a call addresses, refused the way Telegram refuses it."""
        raw = params.get("chat_id")
        if raw in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username == raw[1:]), None)
        else:
            chat_id = self._int(params, "chat_id")
            chat = self.chats.get(chat_id)
            if chat is None and chat_id in self.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise bad_request("group chat was upgraded to a supergroup chat",
                              migrate_to_chat_id=chat.migrated_to)
        if chat.type == "private":
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        elif chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        return chat

    def _admit(self, method: str, chat: FakeChat) -> None:
        """Flood control: raise 429 with retry_after, or count this send."""
        now = self.clock()
        refusal = self._flood.admit(chat.id, chat.is_group, now)
        if refusal is not None:
            self.refused.append(RefusedSend(method, chat.id, refusal.scope, refusal.retry_after, now))
            raise ApiError(429, f"Too Many Requests: retry after {refusal.retry_after}",
                           {"retry_after": refusal.retry_after})

    def _reply_target(self, chat: FakeChat, params: dict) -> int | None:
        reply = self._json(params, "reply_parameters") or {}
        message_id = reply.get("message_id") or self._int(params, "reply_to_message_id")
        if message_id is None:
            return None
        if (chat.id, int(message_id)) not in self.messages:
            lenient = reply.get("allow_sending_without_reply") or self._bool(
                params, "allow_sending_without_reply")
            if lenient:
                return None
            raise bad_request("message to be replied not found")
        return int(message_id)

    def _reply_markup(self, params: dict) -> dict | None:
        """The inline keyboard to show under the message (other keyboards are not echoed)."""
        markup = self._json(params, "reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        for row in markup["inline_keyboard"]:
            for button in row:
                if not isinstance(button.get("text"), str):
                    raise bad_request('can\'t parse inline keyboard button: Field "text" must be '
                                      'of type String')
                if not set(button) - {"text", "style", "icon_custom_emoji_id"}:
                    raise bad_request("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def _formatted(self, params: dict, name: str, limit: int, too_long: str) -> tuple[str, list]:
        raw = self._str(params, name) or ""
        try:
            text, entities = parse_text(raw, self._str(params, "parse_mode"))
        except MarkupError as err:
            raise bad_request(f"can't parse entities: {err}") from None
        if utf16_len(text) > limit:
            raise bad_request(too_long)
        return text, entities

    def _caption(self, params: dict) -> dict:
        text, entities = self._formatted(params, "caption", MAX_CAPTION, "message caption is too long")
        content: dict[str, Any] = {}
        if text:
            content["caption"] = text
        if entities:
            content["caption_entities"] = entities
        return content

    def _post(self, method: str, params: dict, kind: str,
              build: Callable[[FakeChat], tuple[dict, StoredFile | None]]) -> dict:
        """Validate, flood-check, create and record one message the bot sends."""
        chat = self._target_chat(params)
        reply_to = self._reply_target(chat, params)
        markup = self._reply_markup(params)
        content, stored = build(chat)
        self._admit(method, chat)
        if markup:
            content["reply_markup"] = markup
        message = self._new_message(chat, self.bot_user, content, reply_to)
        shown = content.get("text", content.get("caption"))
        if kind == "poll":
            shown = content["poll"]["question"]
        self.sent.append(SentRecord(
            method=method, chat_id=chat.id, kind=kind, text=shown, time=self.clock(),
            message_id=message["message_id"], message=message, params=params,
            file_bytes=stored.data if stored else None,
            file_name=stored.file_name if stored else None,
            mime_type=stored.mime_type if stored else None,
            reply_markup=markup, parse_mode=self._str(params, "parse_mode"), reply_to=reply_to,
        ))
        return message

    def _media(self, params: dict, uploads: dict, field: str, kind: str) -> StoredFile:
        """The file a send carries: a fresh upload, a known file_id, or a URL."""
        if field in uploads:
            file_name, content_type, data = uploads[field]
            if len(data) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            if kind == "voice":
                voice_type = _voice_mime(data)
                if voice_type is None:
                    kind = "document"  # not OGG, MP3 or M4A: Telegram sends it as a file
                content_type = voice_type or content_type
            if kind in ("voice", "photo"):
                file_name = None  # Telegram keeps no names for voice notes and photos
            return self._store(kind, data, mime_type=content_type, file_name=file_name)
        reference = self._str(params, field)
        if not reference:
            raise bad_request(f"there is no {field} in the request")
        if reference in self.files:
            return self.files[reference]
        if reference.startswith(("http://", "https://")):
            return self._store(kind, None, file_name=reference.rsplit("/", 1)[-1] or None)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _media_kind(self, stored: StoredFile) -> str:
        return next(k for k, (prefix, _, _) in MEDIA.items() if stored.file_id.startswith(prefix))

    # ---- Bot API methods (``_m_<name>``; Telegram's names are case-insensitive) ----------

    async def _m_getMe(self, params: dict, uploads: dict) -> dict:
        return {**self.bot_user.to_api(), "can_join_groups": True,
                "can_read_all_group_messages": not self.privacy_mode,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    async def _m_logOut(self, params: dict, uploads: dict) -> bool:
        return True

    async def _m_close(self, params: dict, uploads: dict) -> bool:
        return True

    async def _m_getUpdates(self, params: dict, uploads: dict) -> list[dict]:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = self._int(params, "offset")
        limit = min(max(self._int(params, "limit", 100), 1), 100)
        timeout = max(self._int(params, "timeout", 0), 0)
        allowed = self._json(params, "allowed_updates")
        if allowed is not None:
            self._allowed_updates = set(allowed) or None
        if offset is not None:
            if offset < 0:  # keep only the last -offset updates
                del self._updates[: max(len(self._updates) + offset, 0)]
            else:  # everything before offset is confirmed
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        me = object()
        self._poller = me
        self._changed.fire()  # an older long poll notices it has been superseded
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._updates or timeout == 0 or self._closing:
                return self._updates[:limit]
            if self._poller is not me:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure "
                                    "that only one bot instance is running")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            await self._changed.wait(remaining)

    async def _m_setWebhook(self, params: dict, uploads: dict) -> bool:
        url = self._str(params, "url") or ""
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": url, "secret_token": self._str(params, "secret_token"),
                        "allowed_updates": self._json(params, "allowed_updates"),
                        "max_connections": self._int(params, "max_connections", 40)} if url else None
        if self._bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_deleteWebhook(self, params: dict, uploads: dict) -> bool:
        self.webhook = None
        if self._bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, params: dict, uploads: dict) -> dict:
        info = {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
        return info

    def _commands_key(self, params: dict) -> tuple[str, str]:
        scope = self._json(params, "scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), self._str(params, "language_code") or ""

    async def _m_setMyCommands(self, params: dict, uploads: dict) -> bool:
        commands = self._json(params, "commands") or []
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for entry in commands:
            name = entry.get("command", "")
            if not (1 <= len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_" for c in name)):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(entry.get("description", "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands]
        return True

    async def _m_getMyCommands(self, params: dict, uploads: dict) -> list[dict]:
        return self.commands.get(self._commands_key(params), [])

    async def _m_deleteMyCommands(self, params: dict, uploads: dict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _m_sendChatAction(self, params: dict, uploads: dict) -> bool:
        self._target_chat(params)
        return True

    async def _m_sendMessage(self, params: dict, uploads: dict) -> dict:
        def build(chat: FakeChat) -> tuple[dict, None]:
            text, entities = self._formatted(params, "text", MAX_TEXT, "message is too long")
            if not text.strip():
                raise bad_request("message text is empty")
            return {"text": text, **({"entities": entities} if entities else {})}, None
        return self._post("sendMessage", params, "text", build)

    def _send_media(self, method: str, params: dict, uploads: dict, field: str) -> dict:
        def build(chat: FakeChat) -> tuple[dict, StoredFile]:
            content = self._caption(params)
            stored = self._media(params, uploads, field, field)
            kind = self._media_kind(stored)
            duration = self._int(params, "duration")
            if kind == "voice":
                content["voice"] = stored.to_api(duration=duration or 0)
            elif kind == "audio":
                content["audio"] = stored.to_api(duration=duration or 0,
                                                 title=self._str(params, "title"),
                                                 performer=self._str(params, "performer"))
            elif kind == "photo":
                width, height = _image_size(stored.data or b"")
                content["photo"] = [stored.to_api(width=width, height=height)]
            else:
                content["document"] = stored.to_api()
            return content, stored
        return self._post(method, params, field, build)

    async def _m_sendVoice(self, params: dict, uploads: dict) -> dict:
        return self._send_media("sendVoice", params, uploads, "voice")

    async def _m_sendAudio(self, params: dict, uploads: dict) -> dict:
        return self._send_media("sendAudio", params, uploads, "audio")

    async def _m_sendPhoto(self, params: dict, uploads: dict) -> dict:
        return self._send_media("sendPhoto", params, uploads, "photo")

    async def _m_sendDocument(self, params: dict, uploads: dict) -> dict:
        return self._send_media("sendDocument", params, uploads, "document")

    async def _m_sendPoll(self, params: dict, uploads: dict) -> dict:
        def build(chat: FakeChat) -> tuple[dict, None]:
            question = self._str(params, "question") or ""
            options = [o["text"] if isinstance(o, dict) else str(o)
                       for o in self._json(params, "options") or []]
            if not question.strip():
                raise bad_request("poll question must be non-empty")
            if len(question) > 300:
                raise bad_request("poll question length must not exceed 300")
            if len(options) not in POLL_OPTIONS:
                raise bad_request(f"poll must have {POLL_OPTIONS.start}-{POLL_OPTIONS.stop - 1} options")
            if any(not o.strip() for o in options):
                raise bad_request("poll options must be non-empty")
            if any(len(o) > 100 for o in options):
                raise bad_request("poll options length must not exceed 100")
            open_period = self._int(params, "open_period")
            if open_period is not None and not 5 <= open_period <= 600:
                raise bad_request("wrong open period specified")
            poll_type = self._str(params, "type") or "regular"
            correct = self._json(params, "correct_option_ids")
            if correct is None and params.get("correct_option_id") not in (None, ""):
                correct = [self._int(params, "correct_option_id")]
            correct = correct or []
            if poll_type == "quiz" and (not correct or any(
                    not 0 <= int(i) < len(options) for i in correct)):
                raise bad_request("wrong correct option ID specified")
            poll = FakePoll(
                id=str(5_000_000_000_000_000 + next(self._ids)), chat_id=chat.id,
                message_id=chat.next_message_id, question=question, options=options,
                is_anonymous=self._bool(params, "is_anonymous", True), type=poll_type,
                allows_multiple_answers=self._bool(params, "allows_multiple_answers"),
                correct_option_ids=[int(i) for i in correct], open_period=open_period,
                allows_revoting=self._bool(params, "allows_revoting", poll_type != "quiz"),
                members_only=self._bool(params, "members_only"),
                is_closed=self._bool(params, "is_closed"),
            )
            made.append(poll)
            return {"poll": poll.to_api()}, None
        made: list[FakePoll] = []
        message = self._post("sendPoll", params, "poll", build)
        poll = made[0]
        self.polls[poll.id] = poll
        if poll.open_period:
            delay = poll.open_period * self.limits.time_scale
            self._poll_timers.append(
                asyncio.get_running_loop().call_later(delay, self._close_poll, poll))
        return message

    def _close_poll(self, poll: FakePoll) -> None:
        if not poll.is_closed:
            poll.is_closed = True
            self._refresh_poll_message(poll)
            self._enqueue("poll", poll.to_api())

    def _refresh_poll_message(self, poll: FakePoll) -> None:
        message = self.messages.get((poll.chat_id, poll.message_id))
        if message is not None:
            message["poll"] = poll.to_api()

    def _bot_message(self, chat: FakeChat, params: dict, missing: str) -> dict:
        message_id = self._int(params, "message_id")
        message = self.messages.get((chat.id, message_id))
        if message is None:
            raise bad_request(missing)
        return message

    async def _m_stopPoll(self, params: dict, uploads: dict) -> dict:
        chat = self._target_chat(params)
        message = self._bot_message(chat, params, "message with poll to stop not found")
        poll = self.polls.get(message.get("poll", {}).get("id"))
        if poll is None or message["from"]["id"] != self.bot_user.id:
            raise bad_request("message with poll to stop not found")
        if poll.is_closed:
            raise bad_request("poll has already been closed")
        markup = self._reply_markup(params)
        self._admit("stopPoll", chat)
        poll.is_closed = True
        self._refresh_poll_message(poll)
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        self._record_change("stopPoll", chat, "stop_poll", message, params, poll.question)
        self._enqueue("poll", poll.to_api())
        return poll.to_api()

    def _record_change(self, method: str, chat: FakeChat, kind: str, message: dict | None,
                       params: dict, text: str | None) -> None:
        self.sent.append(SentRecord(
            method=method, chat_id=chat.id, kind=kind, text=text, time=self.clock(),
            message_id=self._int(params, "message_id"), message=message, params=params,
            reply_markup=(message or {}).get("reply_markup"),
            parse_mode=self._str(params, "parse_mode"),
        ))

    async def _m_editMessageText(self, params: dict, uploads: dict) -> dict | bool:
        if params.get("inline_message_id"):
            return True  # inline messages live outside chats; nothing to keep
        chat = self._target_chat(params)
        message = self._bot_message(chat, params, "message to edit not found")
        if message["from"]["id"] != self.bot_user.id:
            raise bad_request("message can't be edited")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(params, "text", MAX_TEXT, "message is too long")
        if not text.strip():
            raise bad_request("message text is empty")
        markup = self._reply_markup(params)
        if (text, entities or None, markup) == (
                message["text"], message.get("entities"), message.get("reply_markup")):
            raise bad_request("message is not modified: specified new message content and reply "
                              "markup are exactly the same as a current content and reply markup "
                              "of the message")
        self._admit("editMessageText", chat)
        message.update({"text": text, "edit_date": int(time.time())})
        for key, value in (("entities", entities), ("reply_markup", markup)):
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        self._record_change("editMessageText", chat, "edit", message, params, text)
        return message

    async def _m_editMessageReplyMarkup(self, params: dict, uploads: dict) -> dict | bool:
        if params.get("inline_message_id"):
            return True
        chat = self._target_chat(params)
        message = self._bot_message(chat, params, "message to edit not found")
        if message["from"]["id"] != self.bot_user.id:
            raise bad_request("message can't be edited")
        markup = self._reply_markup(params)
        if markup == message.get("reply_markup"):
            raise bad_request("message is not modified: specified new message content and reply "
                              "markup are exactly the same as a current content and reply markup "
                              "of the message")
        self._admit("editMessageReplyMarkup", chat)
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self._record_change("editMessageReplyMarkup", chat, "edit_markup", message, params,
                            message.get("text"))
        return message

    async def _m_deleteMessage(self, params: dict, uploads: dict) -> bool:
        chat = self._target_chat(params)
        message = self._bot_message(chat, params, "message to delete not found")
        if message["from"]["id"] != self.bot_user.id and chat.bot_status != "administrator" \
                and chat.is_group:
            raise bad_request("message can't be deleted")
        del self.messages[(chat.id, message["message_id"])]
        self._record_change("deleteMessage", chat, "delete", None, params, message.get("text"))
        return True

    async def _m_getFile(self, params: dict, uploads: dict) -> dict:
        stored = self.files.get(self._str(params, "file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        result = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                  "file_size": stored.file_size}
        if stored.data is not None:
            result["file_path"] = stored.file_path
        return result

    async def _m_answerCallbackQuery(self, params: dict, uploads: dict) -> bool:
        query_id = self._str(params, "callback_query_id") or ""
        query = self._open_callbacks.pop(query_id, None)
        if query is None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = self._str(params, "text")
        if text and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self.callback_answers.append({
            "callback_query_id": query_id, "text": text, "url": self._str(params, "url"),
            "show_alert": self._bool(params, "show_alert"), "query": query, "time": self.clock(),
        })
        return True

    def _known_chat(self, params: dict) -> FakeChat:
        """A chat the bot may ask about (no flood or private-chat checks)."""
        chat = self.chats.get(self._int(params, "chat_id"))
        if chat is None:
            raise bad_request("chat not found")
        if chat.is_group and chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    async def _m_getChat(self, params: dict, uploads: dict) -> dict:
        return self._known_chat(params).full_info()

    async def _m_getChatAdministrators(self, params: dict, uploads: dict) -> list[dict]:
        chat = self._known_chat(params)
        if not chat.is_group:
            raise bad_request("there are no administrators in the private chat")
        admins = [chat_member(chat.admins[0], "creator")] if chat.admins else []
        admins += [chat_member(person, "administrator") for person in chat.admins[1:]]
        if chat.bot_status == "administrator":
            admins.append(chat_member(self.bot_user, "administrator"))
        return admins

    async def _m_getChatMember(self, params: dict, uploads: dict) -> dict:
        chat = self._known_chat(params)
        user_id = self._int(params, "user_id")
        person = self.bot_user if user_id == self.bot_user.id else self.users.get(user_id)
        if person is None:
            raise bad_request("user not found")
        return chat_member(person, chat.status_of(person, self.bot_user.id))

    async def _m_getChatMemberCount(self, params: dict, uploads: dict) -> int:
        chat = self._known_chat(params)
        if not chat.is_group:
            return 2
        in_chat = chat.bot_status in ("member", "administrator")
        return len({*chat.members, *(a.id for a in chat.admins)}) + in_chat

    async def _m_leaveChat(self, params: dict, uploads: dict) -> bool:
        chat = self._known_chat(params)
        if not chat.is_group:
            raise bad_request("chat member status can't be changed in private chats")
        if chat.bot_status in ("left", "kicked"):
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        self._bot_status_change(chat, self.bot_user, "left")
        return True

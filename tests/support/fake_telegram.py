"""A local Telegram Bot API server that the real python-telegram-bot talks to unchanged.

It runs on aiohttp inside the test's own event loop, answers the Bot API methods
Tessera uses with realistic JSON, and enforces Telegram's flood limits with 429s
(see ``fake_telegram_limits``; ``time_scale`` shrinks their windows). Tests act as
the people in the chats (``push_*``) and read what the bot did (``sent``)::

    async with FakeTelegram(time_scale=0.05) as server:
        alice = server.user(1001, "Alice", "alice_berlin")
        server.add_group(-1001234, "Berlin circle", admins=[alice])
        app = server.application_builder().build()   # or ApplicationBuilder().base_url(...)
        ...
        server.push_message(-1001234, alice, "/relay report strike at the depot")
        [reply] = await server.wait_for_sent(chat_id=-1001234)

Behaviour worth knowing, all modelled on the real service:

* Updates wait in a queue until getUpdates confirms them with a higher ``offset``;
  a long poll returns as soon as one arrives. A newer getUpdates ends an older one
  with 409 Conflict. ``allowed_updates`` filters updates created after it is set;
  by default ``chat_member`` and reactions are not delivered.
* A user's private chat opens when the user writes to the bot (or ``started=True``);
  before that a send gets 403 "bot can't initiate conversation with a user".
  Sends to groups the bot left or was removed from get 403; to a migrated group,
  400 with ``migrate_to_chat_id``.
* ``parse_mode`` text is parsed (HTML, MarkdownV2, Markdown); malformed markup gets
  400 "can't parse entities", text over 4096 characters 400 "message is too long".
* sendVoice sniffs the upload: only OGG, MP3 or M4A become a voice note, anything
  else comes back as a document, as Telegram does.
* With ``privacy_mode=True`` the bot sees only commands, mentions, replies to it
  and service messages in groups where it is not an administrator.
* ``time_scale`` also shortens polls' ``open_period``.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web

from tests.support.fake_telegram_api import MAX_UPLOAD, MEDIA, BotApiMethods
from tests.support.fake_telegram_limits import FloodControl, TelegramLimits
from tests.support.fake_telegram_markup import parse_text
from tests.support.fake_telegram_objects import (
    ApiError, FakeChat, FakePoll, FakeUser, RefusedSend, SentRecord, StoredFile, bad_request,
    chat_member,
)

__all__ = ["FakeTelegram", "FakeUser", "FakeChat", "FakePoll", "SentRecord", "RefusedSend",
           "TelegramLimits"]

# Telegram leaves these out unless getUpdates' allowed_updates asks for them.
NOT_DELIVERED_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}


class _Signal:
    """Wakes every waiter at once whenever the server's state changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class FakeTelegram(BotApiMethods):
    """A Bot API server for one bot, with the chats, people and limits a test sets up.

    ``limits`` sets the flood limits (defaults: Telegram's); ``time_scale``
    multiplies their windows (0.05 turns a group's minute into 3 s). The bot's
    id is the token's number. Start with ``await server.start()`` or
    ``async with``; ``port=0`` picks a free port, read back from ``server.port``.
    """

    def __init__(
        self,
        *,
        token: str = "123:abc",
        bot_username: str = "tessera_test_bot",
        bot_name: str = "Tessera",
        limits: TelegramLimits | None = None,
        time_scale: float | None = None,
        privacy_mode: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        limits = limits or TelegramLimits()
        if time_scale is not None:
            limits = replace(limits, time_scale=time_scale)
        self.token = token
        self.limits = limits
        self.privacy_mode = privacy_mode
        self.host = host
        self.port = port
        self.clock = clock
        self.bot_user = FakeUser(int(token.split(":")[0]), bot_name, bot_username,
                                 language_code=None, is_bot=True)

        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.messages: dict[tuple[int, int], dict] = {}
        self.files: dict[str, StoredFile] = {}
        self.polls: dict[str, FakePoll] = {}
        self.sent: list[SentRecord] = []
        self.refused: list[RefusedSend] = []
        self.requests: list[tuple[str, dict]] = []  # every call, in order: (method, params)
        self.callback_answers: list[dict] = []
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.webhook: dict | None = None
        self.errors: list[Exception] = []  # defects of the fake itself (answered with 500)

        self._flood = FloodControl(limits)
        self._updates: list[dict] = []
        self._update_ids = itertools.count(700_000_001)
        self._allowed_updates: set[str] | None = None
        self._ids = itertools.count(1)
        self._open_callbacks: dict[str, dict] = {}
        self._poller: object | None = None
        self._poll_timers: list[asyncio.TimerHandle] = []
        self._changed = _Signal()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._methods = {
            name[3:].lower(): getattr(self, name) for name in dir(type(self)) if name.startswith("_m_")
        }

    # ---- lifecycle ------------------------------------------------------------------

    async def start(self) -> "FakeTelegram":
        """Listen on ``host:port`` in the running event loop; sets ``self.port``."""
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client hung up stops waiting.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._closing = False
        return self

    async def stop(self) -> None:
        """End pending long polls, cancel poll timers and close the listener."""
        self._closing = True
        self._changed.fire()
        for timer in self._poll_timers:
            timer.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeTelegram":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.url}/file/bot"

    def application_builder(self):
        """A PTB ``ApplicationBuilder`` already pointed at this server."""
        from telegram.ext import ApplicationBuilder  # only tests that use PTB need it

        return (ApplicationBuilder().token(self.token).base_url(self.base_url)
                .base_file_url(self.base_file_url))

    def ptb_bot(self):
        """A PTB ``Bot`` pointed at this server (call ``await bot.initialize()``)."""
        from telegram import Bot

        return Bot(self.token, base_url=self.base_url, base_file_url=self.base_file_url)

    # ---- setting the scene ------------------------------------------------------------

    def user(self, id: int, first_name: str, username: str | None = None, *,
             last_name: str | None = None, language_code: str | None = "en",
             started: bool = False) -> FakeUser:
        """Register a person (or return the one with this id). ``started``: opened a DM."""
        person = self.users.get(id)
        if person is None:
            person = self.users[id] = FakeUser(id, first_name, username, last_name, language_code)
        if started:
            self._private_chat(person).started = True
        return person

    def add_group(self, chat_id: int, title: str, admins: Iterable[FakeUser] = (),
                  members: Iterable[FakeUser] = (), *, supergroup: bool | None = None,
                  bot_status: str = "member", username: str | None = None) -> FakeChat:
        """A group the bot is in. Ids from -100… are supergroups unless told otherwise.

        The first admin is the creator. ``bot_status``: "member", "administrator", "left".
        """
        if supergroup is None:
            supergroup = str(chat_id).startswith("-100")
        admins = [self.users.setdefault(a.id, a) for a in admins]
        members = [self.users.setdefault(m.id, m) for m in members]
        chat = FakeChat(chat_id, "supergroup" if supergroup else "group", title=title,
                        admins=admins, bot_status=bot_status, username=username)
        for person in [*admins, *members]:
            chat.members[person.id] = person
        self.chats[chat_id] = chat
        return chat

    def block(self, user: FakeUser) -> None:
        """The user blocks the bot: sends to their private chat get 403."""
        self._private_chat(user).blocked = True

    # ---- people acting in chats (each returns what it created) -----------------------

    def push_message(self, chat_id: int, user: FakeUser, text: str,
                     reply_to: int | None = None) -> dict:
        """``user`` writes ``text`` in the chat (``chat_id == user.id`` for a DM)."""
        entities = parse_text(text, None)[1]
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._user_message(chat_id, user, content, reply_to)

    def push_voice(self, chat_id: int, user: FakeUser, ogg_bytes: bytes, duration: int, *,
                   caption: str | None = None, reply_to: int | None = None) -> dict:
        """``user`` records a voice note; the bot can getFile and download it."""
        stored = self._store("voice", ogg_bytes, mime_type="audio/ogg")
        content = {"voice": stored.to_api(duration=duration)}
        return self._user_message(chat_id, user, self._with_caption(content, caption), reply_to)

    def push_audio(self, chat_id: int, user: FakeUser, data: bytes, duration: int, *,
                   file_name: str = "audio.mp3", mime_type: str = "audio/mpeg",
                   title: str | None = None, performer: str | None = None,
                   caption: str | None = None) -> dict:
        """``user`` shares an audio file (music-player audio, not a voice note)."""
        stored = self._store("audio", data, mime_type=mime_type, file_name=file_name)
        content = {"audio": stored.to_api(duration=duration, title=title, performer=performer)}
        return self._user_message(chat_id, user, self._with_caption(content, caption), None)

    def push_document(self, chat_id: int, user: FakeUser, data: bytes, file_name: str,
                      mime_type: str = "application/octet-stream", *,
                      caption: str | None = None) -> dict:
        """``user`` shares a file."""
        stored = self._store("document", data, mime_type=mime_type, file_name=file_name)
        content = {"document": stored.to_api()}
        return self._user_message(chat_id, user, self._with_caption(content, caption), None)

    def push_poll_answer(self, poll_id: str, user: FakeUser, option_ids: list[int]) -> dict | None:
        """``user`` votes (an empty list retracts the vote); returns the poll_answer update."""
        poll = self.polls[poll_id]
        if poll.is_closed:
            raise ValueError(f"poll {poll_id} is closed; Telegram would not let {user.first_name} vote")
        if poll.votes.get(user.id) and not poll.allows_revoting:
            raise ValueError(f"poll {poll_id} does not allow {user.first_name} to change the vote")
        if any(not 0 <= i < len(poll.options) for i in option_ids) or (
                len(option_ids) > 1 and not poll.allows_multiple_answers):
            raise ValueError(f"option ids {option_ids} are not a valid answer to poll {poll_id}")
        self.users.setdefault(user.id, user)
        poll.votes[user.id] = sorted(set(option_ids))
        self._refresh_poll_message(poll)
        update = None
        if not poll.is_anonymous:
            chosen = poll.votes[user.id]
            update = self._enqueue("poll_answer", {
                "poll_id": poll_id, "user": user.to_api(), "option_ids": chosen,
                "option_persistent_ids": [poll.option_key(i) for i in chosen]})
        self._enqueue("poll", poll.to_api())
        return update

    def push_callback_query(self, chat_id: int, user: FakeUser, message_id: int,
                            data: str) -> dict:
        """``user`` presses an inline button carrying ``data`` under a message."""
        message = self.messages[(chat_id, message_id)]
        query = {
            "id": str(4_000_000_000_000 + next(self._ids)),
            "from": user.to_api(),
            "message": copy.deepcopy(message),
            "chat_instance": str(zlib.crc32(f"instance{chat_id}".encode()) * 7919),
            "data": data,
        }
        self._open_callbacks[query["id"]] = query
        self._enqueue("callback_query", query)
        return query

    def push_new_members(self, chat_id: int, users: Iterable[FakeUser],
                         by: FakeUser | None = None) -> dict:
        """People join the group (or ``by`` adds them): a new_chat_members service message."""
        users = list(users)
        chat = self.chats[chat_id]
        for person in users:
            self.users.setdefault(person.id, person)
            chat.members[person.id] = person
        content = {"new_chat_members": [p.to_api() for p in users]}
        return self._user_message(chat_id, by or users[0], content, None, service=True)

    def push_bot_added(self, chat_id: int, by: FakeUser | None = None, *,
                       as_admin: bool = False) -> dict | None:
        """Someone adds the bot: a my_chat_member update and a new_chat_members message."""
        chat = self.chats[chat_id]
        by = by or self._someone_in(chat)
        update = self._bot_status_change(chat, by, "administrator" if as_admin else "member")
        self._user_message(chat_id, by, {"new_chat_members": [self.bot_user.to_api()]}, None,
                           service=True)
        return update

    def push_bot_removed(self, chat_id: int, by: FakeUser | None = None) -> dict | None:
        """Someone removes the bot: a my_chat_member update; later sends get 403."""
        chat = self.chats[chat_id]
        return self._bot_status_change(chat, by or self._someone_in(chat), "kicked")

    def push_migrate(self, chat_id: int, new_chat_id: int) -> FakeChat:
        """The group becomes a supergroup with a new id; both service messages arrive."""
        old = self.chats[chat_id]
        new = FakeChat(new_chat_id, "supergroup", title=old.title, admins=list(old.admins),
                       members=dict(old.members), bot_status=old.bot_status)
        self.chats[new_chat_id] = new
        by = self._someone_in(old)
        self._user_message(chat_id, by, {"migrate_to_chat_id": new_chat_id}, None, service=True)
        old.migrated_to = new_chat_id
        self._user_message(new_chat_id, by, {"migrate_from_chat_id": chat_id}, None, service=True)
        return new

    # ---- reading what happened ------------------------------------------------------

    @property
    def count_429(self) -> int:
        """How many calls were refused for flood control."""
        return len(self.refused)

    @property
    def pending_updates(self) -> list[dict]:
        """Updates not yet confirmed by getUpdates' offset."""
        return list(self._updates)

    def sent_to(self, chat_id: int, kind: str | None = None) -> list[SentRecord]:
        """What the bot did in one chat, oldest first, optionally of one kind."""
        return [r for r in self.sent if r.chat_id == chat_id and (kind is None or r.kind == kind)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked on every state change (and every 0.1 s, for conditions that depend
        on time). Raises TimeoutError with the latest sends if it never holds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [(r.method, r.chat_id, r.text) for r in self.sent[-5:]]
                raise TimeoutError(f"condition not met within {timeout} s; last sends: {recent}")
            await self._changed.wait(min(remaining, 0.1))

    async def wait_for_sent(self, count: int = 1, *, chat_id: int | None = None,
                            kind: str | None = None, timeout: float = 5.0) -> list[SentRecord]:
        """Wait until at least ``count`` matching records exist; return all of them."""
        def matching() -> list[SentRecord]:
            found = [r for r in self.sent if (chat_id is None or r.chat_id == chat_id)
                     and (kind is None or r.kind == kind)]
            return found if len(found) >= count else []
        return await self.wait_for(matching, timeout)

    # ---- HTTP plumbing ----------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").to_api(), status=401)
        method = request.match_info["method"]
        try:
            params, uploads = await self._read_params(request)
            self.requests.append((method, params))
            handler = self._methods.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await handler(params, uploads)
        except ApiError as err:
            self._changed.fire()
            return web.json_response(err.to_api(), status=err.code)
        except Exception as err:  # a defect in the fake: keep it visible to the test
            self.errors.append(err)
            body = ApiError(500, f"Internal Server Error: fake Telegram failed: {err!r}").to_api()
            return web.json_response(body, status=500)
        self._changed.fire()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").to_api(), status=401)
        path = request.match_info["path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None or stored.data is None:
            return web.json_response(ApiError(404, "Not Found").to_api(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    async def _read_params(self, request: web.Request) -> tuple[dict, dict]:
        """Query string, form, multipart or JSON body -> (params, uploads by field name)."""
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, tuple[str | None, str, bytes]] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    params.update(await request.json())
                except ValueError:
                    raise bad_request("can't parse JSON request body") from None
            else:
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        uploads[key] = (value.filename, value.content_type, value.file.read())
                    else:
                        params[key] = value
        return params, uploads

    # ---- chats, messages and updates ----------------------------------------------------

    def _private_chat(self, user: FakeUser) -> FakeChat:
        self.users.setdefault(user.id, user)
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = FakeChat(user.id, "private", user=user)
        return chat

    def _someone_in(self, chat: FakeChat) -> FakeUser:
        people = [*chat.admins, *chat.members.values()]
        if not people:
            raise ValueError(f"nobody is in chat {chat.id} to do that; pass by=")
        return people[0]

    def _new_message(self, chat: FakeChat, sender: FakeUser, content: dict,
                     reply_to: int | None) -> dict:
        message = {"message_id": chat.next_message_id, "from": sender.to_api(),
                   "chat": chat.to_api(), "date": int(time.time()), **content}
        chat.next_message_id += 1
        if reply_to is not None:
            original = dict(self.messages[(chat.id, reply_to)])
            original.pop("reply_to_message", None)  # Telegram nests only one level
            message["reply_to_message"] = original
        self.messages[(chat.id, message["message_id"])] = message
        return message

    def _user_message(self, chat_id: int, user: FakeUser, content: dict,
                      reply_to: int | None, service: bool = False) -> dict:
        self.users.setdefault(user.id, user)
        if chat_id == user.id:
            chat = self._private_chat(user)
            chat.started = True
        elif chat_id in self.chats:
            chat = self.chats[chat_id]
            if chat.is_group and not service:
                chat.members.setdefault(user.id, user)
        else:
            raise KeyError(f"no chat {chat_id}: add_group() it first (DMs use the user's id)")
        if chat.migrated_to is not None and not service:
            raise ValueError(f"chat {chat_id} migrated to {chat.migrated_to}; write there")
        message = self._new_message(chat, user, content, reply_to)
        if self._bot_sees(chat, message, service):
            self._enqueue("message", copy.deepcopy(message))
        return message

    def _bot_sees(self, chat: FakeChat, message: dict, service: bool) -> bool:
        """Whether Telegram delivers this message to the bot (membership, privacy mode)."""
        if chat.is_group and chat.bot_status not in ("member", "administrator"):
            return False
        if service or not chat.is_group or not self.privacy_mode:
            return True
        if chat.bot_status == "administrator":
            return True
        text = message.get("text") or message.get("caption") or ""
        replied = message.get("reply_to_message", {}).get("from", {})
        return (text.startswith("/") or f"@{self.bot_user.username}".lower() in text.lower()
                or replied.get("id") == self.bot_user.id)

    def _bot_status_change(self, chat: FakeChat, by: FakeUser, status: str) -> dict | None:
        old = chat.bot_status
        chat.bot_status = status
        return self._enqueue("my_chat_member", {
            "chat": chat.to_api(), "from": by.to_api(), "date": int(time.time()),
            "old_chat_member": chat_member(self.bot_user, old),
            "new_chat_member": chat_member(self.bot_user, status),
        })

    def _enqueue(self, kind: str, payload: dict) -> dict | None:
        """Queue an update for getUpdates, unless allowed_updates filters it out."""
        allowed = self._allowed_updates
        if (kind in NOT_DELIVERED_BY_DEFAULT) if allowed is None else (kind not in allowed):
            return None
        update = {"update_id": next(self._update_ids), kind: payload}
        self._updates.append(update)
        self._changed.fire()
        return update

    def _store(self, kind: str, data: bytes | None, *, mime_type: str | None = None,
               file_name: str | None = None) -> StoredFile:
        prefix, folder, extension = MEDIA[kind]
        n = next(self._ids)
        if file_name and "." in file_name:
            extension = file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"{prefix}{n:06d}{zlib.crc32(f'{kind}{n}'.encode()):010d}",
            file_unique_id=f"AgAD{n:06d}",
            file_path=f"{folder}/file_{n}.{extension}",
            data=data, mime_type=mime_type, file_name=file_name,
        )
        self.files[stored.file_id] = stored
        return stored

    @staticmethod
    def _with_caption(content: dict, caption: str | None) -> dict:
        if caption:
            content["caption"] = caption
            entities = parse_text(caption, None)[1]
            if entities:
                content["caption_entities"] = entities
        return content

"""The Telegram door, on python-telegram-bot 22.

It shares the process's event loop: `start()` launches a long-polling task (or a webhook
listener, by configuration) and returns; `start(..., receive=False)` (an extra delivery
worker) only says who it is (getMe) and sends, leaving getUpdates and the webhook alone.
Each update is translated (adapters.telegram_convert), its files downloaded into the media
store, handed to the core, and only then remembered as handled, so a restart neither loses
nor replays updates. Outgoing messages become one
Bot API call per part, paced below Telegram's flood limits (adapters.telegram_pace); a 429
on the first part goes back to the courier, on a later part it is waited out here so that
nothing is sent twice.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
import warnings
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.engine import Engine
from telegram import Bot, InputFile, ReplyParameters, Update
from telegram.error import (
    BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, NetworkError, TelegramError,
    TimedOut,
)
from telegram.error import RetryAfter as TelegramRetryAfter
from telegram.request import HTTPXRequest

from adapters.telegram_convert import (
    ALLOWED_UPDATES, LONG_BUTTON_PREFIX, PLATFORM, TEXT_LIMIT, Part, callback_to_incoming,
    poll_answer_to_incomings, render_parts, seconds, update_to_incoming,
)
from adapters.telegram_pace import FloodGuard
from adapters.telegram_state import AdapterMemory
from adapters.telegram_webhook import WebhookListener
from core.adapter import BUTTONS, HTML, POLLS, VOICE, DeliveryError, OnIncoming, RetryAfter
from core.delivery import Pace
from core.media import MediaStore, MediaTooLarge
from core.messages import Incoming, Outgoing, Sender

log = logging.getLogger("tessera.telegram")

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # bots may download files up to 20 MB
UPLOAD_LIMIT = 50 * 1024 * 1024  # and upload up to 50 MB
HOLD_AT_MOST = 1.0  # wait this long for a chat's window ourselves; longer goes back to the courier
_MEDIA_FIELD = {"send_voice": "voice", "send_audio": "audio", "send_photo": "photo",
                "send_document": "document"}
_DEFAULT_NAMES = {"voice": "voice.ogg", "audio": "audio.mp3", "photo": "image.png",
                  "document": "file.bin"}


class _HideToken(logging.Filter):
    """httpx logs every request URL, and Telegram's URLs contain the bot token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token and self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        return True


class TelegramAdapter:
    """Tessera's door to Telegram groups and private chats."""

    platform = PLATFORM
    capabilities = frozenset({POLLS, BUTTONS, VOICE, HTML})
    text_limit = TEXT_LIMIT

    def __init__(self, token: str, media: MediaStore, engine: Engine, *,
                 base_url: str = "https://api.telegram.org/bot",
                 base_file_url: str = "https://api.telegram.org/file/bot",
                 mode: str = "polling", webhook_url: str = "", webhook_listen: str = "127.0.0.1",
                 webhook_port: int = 8443, pace: Pace | None = None, poll_timeout: int = 30,
                 max_download: int = DOWNLOAD_LIMIT, admin_ttl: float = 600.0) -> None:
        if not token:
            raise ValueError("a Telegram bot token is needed")
        self._token = token
        self.media = media
        self.memory = AdapterMemory(engine, PLATFORM)
        self.base_url, self.base_file_url = base_url, base_file_url
        self.mode = mode
        self.webhook_url, self.webhook_listen, self.webhook_port = (
            webhook_url, webhook_listen, webhook_port)
        self.pace = pace or Pace(per_chat=20, chat_window=60.0, global_per_second=30)
        self.guard = FloodGuard(self.pace)
        self.poll_timeout = poll_timeout
        self.max_download = min(max_download, DOWNLOAD_LIMIT, media.max_bytes)
        self.admin_ttl = admin_ttl
        self.bot: Bot | None = None
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 0
        self.username = ""
        self.on_incoming: OnIncoming | None = None
        self.last_update_id = 0
        self.webhook: WebhookListener | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._admins: dict[str, tuple[float, frozenset[str], list[dict]]] = {}
        self._log_filter = _HideToken(token)
        self.handled_count = 0
        self.receiving = True

    @classmethod
    def from_config(cls, config, media: MediaStore, engine: Engine | None = None) -> "TelegramAdapter":
        """The adapter the [telegram] section describes; the token comes from its secret."""
        from core.config import ConfigError

        sec = config["telegram"]
        token = config.secret("telegram", "token")
        if not token:
            raise ConfigError(f"telegram.token_env: set {sec['token_env']} to the bot token")
        if engine is None:  # prefer the app's engine; this fallback opens a second one
            from core.storage import make_engine
            engine = make_engine(config.database_url())
        pace = Pace(per_chat=sec["per_chat_per_minute"], chat_window=60.0,
                    global_per_second=sec["global_per_second"])
        return cls(token, media, engine, base_url=sec["base_url"],
                   base_file_url=sec["base_file_url"], mode=sec["mode"],
                   webhook_url=sec["webhook_url"], webhook_listen=sec["webhook_listen"],
                   webhook_port=sec["webhook_port"], pace=pace)

    @property
    def bot_names(self) -> tuple[str, ...]:
        """The bot's username once known (commands addressed to other bots are dropped here)."""
        return (self.username,) if self.username else ()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, on_incoming: OnIncoming, *, receive: bool = True) -> None:
        """Connect, then receive in the background (long polling or webhook); returns at once.

        With `receive=False` only connect: no getUpdates, and the webhook is neither set nor
        deleted (the receiving process owns it).
        """
        self.on_incoming = on_incoming
        self._stopping = False
        self.receiving = receive
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(self._log_filter)
        self.bot = Bot(
            self._token, base_url=self.base_url, base_file_url=self.base_file_url,
            # Several chats are served at once: the default single connection would queue them.
            request=HTTPXRequest(connection_pool_size=32, pool_timeout=30.0, read_timeout=30.0,
                                 write_timeout=30.0, media_write_timeout=120.0),
            get_updates_request=HTTPXRequest(connection_pool_size=2, read_timeout=10.0),
        )
        self.last_update_id = self.memory.last_update_id()
        try:
            await self._connect()
        except InvalidToken:
            raise
        except TelegramError as e:  # Telegram unreachable: keep trying in the background
            log.warning("telegram not reachable yet (%s); will retry", type(e).__name__)
        if not receive:
            return
        if self.mode == "webhook":
            await self._start_webhook()
        else:
            self._task = asyncio.create_task(self._poll_forever(), name="telegram-polling")

    async def _connect(self) -> None:
        if self.username:
            return
        await self.bot.initialize()  # getMe: who are we?
        self.username, self.bot_id = self.bot.username, self.bot.id
        if self.mode != "webhook" and self.receiving:
            # getUpdates refuses to work while a webhook is set; keep its pending updates.
            await self.bot.delete_webhook(drop_pending_updates=False)

    async def _start_webhook(self) -> None:
        secret = secrets.token_urlsafe(32)
        path = urlparse(self.webhook_url).path or "/"
        self.webhook = WebhookListener(self._receive_json, secret, path, self.webhook_listen,
                                       self.webhook_port)
        self.webhook_port = await self.webhook.start()
        # One connection at a time keeps updates in order (the handled-id rule relies on it).
        await self.bot.set_webhook(self.webhook_url, secret_token=secret, max_connections=1,
                                   allowed_updates=ALLOWED_UPDATES)

    async def stop(self) -> None:
        """Stop receiving (an update in progress is not marked handled) and close."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        if self.bot is not None:
            try:
                await self.bot.shutdown()
            except Exception:  # closing connections must not fail the shutdown
                log.debug("telegram bot shutdown failed", exc_info=True)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).removeFilter(self._log_filter)

    # -- receiving ------------------------------------------------------------------------------
    async def _poll_forever(self) -> None:
        backoff = 1.0
        while not self._stopping:
            try:
                await self._connect()
                updates = await self.bot.get_updates(
                    offset=self.last_update_id + 1 if self.last_update_id else None,
                    timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except TelegramRetryAfter as e:
                await asyncio.sleep(_retry_seconds(e))
                continue
            except TimedOut:
                continue  # a long poll that outlived its read timeout: just ask again
            except InvalidToken:
                log.error("telegram refused the bot token; polling stopped")
                return
            except (Conflict, NetworkError, TelegramError) as e:
                log.warning("telegram polling: %s; retrying in %.0f s", type(e).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            for update in updates:
                await self.handle_update(update)

    async def _receive_json(self, data: dict[str, Any]) -> None:
        await self.handle_update(Update.de_json(data, self.bot))

    async def handle_update(self, update: Update) -> None:
        """Hand one update to the core, once: updates at or below the last handled id are
        skipped, and the id is remembered only after the core has handled it."""
        async with self._lock:
            if update.update_id <= self.last_update_id:
                return
            try:
                incomings = await self._incomings(update)
            except asyncio.CancelledError:
                raise
            except Exception:  # one broken update must not block every later one
                log.exception("telegram update %s could not be read", update.update_id)
                incomings = []
            for incoming in incomings:
                if self.on_incoming is not None:
                    await self.on_incoming(incoming)
            self.last_update_id = update.update_id
            self.memory.handled(update.update_id)
            self.handled_count += 1

    def to_incoming(self, raw: Update) -> Incoming | None:
        """An update as a neutral message (poll votes need remembered state: see below)."""
        return update_to_incoming(raw, self.bot_id, self.username)

    async def _incomings(self, update: Update) -> list[Incoming]:
        if update.poll_answer is not None:
            record = self.memory.get(f"poll:{update.poll_answer.poll_id}")
            found = poll_answer_to_incomings(update.poll_answer, record) if record else []
        elif update.callback_query is not None:
            found = await self._button_press(update)
        else:
            if update.chat_member is not None or update.my_chat_member is not None:
                change = update.chat_member or update.my_chat_member
                self._admins.pop(str(change.chat.id), None)  # roles changed: ask again
            incoming = self.to_incoming(update)
            found = [incoming] if incoming else []
        out: list[Incoming] = []
        for incoming in found:
            admins_event = None
            if not incoming.is_direct and incoming.event is None:
                admins_event = await self._mark_admin(incoming)
                if admins_event is not None and not incoming.sender.is_chat_admin:
                    out.append(admins_event)  # the list changed: tell the core first
                    admins_event = None
            if incoming.attachments:
                await self._download(incoming)
            out.append(incoming)
            if admins_event is not None:
                # After a command by an administrator (such as the one making the chat a
                # circle), every administrator is confirmed as coordinator, even silent ones.
                out.append(admins_event)
        return out

    async def _button_press(self, update: Update) -> list[Incoming]:
        query = update.callback_query
        data = query.data or ""
        try:  # stop the button's spinner whatever happens next
            await self.bot.answer_callback_query(query.id)
        except TelegramError:
            pass
        if data.startswith(LONG_BUTTON_PREFIX):
            data = (self.memory.get(f"button:{data}") or {}).get("command", "")
        incoming = callback_to_incoming(query, data)
        return [incoming] if incoming else []

    async def _mark_admin(self, incoming: Incoming) -> Incoming | None:
        """Set is_chat_admin from the chat's administrators (asked at most every admin_ttl).

        Returns an "admins" event, so that every administrator becomes a coordinator of
        the chat's circle and not only those who speak, when the list is new or changed
        and after each command an administrator gives (the circle may be new since).
        """
        chat = incoming.chat_id
        now = time.monotonic()
        cached = self._admins.get(chat)
        changed = False
        if cached is None or now - cached[0] > self.admin_ttl:
            try:
                members = await self.bot.get_chat_administrators(int(chat))
            except TelegramError as e:
                log.info("telegram admins of a chat unavailable: %s", type(e).__name__)
                members = None
            if members is not None:
                users = [{"user_id": str(m.user.id), "display_name": m.user.full_name}
                         for m in members if not m.user.is_bot]
                ids = frozenset(u["user_id"] for u in users)
                changed = cached is None or cached[1] != ids
                cached = (now, ids, users)
                self._admins[chat] = cached
        if cached is None:
            return None
        if incoming.sender.user_id in cached[1]:
            incoming.sender.is_chat_admin = True
        is_command = incoming.text.lstrip()[:1] in ("/", "!")
        if changed or (incoming.sender.is_chat_admin and is_command):
            return Incoming(platform=PLATFORM, chat_id=chat, chat_title=incoming.chat_title,
                            sender=incoming.sender, event="admins", data={"users": cached[2]})
        return None

    async def _download(self, incoming: Incoming) -> None:
        """Fetch each attachment into the media store, within the size limit."""
        for att in incoming.attachments:
            if not att.platform_ref or (att.size and att.size > self.max_download):
                continue  # too big for a bot to download: handed over without a file
            try:
                tg_file = await self.bot.get_file(att.platform_ref)
                if tg_file.file_size and tg_file.file_size > self.max_download:
                    continue
                data = bytes(await tg_file.download_as_bytearray())
                att.path = self.media.put(data, att.mime_type)
                att.size = len(data)
            except MediaTooLarge:
                continue
            except TelegramError as e:
                log.warning("telegram file download failed: %s", type(e).__name__)

    # -- sending ----------------------------------------------------------------------------------
    def render(self, message: Outgoing) -> list[Part]:
        """The Bot API calls that say `message`, in order (pure)."""
        return render_parts(message)

    def pace_share(self, fraction: float) -> None:
        """Keep the flood guard's global window to this worker's share of the bot's rate
        (the other delivery workers of the same bot use the rest)."""
        whole = self.pace.global_per_second * self.guard.scale
        self.guard.global_window.capacity = max(1, round(whole * fraction))

    async def send(self, chat_id: str, message: Outgoing, direct: bool = False) -> str:
        """Say `message` in the chat; returns the message id(s) sent, comma-separated."""
        if self.bot is None:
            raise DeliveryError("telegram adapter not started")
        if not self.username and not self.receiving:
            # Only the polling loop retries the first getMe; a worker that only delivers
            # does it here (PTB needs an initialised bot to send).
            try:
                await self._connect()
            except InvalidToken:
                raise DeliveryError("telegram refused the bot token") from None
            except TelegramError as e:
                raise DeliveryError(f"telegram unreachable: {type(e).__name__}") from None
        refs: list[str] = []
        chat = str(chat_id)
        reply_to = message.reply_to
        for part in self.render(message):
            chat, ref = await self._call(chat, part, reply_to, started=bool(refs), direct=direct)
            if ref:
                refs.append(ref)
                reply_to = None
        return ",".join(refs)

    async def _call(self, chat: str, part: Part, reply_to: str | None, started: bool,
                    direct: bool) -> tuple[str, str | None]:
        """Make one call; returns the (possibly migrated) chat and the message id."""
        migrated = plain = False
        network_tries = 0
        while True:
            if not started:
                wait = self.guard.chat_wait(chat)
                if wait > HOLD_AT_MOST:  # let the courier serve other chats meanwhile
                    raise RetryAfter(wait, "chat")
            await self.guard.acquire(chat)
            acquired = chat
            try:
                return chat, await self._invoke(chat, part, reply_to, direct)
            except TelegramRetryAfter as e:
                wait = _retry_seconds(e)
                self.guard.block(chat, wait)
                if not started:
                    raise RetryAfter(wait, "chat") from None
                # Earlier parts are out: wait here rather than have the courier repeat them.
                await asyncio.sleep(wait)
            except ChatMigrated as e:
                if migrated:
                    raise DeliveryError("chat migrated twice", permanent=True) from None
                migrated = True
                chat = await self._chat_moved(chat, str(e.new_chat_id))
            except BadRequest as e:
                reason = str(e).lower()
                if "can't parse entities" in reason and part.plain is not None and not plain:
                    plain, part = True, _without_markup(part)
                elif part.method == "stop_poll" and ("already been closed" in reason
                                                      or "not found" in reason):
                    return chat, None
                else:
                    raise DeliveryError(f"telegram refused: {e}", permanent=True) from None
            except Forbidden as e:
                raise DeliveryError(f"telegram forbids: {e}", permanent=True) from None
            except NetworkError as e:  # TimedOut included
                network_tries += 1
                if not started or network_tries >= 3:
                    raise DeliveryError(f"telegram unreachable: {type(e).__name__}") from None
                await asyncio.sleep(2.0 * network_tries)
            finally:
                self.guard.release(acquired)

    async def _chat_moved(self, old: str, new: str) -> str:
        """The group became a supergroup: the circle (and its queued messages) follow."""
        if self.on_incoming is not None:
            await self.on_incoming(Incoming(platform=PLATFORM, chat_id=old,
                                            sender=Sender("telegram", "Telegram"),
                                            event="chat_moved", data={"new_chat_id": new}))
        return new

    async def _invoke(self, chat: str, part: Part, reply_to: str | None, direct: bool) -> str | None:
        target: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        if part.method == "stop_poll":
            record = self.memory.get(f"pollref:{chat}:{part.close_ref}")
            if record is None:
                return None  # never opened here (or sent as buttons): nothing to stop
            await self.bot.stop_poll(target, record["message_id"])
            return str(record["message_id"])
        kwargs = dict(part.params)
        if reply_to and str(reply_to).isdigit():
            kwargs["reply_parameters"] = ReplyParameters(int(reply_to),
                                                         allow_sending_without_reply=True)
        if part.media is not None:
            field = _MEDIA_FIELD[part.method]
            kwargs[field] = await self._upload(part, field)
        sent = await getattr(self.bot, part.method)(chat_id=target, **kwargs)
        for data, command in part.buttons.items():
            self.memory.put(f"button:{data}", {"command": command})
        if part.method == "send_poll":
            self.memory.put(f"poll:{sent.poll.id}", {
                "chat_id": chat, "message_id": sent.message_id, "commands": part.poll_commands,
                "ref": part.poll_ref, "direct": direct})
            self.memory.put(f"pollref:{chat}:{part.poll_ref}",
                            {"poll_id": sent.poll.id, "message_id": sent.message_id})
        return str(sent.message_id)

    async def _upload(self, part: Part, field: str) -> InputFile:
        att = part.media
        if not att.path or not self.media.exists(att.path):
            raise DeliveryError(f"{att.kind} attachment is not in the media store", permanent=True)
        data = await asyncio.to_thread(self.media.get, att.path)
        if len(data) > UPLOAD_LIMIT:
            raise DeliveryError(f"{att.kind} of {len(data)} bytes exceeds Telegram's 50 MB",
                                permanent=True)
        return InputFile(data, filename=att.filename or _DEFAULT_NAMES[field])


def _retry_seconds(error: TelegramRetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns when the int form is read
        warnings.simplefilter("ignore")
        return max(1.0, seconds(error.retry_after) or 1.0)


def _without_markup(part: Part) -> Part:
    params = {k: v for k, v in part.params.items() if k != "parse_mode"}
    key = "text" if "text" in params else "caption"
    params[key] = part.plain
    return Part(part.method, params, media=part.media, plain=None, buttons=part.buttons)

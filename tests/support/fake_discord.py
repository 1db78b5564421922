"""A local Discord REST API (v10) that the real discord.py talks to unchanged.

It answers the calls Tessera's Discord door makes when it only delivers (no gateway):
logging in (``GET /users/@me``, ``GET /oauth2/applications/@me``), posting messages to a
channel (JSON, or multipart with ``payload_json`` and ``files[n]``), reading, editing and
deleting a message, looking up a channel or a user, and opening a direct-message channel.
It runs on aiohttp inside the test's own event loop::

    async with FakeDiscord() as server:
        server.add_channel(1309200000000000001, "lagos")
        adapter = DiscordAdapter(media, token=server.token, api_base=server.api_base)
        await adapter.start(on_incoming, receive=False)
        ...
        assert [m.content for m in server.in_channel(1309200000000000001)] == [...]

The limits are Discord's documented ones (see ``DiscordLimits``), answered the way Discord
answers them, so discord.py's own rate-limit code (discord/http.py) does the real work:

* Posting to a channel has a route bucket per channel: 5 messages, then the bucket is
  empty until 5 s after its first message (a fixed window, as Discord's buckets reset).
  Every answer on that route carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``
  (epoch seconds), ``-Reset-After`` (seconds) and ``-Bucket`` (one hash for the route; the
  channel id is the major parameter). discord.py reads these and waits before the 6th.
* Every request of the bot counts against the global limit, 50 a second. Discord does not
  say how the second is cut; like discord.js, this server opens a one-second window at the
  first request after the previous one ended. Beyond it: 429 with ``global: true``.
* A 429 has the JSON body ``{message, retry_after, global}`` (``retry_after`` in seconds,
  rounded up to the millisecond), the ``Retry-After`` header in whole seconds,
  ``X-RateLimit-Scope`` (``user`` or ``global``), and ``Via`` like every answer from
  Discord's edge: discord.py treats a 429 without ``Via`` as a Cloudflare ban.
* Refused requests do not use up a bucket. 401, 403 and 429 answers are counted in
  ``invalid_requests`` (Discord bans a bot for a while after 10,000 in 10 minutes; this
  server only counts them).

Also modelled: text over 2,000 characters and empty messages are 400s with Discord's
error codes, uploads over 10 MiB are 413, unknown channels 404 (code 10003), channels the
bot may not post in 403 (code 50001), a wrong token 401.

Not modelled: the gateway (``GET /gateway/bot`` is a 404), interactions and webhooks,
per-route buckets of the other routes, the shared scope, sub-limits.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

__all__ = ["FakeDiscord", "DiscordLimits", "SentMessage", "Refusal"]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
TEXT_LIMIT = 2000
UPLOAD_LIMIT = 10 * 1024 * 1024
MESSAGES_BUCKET = "80c17d2f203122d936070c88c8d10f33"  # one hash for the route, like Discord's
RATE_LIMITED = "You are being rate limited."


@dataclass(frozen=True)
class DiscordLimits:
    """Discord's documented limits: per-channel message bucket and global requests."""

    channel_messages: int = 5
    channel_window: float = 5.0
    global_requests: int = 50
    global_window: float = 1.0

    @classmethod
    def unlimited(cls) -> "DiscordLimits":
        """Limits no test reaches, for tests about something else."""
        return cls(channel_messages=10**9, global_requests=10**9)


@dataclass
class _Window:
    """A fixed window: opens at the first request after the last one closed."""

    capacity: int
    seconds: float
    used: int = 0
    resets_at: float = 0.0

    def _roll(self, now: float) -> None:
        if now >= self.resets_at:
            self.used, self.resets_at = 0, now + self.seconds

    def refuses(self, now: float) -> float | None:
        """Seconds until a request is accepted again, or None when one is accepted now."""
        self._roll(now)
        return self.reset_after(now) if self.used >= self.capacity else None

    def take(self, now: float) -> None:
        self._roll(now)
        self.used += 1

    def remaining(self) -> int:
        return max(0, self.capacity - self.used)

    def reset_after(self, now: float) -> float:
        # Rounded up: a client that waits exactly this long must find the window open.
        return math.ceil(max(0.0, self.resets_at - now) * 1000) / 1000


@dataclass
class SentMessage:
    """One accepted message: where, what, when (the server's monotonic clock), and what
    was left in its channel's bucket after it (0: the limit was reached)."""

    channel_id: int
    message_id: int
    content: str
    at: float
    remaining: int
    files: list[tuple[str, bytes]] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """A 429 the server answered."""

    scope: str  # "user" (the channel's bucket) or "global"
    method: str
    path: str
    channel_id: int | None
    retry_after: float
    at: float


class _ApiError(Exception):
    def __init__(self, status: int, message: str, code: int = 0, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"message": message, "code": code, **extra}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json".
    out = {"Content-Type": "application/json", "Via": "1.1 google", **(headers or {})}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=out)


class FakeDiscord:
    """A Discord REST API for one bot: channels and users a test adds, limits enforced."""

    def __init__(self, *, token: str = "MTMwOTAwMDAwMDAwMDAwMDAwMQ.fake.tessera-discord-token",
                 bot_id: int = 1309000000000000001, bot_name: str = "tessera",
                 limits: DiscordLimits | None = None, host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self.bot = {"id": str(bot_id), "username": bot_name, "global_name": bot_name.title(),
                    "discriminator": "0", "avatar": None, "bot": True}
        self.limits = limits or DiscordLimits()
        self.host, self.port, self.clock = host, port, clock
        self.channels: dict[int, dict] = {}
        self.users: dict[int, dict] = {}
        self.forbidden: set[int] = set()
        self.messages: dict[int, dict] = {}
        self.sent: list[SentMessage] = []
        self.edits: list[tuple[int, dict]] = []  # (message id, PATCH body)
        self.deleted: list[int] = []
        self.refused: list[Refusal] = []
        self.requests: list[tuple[str, str]] = []  # every call, in order: (method, path)
        self.invalid_requests = 0
        self.errors: list[Exception] = []  # defects of the fake itself (answered with 500)
        self._global = _Window(self.limits.global_requests, self.limits.global_window)
        self._buckets: dict[int, _Window] = {}
        self._last_id = 0
        self._runner: web.AppRunner | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable]] = [
            ("GET", re.compile(r"/users/@me"), self._me),
            ("GET", re.compile(r"/oauth2/applications/@me"), self._application),
            ("POST", re.compile(r"/users/@me/channels"), self._open_dm),
            ("GET", re.compile(r"/users/(\d+)"), self._user),
            ("GET", re.compile(r"/channels/(\d+)"), self._channel),
            ("POST", re.compile(r"/channels/(\d+)/messages"), self._post_message),
            ("GET", re.compile(r"/channels/(\d+)/messages/(\d+)"), self._get_message),
            ("PATCH", re.compile(r"/channels/(\d+)/messages/(\d+)"), self._edit_message),
            ("DELETE", re.compile(r"/channels/(\d+)/messages/(\d+)"), self._delete_message),
        ]

    # ---- the world a test sets up ---------------------------------------------------
    def add_channel(self, channel_id: int, name: str = "", guild_id: int | None = 1309100000000000001
                    ) -> dict:
        """A guild text channel the bot may post in."""
        channel = {"id": str(channel_id), "type": 0, "guild_id": str(guild_id) if guild_id else None,
                   "name": name or f"channel-{channel_id}", "position": len(self.channels),
                   "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                   "last_message_id": None, "rate_limit_per_user": 0}
        self.channels[channel_id] = channel
        return channel

    def add_user(self, user_id: int, name: str) -> dict:
        """A person the bot may open a direct-message channel with."""
        user = {"id": str(user_id), "username": name, "global_name": name.title(),
                "discriminator": "0", "avatar": None, "bot": False}
        self.users[user_id] = user
        return user

    def forbid(self, channel_id: int) -> None:
        """The bot lost access to this channel: posts get 403 Missing Access."""
        self.forbidden.add(channel_id)

    def use_up(self, channel_id: int) -> None:
        """Empty the channel's bucket now, as another process of the same bot would."""
        bucket = self._bucket(channel_id)
        now = self.clock()
        bucket.take(now)
        bucket.used = bucket.capacity

    # ---- what the bot did -----------------------------------------------------------
    @property
    def count_429(self) -> int:
        """How many requests were refused by a rate limit."""
        return len(self.refused)

    def in_channel(self, channel_id: int) -> list[SentMessage]:
        """The messages accepted in one channel, in order."""
        return [m for m in self.sent if m.channel_id == channel_id]

    # ---- lifecycle ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """What discord.py's ``Route.BASE`` would be: ``http://host:port/api/v10``."""
        return self.url + API_PREFIX

    async def start(self) -> "FakeDiscord":
        """Listen on ``host:port`` in the running event loop; sets ``self.port``."""
        app = web.Application(client_max_size=UPLOAD_LIMIT * 2)
        app.router.add_route("*", API_PREFIX + "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeDiscord":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- the HTTP side --------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        self.requests.append((request.method, path))
        try:
            if request.headers.get("Authorization") != f"Bot {self.token}":
                raise _ApiError(401, "401: Unauthorized")
            now = self.clock()
            wait = self._global.refuses(now)
            if wait is not None:
                return self._refuse("global", request.method, path, None, wait, now)
            self._global.take(now)
            for method, pattern, handler in self._routes:
                found = pattern.fullmatch(path)
                if found and method == request.method:
                    return await handler(request, *(int(g) for g in found.groups()))
            raise _ApiError(404, "404: Not Found")
        except _ApiError as e:
            if e.status in (401, 403):
                self.invalid_requests += 1
            return _json(e.body, e.status)
        except Exception as e:  # a defect of the fake: visible to the test, not swallowed
            self.errors.append(e)
            return _json({"message": f"fake server error: {e!r}", "code": 0}, 500)

    def _refuse(self, scope: str, method: str, path: str, channel_id: int | None, wait: float,
                now: float) -> web.Response:
        self.refused.append(Refusal(scope, method, path, channel_id, wait, now))
        self.invalid_requests += 1
        headers = {"Retry-After": str(max(1, math.ceil(wait))), "X-RateLimit-Scope": scope}
        if scope == "global":
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(self._bucket_headers(self._bucket(channel_id), now))
        return _json({"message": RATE_LIMITED, "retry_after": wait, "global": scope == "global"},
                     429, headers)

    def _bucket(self, channel_id: int) -> _Window:
        bucket = self._buckets.get(channel_id)
        if bucket is None:
            bucket = self._buckets[channel_id] = _Window(self.limits.channel_messages,
                                                         self.limits.channel_window)
        return bucket

    def _bucket_headers(self, bucket: _Window, now: float) -> dict[str, str]:
        after = bucket.reset_after(now)
        return {"X-RateLimit-Limit": str(bucket.capacity),
                "X-RateLimit-Remaining": str(bucket.remaining()),
                "X-RateLimit-Reset": f"{time.time() + after:.3f}",
                "X-RateLimit-Reset-After": f"{after:.3f}",
                "X-RateLimit-Bucket": MESSAGES_BUCKET}

    def _snowflake(self) -> int:
        # Time-ordered like Discord's ids, strictly increasing within this server.
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._last_id = max(self._last_id + 1, ms << 22)
        return self._last_id

    def _writable(self, channel_id: int) -> dict:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _ApiError(404, "Unknown Channel", 10003)
        if channel_id in self.forbidden:
            raise _ApiError(403, "Missing Access", 50001)
        return channel

    # ---- routes ---------------------------------------------------------------------
    async def _me(self, request: web.Request) -> web.Response:
        return _json({**self.bot, "verified": True, "mfa_enabled": False, "flags": 0})

    async def _application(self, request: web.Request) -> web.Response:
        return _json({"id": self.bot["id"], "name": self.bot["global_name"], "icon": None,
                      "description": "", "bot_public": False, "bot_require_code_grant": False,
                      "owner": {**self.bot, "bot": False, "username": "owner"},
                      "verify_key": "0" * 64, "flags": 0, "team": None})

    async def _user(self, request: web.Request, user_id: int) -> web.Response:
        user = self.users.get(user_id)
        if user is None:
            raise _ApiError(404, "Unknown User", 10013)
        return _json(user)

    async def _open_dm(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self.users.get(int(body.get("recipient_id", 0)))
        if user is None:
            raise _ApiError(400, "Invalid Recipient(s)", 50033)
        dm_id = next((cid for cid, c in self.channels.items()
                      if c["type"] == 1 and c["recipients"][0]["id"] == user["id"]), None)
        if dm_id is None:
            dm_id = self._snowflake()
            self.channels[dm_id] = {"id": str(dm_id), "type": 1, "recipients": [user],
                                    "last_message_id": None}
        return _json(self.channels[dm_id])

    async def _channel(self, request: web.Request, channel_id: int) -> web.Response:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _ApiError(404, "Unknown Channel", 10003)
        return _json(channel)

    async def _post_message(self, request: web.Request, channel_id: int) -> web.Response:
        now = self.clock()
        bucket = self._bucket(channel_id)
        wait = bucket.refuses(now)
        if wait is not None:
            return self._refuse("user", request.method, f"/channels/{channel_id}/messages", channel_id,
                                wait, now)
        self._writable(channel_id)
        payload, files = await self._read_message(request)
        content = payload.get("content") or ""
        if len(content) > TEXT_LIMIT:
            raise _ApiError(400, "Invalid Form Body", 50035, errors={"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}})
        if not (content.strip() or files or payload.get("embeds") or payload.get("components")):
            raise _ApiError(400, "Cannot send an empty message", 50006)
        bucket.take(now)
        message = self._message(channel_id, content, payload, files)
        self.sent.append(SentMessage(channel_id, int(message["id"]), content, now,
                                     bucket.remaining(), files, payload.get("components") or [],
                                     payload))
        return _json(message, headers=self._bucket_headers(bucket, now))

    async def _read_message(self, request: web.Request) -> tuple[dict, list[tuple[str, bytes]]]:
        if not request.content_type.startswith("multipart/"):
            return await request.json(), []
        payload: dict = {}
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            elif part.name and part.name.startswith("files["):
                files.append((part.filename or "file", bytes(await part.read())))
        if sum(len(data) for _, data in files) > UPLOAD_LIMIT:
            raise _ApiError(413, "Request entity too large", 40005)
        return payload, files

    def _message(self, channel_id: int, content: str, payload: dict,
                 files: list[tuple[str, bytes]]) -> dict:
        message_id = self._snowflake()
        attachments = [{"id": str(self._snowflake()), "filename": name, "size": len(data),
                        "url": f"{self.url}/attachments/{channel_id}/{message_id}/{name}",
                        "proxy_url": f"{self.url}/attachments/{channel_id}/{message_id}/{name}",
                        "content_type": "application/octet-stream"} for name, data in files]
        message = {"id": str(message_id), "channel_id": str(channel_id), "type": 0,
                   "content": content, "author": self.bot, "attachments": attachments,
                   "embeds": payload.get("embeds") or [], "components": payload.get("components") or [],
                   "mentions": [], "mention_roles": [], "mention_everyone": False, "pinned": False,
                   "tts": bool(payload.get("tts")), "flags": payload.get("flags") or 0,
                   "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                   "edited_timestamp": None}
        self.messages[message_id] = message
        self.channels[channel_id]["last_message_id"] = str(message_id)
        return message

    def _stored(self, channel_id: int, message_id: int) -> dict:
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != str(channel_id):
            raise _ApiError(404, "Unknown Message", 10008)
        return message

    async def _get_message(self, request: web.Request, channel_id: int, message_id: int
                           ) -> web.Response:
        return _json(self._stored(channel_id, message_id))

    async def _edit_message(self, request: web.Request, channel_id: int, message_id: int
                            ) -> web.Response:
        self._writable(channel_id)
        message = self._stored(channel_id, message_id)
        body, _ = await self._read_message(request)
        for key in ("content", "components", "embeds", "flags"):
            if key in body:
                message[key] = body[key] if body[key] is not None else message[key]
        message["edited_timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        self.edits.append((message_id, body))
        return _json(message)

    async def _delete_message(self, request: web.Request, channel_id: int, message_id: int
                              ) -> web.Response:
        self._writable(channel_id)
        self._stored(channel_id, message_id)
        del self.messages[message_id]
        self.deleted.append(message_id)
        return web.Response(status=204, headers={"Via": "1.1 google"})

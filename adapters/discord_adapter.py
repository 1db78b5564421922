"""The Discord door, on discord.py 2.x, sharing the process's event loop.

It turns gateway events (messages, slash commands, button clicks, guild changes) into
neutral `Incoming` messages and delivers the courier's `Outgoing` ones. It decides nothing:
commands are parsed by the core, whether typed as `!cmd`/`/cmd` or chosen from Discord's
slash-command menu (which the adapter fills from the same registry, per guild, at start).

Intents: guilds, guild and direct messages, message content (privileged: needed to read
`!cmd` prefix commands) and members (privileged: member roles and joins). See docs/discord.md.

`start(..., receive=False)` only delivers: it logs in over HTTP, never opens the gateway,
and posts to channels and people by id. discord.py keeps to each channel's route bucket
by itself; the door adds the global limit (50 requests a second), which discord.py only
learns of from a 429.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import discord
from sqlalchemy import update

from adapters.discord_slash import (
    CUSTOM_ID_RE, PLATFORM, choice_key, custom_id, interaction_to_incoming, slash_definitions,
)
from core import i18n, markup
from core.adapter import BUTTONS, EDIT, VOICE, DeliveryError, OnIncoming, RetryAfter
from core.clock import SystemClock
from core.delivery import LEASE
from core.media import MediaStore
from core.messages import Attachment, Incoming, Outgoing, ReplyTo, Sender
from core.storage import unit_of_work
from core.storage.models import AdapterState, OutboxMessage

log = logging.getLogger("tessera.discord")

TEXT_LIMIT = 2000
GLOBAL_REQUESTS_PER_SECOND = 50  # per bot, all routes together (Discord's documented limit)
FILE_LIMIT = 10 * 1024 * 1024  # Discord's default upload and download size for bots
FILES_PER_MESSAGE = 10
BUTTONS_PER_MESSAGE = 25  # 5 rows of 5
LABEL_LIMIT = 80
# Answer a slash command at once if the core replies this fast; otherwise "thinking…".
INTERACTION_GRACE = 2.0


def intents() -> discord.Intents:
    """The gateway intents Tessera needs (two of them privileged; see docs/discord.md)."""
    i = discord.Intents.default()  # guilds, guild/DM messages, reactions...
    i.message_content = True  # read "!cmd" prefix commands
    i.members = True  # member roles and joins
    return i


# -- rendering (pure) -----------------------------------------------------------------------
@dataclass
class DiscordPart:
    """One Discord message: content, files (media-store attachments) and buttons."""

    content: str = ""
    files: list[Attachment] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (label, custom_id)
    disabled: bool = False


def render_parts(message: Outgoing) -> list[DiscordPart]:
    """An Outgoing as the Discord messages that carry it, in order.

    Text is split at 2,000 characters; attachments follow, 10 per message; buttons (choices
    and poll options) ride on the last message so they sit under what they answer.
    """
    text = markup.to_markdown(message.text) if message.text else ""
    if message.poll:
        question = "**" + markup.to_markdown(message.poll.question) + "**"
        text = f"{text}\n\n{question}" if text else question
    parts = [DiscordPart(content=t) for t in markup.split_text(text, TEXT_LIMIT)] if text else []
    files = list(message.attachments)
    for i in range(0, len(files), FILES_PER_MESSAGE):
        chunk = files[i:i + FILES_PER_MESSAGE]
        caption = "\n".join(markup.to_markdown(a.caption) for a in chunk if a.caption)
        parts.append(DiscordPart(content=caption[:TEXT_LIMIT], files=chunk))
    choices = (message.poll.options if message.poll else []) + list(message.choices)
    if choices:
        if not parts:
            parts.append(DiscordPart(content="\u200b"))
        parts[-1].buttons = [(c.label[:LABEL_LIMIT], custom_id(c.command))
                             for c in choices[:BUTTONS_PER_MESSAGE]]
    return parts


_ERROR_PATTERNS: dict[str, list[re.Pattern[str]]] = {}


def is_error_reply(message: Outgoing) -> bool:
    """True when the core's reply is one of its error messages (wrong arguments, not allowed,
    unknown command): those are shown to the slash command's user only.

    The core's catalog is the one source: each `errors.*` template, placeholders as wildcards.
    """
    lang = message.lang or "en"
    if lang not in _ERROR_PATTERNS:
        catalog = i18n.messages(lang) or i18n.messages("en")
        _ERROR_PATTERNS[lang] = [
            re.compile(".*?".join(re.escape(piece) for piece in re.split(r"\{\w+\}", tpl)), re.S)
            for key, tpl in catalog.items() if key.startswith("errors.") and isinstance(tpl, str)
            and len(re.sub(r"\{\w+\}", "", tpl)) >= 8]  # a bare "{x}" would match anything
    return any(p.match(message.text) for p in _ERROR_PATTERNS[lang])


# -- persistent buttons ---------------------------------------------------------------------
class ChoiceButton(discord.ui.DynamicItem[discord.ui.Button], template=CUSTOM_ID_RE):
    """A Tessera button. Its custom_id carries a short key; the command it stands for is in
    AdapterState, so buttons keep working after a restart (the class is registered at start
    and matches every past button by its custom_id pattern)."""

    def __init__(self, label: str, cid: str, disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(label=label, custom_id=cid, disabled=disabled,
                                           style=discord.ButtonStyle.secondary))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> "ChoiceButton":
        return cls(item.label or "", item.custom_id or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        adapter = getattr(interaction.client, "adapter", None)  # the _Client knows its door
        if adapter is not None:
            await adapter.serve_interaction(interaction)


def _view(buttons: list[tuple[str, str]], disabled: bool = False) -> discord.ui.View | None:
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for label, cid in buttons:
        view.add_item(ChoiceButton(label, cid, disabled=disabled))
    return view


# -- the client -----------------------------------------------------------------------------
class _GlobalPace:
    """Discord's global limit kept on our side: at most `per_second` requests in any second.

    discord.py waits out per-route buckets before they overflow (it reads their headers),
    but learns of the global limit only from a 429, and every 429 counts towards Discord's
    invalid-request ban. A request counts from the moment it finished (so latency never
    squeezes two into one of Discord's seconds); one in flight holds its place.
    """

    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(1, per_second)
        self.clock = clock
        self.done: deque[float] = deque()
        self.in_flight = 0

    async def __aenter__(self) -> None:
        while True:
            now = self.clock()
            while self.done and self.done[0] <= now - 1.0:
                self.done.popleft()
            over = len(self.done) + self.in_flight - self.capacity
            if over < 0:
                break
            # The oldest finished requests must leave the second first.
            await asyncio.sleep(self.done[over] + 1.0 - now if over < len(self.done) else 0.02)
        self.in_flight += 1

    async def __aexit__(self, *exc_info: object) -> None:
        self.in_flight -= 1
        self.done.append(self.clock())


class _PacedHttp(discord.http.HTTPClient):
    """discord.py's HTTP client (its rate-limit buckets and 429 handling untouched), kept
    under the global limit, and optionally aimed at another API base such as a local test
    server: only this client's requests move, `Route.BASE` (shared by every client in the
    process) stays Discord's."""

    def __init__(self, api_base: str | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_base = api_base.rstrip("/") if api_base else None
        self.global_pace = _GlobalPace(GLOBAL_REQUESTS_PER_SECOND)

    async def request(self, route: discord.http.Route, **kwargs: Any) -> Any:
        if self.api_base and route.url.startswith(discord.http.Route.BASE):
            route.url = self.api_base + route.url[len(discord.http.Route.BASE):]
        async with self.global_pace:
            return await super().request(route, **kwargs)


class _Client(discord.Client):
    """discord.py's client, forwarding the events Tessera cares about to the adapter."""

    def __init__(self, adapter: "DiscordAdapter", api_base: str | None = None) -> None:
        # Waits longer than 30 s become RetryAfter for the courier instead of a blocked send.
        super().__init__(intents=intents(), max_ratelimit_timeout=30.0)
        self.adapter = adapter
        # The client and its connection state share one HTTP client; swap both.
        self.http = _PacedHttp(api_base, self.http.loop, max_ratelimit_timeout=30.0)
        self._connection.http = self.http

    async def on_ready(self) -> None:
        await self.adapter.sync_commands(self.guilds)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # Buttons arrive through ChoiceButton.callback; slash commands here.
        if interaction.type is discord.InteractionType.application_command:
            await self.adapter.serve_interaction(interaction)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.adapter.sync_commands([guild])
        channel = guild.system_channel or next(
            (c for c in guild.text_channels if c.permissions_for(guild.me).send_messages), None)
        if channel is not None:
            await self.adapter.emit_event("bot_added", channel, {"guild_id": str(guild.id)})

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        for channel in guild.text_channels:
            await self.adapter.emit_event("bot_removed", channel, {"guild_id": str(guild.id)})

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self.adapter.emit_event("chat_deleted", channel, {})


class DiscordAdapter:
    """The Discord door: start()/stop() on the running loop, send() for the courier."""

    platform = PLATFORM
    capabilities = frozenset({BUTTONS, VOICE, EDIT})
    text_limit = TEXT_LIMIT

    def __init__(self, media: MediaStore, engine=None, token: str | None = None,
                 coordinator_role: str = "coordinators", registry=None, clock=None,
                 client: discord.Client | None = None, api_base: str | None = None) -> None:
        """`api_base` replaces "https://discord.com/api/v10" for this adapter's requests
        (a local server speaking Discord's REST API, as in tests and benchmarks)."""
        self.media = media
        self.engine = engine  # for AdapterState and handing slash replies over from the outbox
        self.clock = clock or SystemClock()
        self._token = token  # never logged
        self.coordinator_role = coordinator_role.lower()
        self.registry = registry
        self.client = client or _Client(self, api_base)
        self.on_incoming: OnIncoming | None = None
        self._memory_state: dict[str, dict] = {}  # AdapterState stand-in when no engine
        self._connect_task: asyncio.Task | None = None
        self._dm_channels: dict[int, int] = {}  # person -> their direct channel (no gateway)

    @classmethod
    def from_config(cls, config, media: MediaStore, engine=None, registry=None,
                    clock=None) -> "DiscordAdapter":
        """Build from the `[discord]` section; the token comes from its env variable or file.

        Pass the app's `engine` (button keys, slash replies), `registry` (slash commands) and
        `clock`; without an engine, button keys live in memory and slash replies go to the
        channel as ordinary messages.
        """
        sec = config["discord"]
        return cls(media, engine=engine, token=config.secret("discord", "token"),
                   coordinator_role=sec["coordinator_role"], registry=registry, clock=clock)

    @property
    def bot_names(self) -> tuple[str, ...]:
        user = self.client.user
        return (user.name,) if user else ("tessera",)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, on_incoming: OnIncoming, *, receive: bool = True) -> None:
        """Register persistent buttons, log in and connect in a background task.

        With `receive=False` the door only delivers: it logs in over HTTP and never opens
        the gateway, so nothing is heard and channels are addressed by id alone.
        """
        self.on_incoming = on_incoming
        self.client.add_dynamic_items(ChoiceButton)
        if self._token:
            await self.client.login(self._token)
            if receive:
                self._connect_task = asyncio.create_task(self.client.connect(reconnect=True),
                                                         name="discord-gateway")

    async def stop(self) -> None:
        """Close the gateway connection."""
        if self._token and not self.client.is_closed():
            await self.client.close()  # also closes the HTTP session of a send-only door
        if self._connect_task is not None:
            self._connect_task.cancel()
            await asyncio.gather(self._connect_task, return_exceptions=True)

    async def sync_commands(self, guilds) -> None:
        """Overwrite each guild's slash commands with the registry's (instant, per guild)."""
        if self.registry is None or self.client.application_id is None:
            return
        defs = slash_definitions(self.registry.commands)
        for guild in guilds:
            try:
                await self.client.http.bulk_upsert_guild_commands(
                    self.client.application_id, guild.id, defs)
            except discord.HTTPException as e:
                log.warning("slash commands for guild %s not synced: %s", guild.id, e.status)

    # -- incoming ------------------------------------------------------------------------------
    def _is_coordinator(self, member: Any) -> bool:
        if not isinstance(member, discord.Member):
            return False
        perms = member.guild_permissions
        return bool(perms.manage_guild or perms.administrator or any(
            r.name.lower() == self.coordinator_role for r in member.roles))

    def to_incoming(self, raw: Any) -> Incoming | None:
        """A gateway message (discord.Message) or an interaction payload (dict) as Incoming.

        Attachments are listed with their URL in `platform_ref`; `on_message` downloads them.
        """
        if isinstance(raw, dict):
            inc = interaction_to_incoming(
                raw, commands=self.registry.commands if self.registry else (),
                resolve_choice=self.resolve_choice,
                coordinator_role_ids=self._coordinator_role_ids(raw.get("guild_id")))
            guild = self.client.get_guild(int(raw["guild_id"])) if raw.get("guild_id") else None
            if inc is not None and guild is not None:
                inc.chat_title = f"{guild.name} #{inc.chat_title}"  # as for typed commands
            return inc
        m: discord.Message = raw
        if m.type not in (discord.MessageType.default, discord.MessageType.reply):
            return None
        direct = m.guild is None
        # A voice message (flag 8192) carries exactly one audio attachment.
        voice = m.flags.voice and len(m.attachments) == 1
        atts = [_attachment(a, voice) for a in m.attachments]
        reply = None
        if m.reference and m.reference.message_id:
            ref = m.reference.resolved if isinstance(m.reference.resolved, discord.Message) else None
            reply = ReplyTo(message_id=str(m.reference.message_id),
                            text=ref.content if ref else "",
                            sender_id=str(ref.author.id) if ref else None,
                            attachments=[_attachment(a, False) for a in ref.attachments]
                            if ref else [])
        title = "" if direct else f"{m.guild.name} #{getattr(m.channel, 'name', '')}"
        return Incoming(
            platform=PLATFORM, chat_id=str(m.channel.id), chat_title=title, is_direct=direct,
            sender=Sender(user_id=str(m.author.id), display_name=m.author.display_name,
                          is_chat_admin=self._is_coordinator(m.author), is_bot=m.author.bot),
            text=m.content or "", message_id=str(m.id), reply_to=reply, attachments=atts,
            received_at=m.created_at)

    def _coordinator_role_ids(self, guild_id: Any) -> list[str]:
        guild = self.client.get_guild(int(guild_id)) if guild_id else None
        if guild is None:
            return []
        return [str(r.id) for r in guild.roles if r.name.lower() == self.coordinator_role]

    async def on_message(self, message: discord.Message) -> None:
        """A message in a channel the bot sees: download its media, hand it to the core."""
        if self.on_incoming is None or (self.client.user and message.author.id == self.client.user.id):
            return
        inc = self.to_incoming(message)
        if inc is None:
            return
        by_ref = {str(a.id): a for a in message.attachments}
        for att in inc.attachments:
            await self._download(att, by_ref.get(att.platform_ref or ""))
        await self.on_incoming(inc)

    async def _download(self, att: Attachment, source: discord.Attachment | None) -> None:
        if source is None or (source.size and source.size > min(FILE_LIMIT, self.media.max_bytes)):
            return  # too big: the core sees the attachment without a stored file
        try:
            data = await source.read()
            att.path = self.media.put(data, att.mime_type)
            att.size = len(data)
        except (discord.HTTPException, ValueError, OSError) as e:
            log.warning("attachment %s not downloaded: %s", source.id, type(e).__name__)

    async def emit_event(self, event: str, channel: Any, data: dict[str, Any]) -> None:
        """A chat event (bot added or removed, channel deleted) for the core."""
        if self.on_incoming is None:
            return
        await self.on_incoming(Incoming(
            platform=PLATFORM, chat_id=str(channel.id), chat_title=getattr(channel, "name", ""),
            sender=Sender(user_id="discord", display_name="Discord"), event=event, data=data))

    async def serve_interaction(self, interaction: discord.Interaction) -> None:
        """A slash command or a button click: dispatch it and answer Discord in time."""
        inc = self.to_incoming(interaction_payload(interaction))
        if inc is None or self.on_incoming is None:
            if not interaction.response.is_done():
                await interaction.response.defer()
            return
        if interaction.type is discord.InteractionType.component:
            # A click is acknowledged silently; the vote's answer comes through the outbox.
            await interaction.response.defer()
            await self.on_incoming(inc)
            return
        await self._answer_command(interaction, inc)

    async def _answer_command(self, interaction: discord.Interaction, inc: Incoming) -> None:
        mark = self._outbox_mark()

        async def dispatch() -> OutboxMessage | None:
            await self.on_incoming(inc)
            # Right after the commit, before the courier can run: take the first reply.
            return self._claim_reply(inc.chat_id, mark)

        task = asyncio.create_task(dispatch())
        deferred = False
        try:
            row = await asyncio.wait_for(asyncio.shield(task), INTERACTION_GRACE)
        except asyncio.TimeoutError:
            await interaction.response.defer(thinking=True)
            deferred = True
            row = await task
        if row is None:
            if deferred:
                await interaction.delete_original_response()
            else:
                await interaction.response.send_message("✓", ephemeral=True)
            return
        msg = Outgoing.from_json(row.payload)
        ephemeral = not deferred and is_error_reply(msg)
        try:
            ref = await self._send_parts(render_parts(msg), interaction=interaction,
                                         ephemeral=ephemeral, deferred=deferred)
            self._store_message_state(msg, inc.chat_id, ref)
        except Exception:
            self._release(row.id)  # the courier will deliver it as a normal message
            raise
        self._mark_sent(row.id, ref)

    # -- outbox hand-off for slash replies -----------------------------------------------
    def _outbox_mark(self) -> int:
        if self.engine is None:
            return 0
        from sqlalchemy import func
        from sqlmodel import select
        with unit_of_work(self.engine) as s:
            return s.exec(select(func.max(OutboxMessage.id))).one() or 0

    def _claim_reply(self, chat_id: str, mark: int) -> OutboxMessage | None:
        if self.engine is None:
            return None
        from sqlmodel import select
        # A lease like the courier's: if this process dies mid-answer, the courier delivers it.
        lease = self.clock.now() + LEASE
        with unit_of_work(self.engine) as s:
            row = s.exec(select(OutboxMessage).where(
                OutboxMessage.id > mark, OutboxMessage.platform == PLATFORM,
                OutboxMessage.chat_id == chat_id, OutboxMessage.direct == False,  # noqa: E712
                OutboxMessage.state == "pending", OutboxMessage.lease_until == None,  # noqa: E711
            ).order_by(OutboxMessage.id)).first()
            if row is None:
                return None
            res = s.exec(update(OutboxMessage).where(
                OutboxMessage.id == row.id, OutboxMessage.state == "pending",
                OutboxMessage.lease_until == None)  # noqa: E711
                .values(lease_until=lease))
            return row if res.rowcount == 1 else None

    def _release(self, row_id: int) -> None:
        with unit_of_work(self.engine) as s:
            s.exec(update(OutboxMessage).where(OutboxMessage.id == row_id).values(lease_until=None))

    def _mark_sent(self, row_id: int, ref: str) -> None:
        with unit_of_work(self.engine) as s:
            s.exec(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
                state="sent", sent_at=self.clock.now(), message_ref=ref,
                lease_until=None))

    # -- state ---------------------------------------------------------------------------
    def _get_state(self, key: str) -> dict | None:
        if self.engine is None:
            return self._memory_state.get(key)
        with unit_of_work(self.engine) as s:
            row = s.get(AdapterState, key)
            return dict(row.value) if row else None

    def _put_state(self, key: str, value: dict) -> None:
        if self.engine is None:
            self._memory_state[key] = value
            return
        with unit_of_work(self.engine) as s:
            row = s.get(AdapterState, key)
            if row is None:
                s.add(AdapterState(key=key, value=value))
            else:
                row.value = value
                s.add(row)

    def resolve_choice(self, key: str) -> str | None:
        """The command a button stands for, from AdapterState ("discord:choice:<key>")."""
        state = self._get_state(f"{PLATFORM}:choice:{key}")
        return state.get("command") if state else None

    def _store_message_state(self, message: Outgoing, chat_id: str, ref: str) -> None:
        choices = (message.poll.options if message.poll else []) + list(message.choices)
        for c in choices:
            self._put_state(f"{PLATFORM}:choice:{choice_key(c.command)}",
                            {"command": c.command, "label": c.label})
        if message.poll:
            self._put_state(f"{PLATFORM}:poll:{message.poll.ref}", {
                "chat_id": chat_id, "message_id": ref,
                "buttons": [[c.label[:LABEL_LIMIT], custom_id(c.command)] for c in choices]})

    # -- outgoing --------------------------------------------------------------------------
    def render(self, message: Outgoing) -> list[DiscordPart]:
        """The Discord messages carrying `message` (pure)."""
        return render_parts(message)

    def pace_share(self, fraction: float) -> None:
        """Keep this worker to its share of the bot's global request rate (the other
        delivery workers of the same bot use the rest)."""
        pace = getattr(self.client.http, "global_pace", None)  # dpytest swaps the client
        if pace is not None:
            pace.capacity = max(1, round(GLOBAL_REQUESTS_PER_SECOND * fraction))

    async def send(self, chat_id: str, message: Outgoing, direct: bool = False) -> str:
        """Deliver one Outgoing; returns the id of its first Discord message."""
        try:
            channel = await self._channel(chat_id, direct)
            if message.close_ref:
                await self._close(message.close_ref)
            parts = render_parts(message)
            if not parts:
                return ""
            # Store the buttons' commands before they can be clicked.
            self._store_message_state(message, chat_id, "")
            ref = await self._send_parts(parts, channel=channel)
            self._store_message_state(message, chat_id, ref)
            return ref
        except (discord.Forbidden, discord.NotFound) as e:
            raise DeliveryError(f"discord {e.status}: {e.text[:100]}", permanent=True) from None
        except discord.RateLimited as e:
            raise RetryAfter(e.retry_after, "chat") from None
        except discord.HTTPException as e:
            if e.status == 429:
                raise RetryAfter(_retry_after(e), "chat") from None
            raise DeliveryError(f"discord {e.status}", permanent=False) from None

    async def _channel(self, chat_id: str, direct: bool) -> discord.abc.Messageable:
        """Where to post. The gateway's cache when it has the channel; otherwise the id is
        enough (a partial channel): no lookup request spends the global rate limit."""
        if direct:
            user = self.client.get_user(int(chat_id))
            if user is not None:
                return user.dm_channel or await user.create_dm()
            dm = self._dm_channels.get(int(chat_id))
            if dm is None:
                data = await self.client.http.start_private_message(int(chat_id))
                dm = self._dm_channels[int(chat_id)] = int(data["id"])
            return self.client.get_partial_messageable(dm, type=discord.ChannelType.private)
        return (self.client.get_channel(int(chat_id))
                or self.client.get_partial_messageable(int(chat_id)))

    async def _send_parts(self, parts: list[DiscordPart], channel=None, interaction=None,
                          ephemeral: bool = False, deferred: bool = False) -> str:
        """Send parts in order. A 429 after the first part is waited out here, so the courier
        never retries the whole Outgoing and nothing is sent twice."""
        first_ref = ""
        for i, part in enumerate(parts):
            kwargs: dict[str, Any] = {"content": part.content or None}
            files = [discord.File(self.media.path(a.path), filename=a.filename or
                                  self.media.path(a.path).name) for a in part.files if a.path]
            if files:
                kwargs["files"] = files
            view = _view(part.buttons, part.disabled)
            if view is not None:
                kwargs["view"] = view
            while True:
                try:
                    sent = await self._send_one(kwargs, channel, interaction, i, ephemeral, deferred)
                    break
                except (discord.RateLimited, discord.HTTPException) as e:
                    is_429 = isinstance(e, discord.RateLimited) or e.status == 429
                    if i == 0 or not is_429:
                        raise
                    await asyncio.sleep(e.retry_after if isinstance(e, discord.RateLimited)
                                        else _retry_after(e))
                    for f in files:
                        f.reset()
            if i == 0:
                first_ref = str(sent.id) if sent is not None else ""
        return first_ref

    async def _send_one(self, kwargs, channel, interaction, index, ephemeral, deferred):
        if interaction is None:
            return await channel.send(**kwargs)
        if index == 0 and not deferred:
            await interaction.response.send_message(ephemeral=ephemeral, **_no_none(kwargs))
            return await interaction.original_response()
        return await interaction.followup.send(ephemeral=ephemeral, wait=True, **_no_none(kwargs))

    async def _close(self, ref: str) -> None:
        """Disable the buttons of the ballot opened with `ref` (the message stays)."""
        state = self._get_state(f"{PLATFORM}:poll:{ref}")
        if not state or not state.get("message_id"):
            return
        try:
            channel = await self._channel(state["chat_id"], False)
            msg = await channel.fetch_message(int(state["message_id"]))
            await msg.edit(view=_view([tuple(b) for b in state["buttons"]], disabled=True))
        except (discord.Forbidden, discord.NotFound):
            log.info("ballot %s message gone; nothing to close", ref)


def _no_none(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in kwargs.items() if v is not None}
    out.setdefault("content", "\u200b")
    return out


def _retry_after(e: discord.HTTPException) -> float:
    try:
        return float(e.response.headers.get("Retry-After", 5))
    except (AttributeError, TypeError, ValueError):
        return 5.0


def _attachment(a: discord.Attachment, voice_message: bool) -> Attachment:
    mime = (a.content_type or "application/octet-stream").split(";")[0]
    if voice_message or a.is_voice_message():
        kind = "voice"
    elif mime.startswith("audio/"):
        kind = "audio"
    elif mime.startswith("image/"):
        kind = "image"
    else:
        kind = "file"
    return Attachment(kind=kind, mime_type=mime, size=a.size or 0, filename=a.filename,
                      duration=a.duration, platform_ref=str(a.id))


def interaction_payload(interaction: discord.Interaction) -> dict[str, Any]:
    """The parts of an interaction's gateway payload that `interaction_to_incoming` reads,
    rebuilt from discord.py's object (it keeps `data` raw but not the envelope)."""
    user = interaction.user
    user_json = {"id": str(user.id), "username": user.name,
                 "global_name": getattr(user, "global_name", None), "bot": user.bot}
    payload: dict[str, Any] = {
        "id": str(interaction.id), "type": interaction.type.value, "data": interaction.data or {},
        "channel_id": str(interaction.channel_id) if interaction.channel_id else None,
        "channel": {"id": str(interaction.channel_id),
                    "name": getattr(interaction.channel, "name", None) or ""},
    }
    if interaction.guild_id:
        payload["guild_id"] = str(interaction.guild_id)
        payload["member"] = {
            "user": user_json, "nick": getattr(user, "nick", None),
            "roles": [str(r.id) for r in getattr(user, "roles", [])[1:]],
            "permissions": str(interaction.permissions.value),
        }
    else:
        payload["user"] = user_json
    return payload


__all__ = ["DiscordAdapter", "DiscordPart", "render_parts", "intents", "interaction_payload",
           "is_error_reply", "ChoiceButton"]

"""The Matrix door: a thin adapter on matrix-nio, sharing the process's event loop.

Receiving: a long-poll /sync loop. Its `next_batch` token is stored (AdapterState key
"matrix:next_batch") after each batch has been handed to the dispatcher, so a restart
neither replays old commands nor misses what was said while the bot was down (a gap
larger than one sync's timeline is fetched back through /messages). The very first start
and every freshly joined room begin "now": their backlog is history, not commands.

Sending: `send` turns one Outgoing into one or more events (see adapters.matrix_render).
nio is told never to retry a 429 itself (max_limit_exceeded=0), so a rate limit on the
first event surfaces as `RetryAfter` for the courier; a limit on a later event of the same
message is waited out here, so nothing is sent twice and nothing is dropped.

Delivering only (`start(..., receive=False)`, an extra delivery worker): log in (or reuse the
token the receiving process stored), then send; no /sync at all. nio needs no room state to
send without encryption, and the state a send keeps (direct rooms, polls) lives in the
database, where the receiving process reads it.

Encrypted rooms are not read (no end-to-end encryption yet); the room is told so clearly,
once when the bot finds it and once per person whose encrypted message it cannot read.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Iterable

from nio import (
    AsyncClient,
    AsyncClientConfig,
    DownloadError,
    ErrorResponse,
    JoinError,
    LoginResponse,
    MatrixRoom,
    RoomCreateError,
    RoomGetEventResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
    WhoamiResponse,
)
from nio.api import MessageDirection
from sqlalchemy.engine import Engine
from sqlmodel import select

from core import i18n, outbox
from core.adapter import HTML, POLLS, VOICE, DeliveryError, OnIncoming, RetryAfter
from core.clock import Clock, SystemClock
from core.config import Config
from core.media import MediaStore, MediaTooLarge
from core.messages import Incoming, Outgoing
from core.storage import unit_of_work
from core.storage.models import Account, Person

from adapters import matrix_events, matrix_render
from adapters.matrix_events import MatrixEvent, RoomView
from adapters.matrix_state import LOGIN, NEXT_BATCH, MatrixState

log = logging.getLogger("tessera.matrix")

PLATFORM = "matrix"
# Errors that no retry will fix.
_PERMANENT = {"M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_BAD_JSON", "M_NOT_JSON",
              "M_INVALID_PARAM", "M_UNKNOWN_TOKEN"}
# Enough timeline per room that a normal gap fits in one sync; larger gaps are paged back.
TIMELINE_LIMIT = 100
_BACKFILL_LIMIT = 2000  # events per room and restart; beyond that the gap is logged


class MatrixLoginError(RuntimeError):
    """The homeserver refused the configured credentials (the secret is never included)."""


class MatrixAdapter:
    """Tessera on a Matrix homeserver, through one bot account."""

    platform = PLATFORM
    capabilities = frozenset({POLLS, VOICE, HTML})
    text_limit = matrix_render.TEXT_LIMIT

    def __init__(self, homeserver: str, user_id: str, media: MediaStore, engine: Engine, *,
                 token: str | None = None, password: str | None = None,
                 device_name: str = "tessera", allowed_inviters: Iterable[str] = (),
                 clock: Clock | None = None, poll_timeout_ms: int = 30_000,
                 timeline_limit: int = TIMELINE_LIMIT) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.media = media
        self.engine = engine
        self.state = MatrixState(engine)
        self.device_name = device_name
        self.allowed_inviters = tuple(allowed_inviters)
        self.clock = clock or SystemClock()
        self.poll_timeout_ms = poll_timeout_ms
        self._sync_filter = {"room": {"timeline": {"limit": timeline_limit}}}
        self.waited_out = 0  # 429s on later parts of a message, waited out here
        self._background: set[asyncio.Task] = set()
        self.bot_names = (matrix_events.localpart(user_id),)
        self.display_name = ""
        self._token = token
        self._password = password
        self.client: AsyncClient | None = None
        self.on_incoming: OnIncoming | None = None
        self._task: asyncio.Task | None = None
        self._sync_call: asyncio.Future | None = None
        self._stopping = False
        self._dm_rooms: dict[str, str] = {}  # room id -> the person it is a direct chat with
        self._sent: dict[str, None] = {}  # recent event ids of our own messages (ordered)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Config, media: MediaStore, engine: Engine | None = None,
                    clock: Clock | None = None) -> "MatrixAdapter":
        """The adapter the [matrix] section describes (secrets from env or files).

        Pass the app's engine (and clock); without one the adapter opens its own engine on
        the configured database, which works but costs a second connection pool.
        """
        mx = config["matrix"]
        if engine is None:
            from core.storage import make_engine
            engine = make_engine(config.database_url())
        return cls(mx["homeserver"], mx["user_id"], media, engine,
                   token=config.secret("matrix", "token"),
                   password=config.secret("matrix", "password"),
                   device_name=mx["device_name"], allowed_inviters=mx["allowed_inviters"],
                   clock=clock)

    # -- the adapter interface ------------------------------------------------------------
    async def start(self, on_incoming: OnIncoming, *, receive: bool = True) -> None:
        """Log in, catch up on what happened while down, then sync in the background.

        With `receive=False` only log in: the sync token stays the receiving process's.
        """
        self.on_incoming = on_incoming
        self._stopping = False
        self.client = AsyncClient(
            self.homeserver, self.user_id,
            config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=2,
                                     request_timeout=max(60, self.poll_timeout_ms / 1000 + 30),
                                     encryption_enabled=False, store_sync_tokens=False),
        )
        await self._login()
        if not receive:
            return
        dms = self.state.items("matrix:dm:@")
        self._dm_rooms = {value["room"]: key.split(":", 2)[2] for key, value in dms}
        since = self.state.sync_token()
        first = await self._sync(since=since, timeout=0)
        # Without a stored token this is the first start: the backlog is history.
        await self._handle_sync(first, since, history_only=since is None)
        self._task = asyncio.create_task(self._sync_loop(), name="matrix-sync")

    async def stop(self) -> None:
        """Finish the batch in hand, stop syncing and close the connection (rooms are kept)."""
        self._stopping = True
        if self._sync_call is not None:
            self._sync_call.cancel()
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.client is not None:
            await self.client.close()

    async def send(self, chat_id: str, message: Outgoing, direct: bool = False) -> str:
        """Say `message` in room `chat_id` (or privately to user `chat_id` when direct)."""
        room_id = await self._direct_room(chat_id) if direct else chat_id
        parts = self.render(message)
        refs: list[str] = []
        for part in parts:
            if part.close_ref:
                ref = await self._close_poll(room_id, part, first=not refs)
                if ref:
                    refs.append(ref)
                continue
            refs.append(await self._send_part(room_id, part, first=not refs))
        return refs[-1] if refs else ""

    def to_incoming(self, raw: MatrixEvent) -> Incoming | None:
        """Translate one event (pure; see adapters.matrix_events)."""
        return matrix_events.to_incoming(raw)

    def render(self, message: Outgoing) -> list[matrix_render.Part]:
        """The Matrix events for one Outgoing (pure; see adapters.matrix_render)."""
        return matrix_render.render(message, self.text_limit)

    # -- login ----------------------------------------------------------------------------
    async def _login(self) -> None:
        stored = self.state.get(LOGIN) or {}
        token = self._token or stored.get("access_token")
        if token:
            self.client.restore_login(self.user_id, stored.get("device_id") or "", token)
            who = await self.client.whoami()
            if isinstance(who, WhoamiResponse):
                self.client.user_id = self.user_id = who.user_id
                if who.device_id:
                    self.client.device_id = who.device_id
                self.state.put(LOGIN, {**stored, "device_id": self.client.device_id})
                await self._fetch_display_name()
                return
            if not self._password:
                raise MatrixLoginError(f"the homeserver refused the access token for "
                                       f"{self.user_id}: {getattr(who, 'status_code', '')}")
        if not self._password:
            raise MatrixLoginError("no access token or password configured for Matrix")
        # Keep the device: a new device per restart would pile up sessions on the account.
        if stored.get("device_id"):
            self.client.device_id = stored["device_id"]
        answer = await self.client.login(self._password, device_name=self.device_name)
        if not isinstance(answer, LoginResponse):
            raise MatrixLoginError(f"password login for {self.user_id} failed: "
                                   f"{getattr(answer, 'status_code', '')}")
        self.state.put(LOGIN, {"device_id": answer.device_id, "access_token": answer.access_token})
        await self._fetch_display_name()

    async def _fetch_display_name(self) -> None:
        answer = await self.client.get_displayname(self.user_id)
        self.display_name = getattr(answer, "displayname", None) or ""

    # -- receiving ------------------------------------------------------------------------
    async def _sync(self, since: str | None, timeout: int) -> SyncResponse:
        """One /sync, retried on errors until it succeeds or we stop."""
        delay = 1.0
        while True:
            self._sync_call = asyncio.ensure_future(
                self.client.sync(timeout=timeout, sync_filter=self._sync_filter, since=since,
                                 full_state=True if since is None else None))
            try:
                answer = await self._sync_call
            except asyncio.CancelledError:
                if self._stopping:
                    raise
                answer = None
            except Exception as exc:  # network trouble: keep trying, quietly
                log.warning("matrix sync failed: %s", type(exc).__name__)
                answer = None
            finally:
                self._sync_call = None
            if isinstance(answer, SyncResponse):
                return answer
            if self._stopping:
                raise asyncio.CancelledError
            wait = delay
            if isinstance(answer, ErrorResponse):
                log.warning("matrix sync refused: %s", answer.status_code)
                if answer.retry_after_ms:
                    wait = answer.retry_after_ms / 1000
            await asyncio.sleep(wait)
            delay = min(delay * 2, 60.0)

    async def _sync_loop(self) -> None:
        while not self._stopping:
            since = self.state.sync_token()
            try:
                answer = await self._sync(since=since, timeout=self.poll_timeout_ms)
            except asyncio.CancelledError:
                return
            try:
                await self._handle_sync(answer, since, history_only=False)
            except Exception:
                log.exception("matrix: handling a sync batch failed; skipping it")
                self.state.put(NEXT_BATCH, {"token": answer.next_batch})

    async def _handle_sync(self, sync: SyncResponse, since: str | None,
                           history_only: bool) -> None:
        """Hand one batch to the dispatcher, then store its token (never before)."""
        for room_id, info in sync.rooms.invite.items():
            await self._on_invite(room_id, info)
        for room_id, info in sync.rooms.join.items():
            events = [e.source for e in info.timeline.events if hasattr(e, "source")]
            if info.timeline.limited and since and not history_only:
                events = await self._backfill(room_id, info.timeline.prev_batch, since) + events
            joined_at = _own_join_index(events, self.user_id)
            if history_only:
                events = []  # first start ever: everything so far is history
            elif joined_at is not None:
                events = events[joined_at:]  # a fresh room's backlog is history
            for event in events:
                await self._on_event(room_id, event)
        for room_id, info in sync.rooms.leave.items():
            for event in [e.source for e in info.timeline.events if hasattr(e, "source")]:
                if event.get("type") == "m.room.member" and event.get("state_key") == self.user_id:
                    await self._on_event(room_id, event)
            self._forget_dm(room_id)
        self.state.put(NEXT_BATCH, {"token": sync.next_batch})

    async def _backfill(self, room_id: str, prev_batch: str | None, since: str) -> list[dict]:
        """Events between our last token and this sync's timeline (oldest first)."""
        found: list[dict] = []
        start = prev_batch
        while start and len(found) < _BACKFILL_LIMIT:
            page = await self.client.room_messages(room_id, start=start, end=since,
                                                   direction=MessageDirection.back, limit=100)
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            found.extend(e.source for e in page.chunk if hasattr(e, "source"))
            if not page.end or page.end == start:
                break
            start = page.end
        if len(found) >= _BACKFILL_LIMIT:
            log.warning("matrix: more than %d events missed in %s; older ones skipped",
                        _BACKFILL_LIMIT, room_id)
        return list(reversed(found))

    async def _on_invite(self, room_id: str, info: Any) -> None:
        invite = next((e.source for e in info.invite_state
                       if getattr(e, "source", {}).get("type") == "m.room.member"
                       and e.source.get("state_key") == self.user_id), None)
        inviter = (invite or {}).get("sender", "")
        if not self._inviter_allowed(inviter):
            log.info("matrix: declining invitation to %s from %s", room_id, inviter)
            await self.client.room_leave(room_id)
            return
        for _attempt in range(5):
            answer = await self.client.join(room_id)
            if not (isinstance(answer, JoinError) and answer.retry_after_ms):
                break
            await asyncio.sleep(answer.retry_after_ms / 1000)  # joins are rate-limited too
        if isinstance(answer, JoinError):
            log.warning("matrix: joining %s failed: %s", room_id, answer.status_code)
            return
        if (invite or {}).get("content", {}).get("is_direct"):
            self._remember_dm(inviter, room_id)

    def _inviter_allowed(self, inviter: str) -> bool:
        if not self.allowed_inviters:
            return True
        return any(inviter == rule or (rule.startswith(":") and inviter.endswith(rule))
                   for rule in self.allowed_inviters)

    async def _on_event(self, room_id: str, event: dict) -> None:
        etype = event.get("type")
        room = self.client.rooms.get(room_id)
        if etype == "m.room.encrypted" and event.get("sender") != self.user_id:
            self._warn_encrypted(room_id, event.get("sender", ""), room)
            return
        if etype == "m.room.encryption" or (
                room is not None and room.encrypted and etype == "m.room.member"
                and event.get("state_key") == self.user_id
                and (event.get("content") or {}).get("membership") == "join"):
            self._warn_encrypted(room_id, None, room)
        raw = MatrixEvent(self._room_view(room_id, room), event, self.user_id,
                          self.display_name, self._choices_for(event))
        incoming = self.to_incoming(raw)
        if incoming is None:
            self._after_membership(room_id, event, room)
            return
        if incoming.reply_to is not None:
            await self._fill_reply(room_id, incoming)
        if incoming.attachments:
            incoming.attachments = [await self._download(a) for a in incoming.attachments]
        await self.on_incoming(incoming)
        self._after_membership(room_id, event, room)

    def _room_view(self, room_id: str, room: MatrixRoom | None) -> RoomView:
        if room is None:
            return RoomView(room_id, is_direct=room_id in self._dm_rooms)
        levels = room.power_levels
        return RoomView(
            room_id=room_id,
            title=room.display_name,
            is_direct=room_id in self._dm_rooms,
            encrypted=room.encrypted,
            power_levels={"users": dict(levels.users),
                          "users_default": levels.defaults.users_default},
            display_names={uid: u.display_name for uid, u in room.users.items()
                           if u.display_name},
        )

    def _choices_for(self, event: dict) -> dict[str, str]:
        content = event.get("content") or {}
        target = matrix_events.relates_to(content).get("event_id")
        if not target:
            return {}
        if event.get("type") in matrix_events.POLL_RESPONSE_TYPES:
            poll = self.state.get(f"matrix:poll:{target}")
            # Votes after the poll ended do not count (MSC3381).
            return dict(poll["answers"]) if poll and not poll.get("closed") else {}
        if event.get("type") == "m.reaction":
            return dict((self.state.get(f"matrix:choices:{target}") or {}).get("choices", {}))
        return {}

    async def _fill_reply(self, room_id: str, incoming: Incoming) -> None:
        ref = incoming.reply_to
        if ref.message_id in self._sent:
            ref.sender_id = self.user_id
            return
        answer = await self.client.room_get_event(room_id, ref.message_id)
        if isinstance(answer, RoomGetEventResponse):
            source = answer.event.source
            ref.sender_id = source.get("sender")
            ref.text = str((source.get("content") or {}).get("body") or "")

    async def _download(self, att):
        """Fetch an attachment from the media repository into the media store."""
        if att.size and att.size > self.media.max_bytes:
            log.info("matrix: attachment of %d bytes is over the media limit", att.size)
            return att
        answer = await self.client.download(mxc=att.platform_ref)
        if isinstance(answer, DownloadError) or not hasattr(answer, "body"):
            log.warning("matrix: download failed: %s", getattr(answer, "status_code", ""))
            return att
        try:
            key = self.media.put(answer.body, att.mime_type)
        except MediaTooLarge:
            return att
        return replace(att, path=key, size=len(answer.body))

    def _after_membership(self, room_id: str, event: dict, room: MatrixRoom | None) -> None:
        """Forget a direct chat its person left; leave rooms where nobody else remains."""
        if event.get("type") != "m.room.member" or event.get("state_key") == self.user_id:
            return
        if (event.get("content") or {}).get("membership") not in ("leave", "ban"):
            return
        if self._dm_rooms.get(room_id) == event.get("state_key"):
            self._forget_dm(room_id)
            self._in_background(self._leave(room_id))
        elif room is not None and room.joined_count <= 1 and not room.invited_count:
            self._in_background(self._leave(room_id))

    def _in_background(self, work) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)  # keep a reference until done
        task.add_done_callback(self._background.discard)

    async def _leave(self, room_id: str) -> None:
        """Leave cleanly: leave, then forget, so the room drops off the bot's list."""
        await self.client.room_leave(room_id)
        await self.client.room_forget(room_id)

    # -- encrypted rooms --------------------------------------------------------------------
    @staticmethod
    def _room_language(session, room_id: str, sender: str | None) -> str:
        from core.circles import circle_for_chat
        circle = circle_for_chat(session, PLATFORM, room_id)
        if circle is not None and circle.language:
            return circle.language
        if sender:
            acc = session.exec(select(Account).where(Account.platform == PLATFORM,
                                                     Account.platform_user_id == sender)).first()
            person = session.get(Person, acc.person_id) if acc else None
            if person is not None and person.language:
                return person.language
        return "en"

    def _warn_encrypted(self, room_id: str, sender: str | None, room: MatrixRoom | None) -> None:
        """Queue a clear notice through the outbox (once per room, once per sender)."""
        with unit_of_work(self.engine) as session:
            # In the circle's language when the room is one (else the sender's, else English).
            lang = self._room_language(session, room_id, sender)
            if sender:
                name = (room.user_name(sender) if room else None) or matrix_events.localpart(sender)
                text, key = (i18n.t(lang, "matrix.encrypted_message", name=name),
                             f"matrix:encrypted:{room_id}:{sender}")
            else:
                text, key = i18n.t(lang, "matrix.encrypted_room"), f"matrix:encrypted:{room_id}"
            outbox.enqueue(session, PLATFORM, room_id, Outgoing(text=text, lang=lang),
                           now=self.clock.now(), key=key)
        if sender:  # the room notice too, in case the encryption event came before us
            self._warn_encrypted(room_id, None, room)

    # -- sending --------------------------------------------------------------------------
    async def _send_part(self, room_id: str, part: matrix_render.Part, first: bool) -> str:
        content = part.content
        if part.attachment is not None:
            url = await self._upload(part.attachment, first)
            content = matrix_render.media_content(part.attachment, url)
            if "m.relates_to" in part.content:
                content["m.relates_to"] = part.content["m.relates_to"]
        event_id = await self._room_send(room_id, part.event_type, content, first)
        self._remember_sent(event_id)
        if part.poll_ref:
            start = content.get(matrix_render.POLL_START, {})
            question = (start.get("question") or {}).get("body", "")
            self.state.put(f"matrix:poll:{event_id}", {"room": room_id, "ref": part.poll_ref,
                                                   "question": question, "answers": part.choices})
            self.state.put(f"matrix:poll_ref:{room_id}:{part.poll_ref}", {"event_id": event_id})
        elif part.choices:
            self.state.put(f"matrix:choices:{event_id}", {"room": room_id, "choices": part.choices})
        for key in part.reactions:
            self._remember_sent(await self._room_send(room_id, "m.reaction", {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
                first=False))
        return event_id

    async def _close_poll(self, room_id: str, part: matrix_render.Part, first: bool) -> str | None:
        found = self.state.get(f"matrix:poll_ref:{room_id}:{part.close_ref}")
        if not found:
            log.info("matrix: no open poll %s in %s to close", part.close_ref, room_id)
            return None
        poll_id = found["event_id"]
        poll = self.state.get(f"matrix:poll:{poll_id}") or {}
        text = part.content.get("body") or i18n.t("en", "matrix.poll_closed",
                                                   question=poll.get("question", ""))
        content = matrix_render.poll_end_content(poll_id, text)
        event_id = await self._room_send(room_id, matrix_render.POLL_END, content, first)
        self.state.put(f"matrix:poll:{poll_id}", {**poll, "closed": True})
        return event_id

    async def _room_send(self, room_id: str, event_type: str, content: dict, first: bool) -> str:
        """Send one event. Only the first event of a message may hand a 429 to the courier;
        later ones wait it out here, so the parts already sent are never sent again."""
        failures = 0
        while True:
            try:
                answer = await self.client.room_send(room_id, event_type, content)
            except Exception as exc:  # network trouble (aiohttp, timeouts): retried below
                answer = exc
            if isinstance(answer, RoomSendResponse):
                return answer.event_id
            try:
                _raise_for(answer)
            except RetryAfter as limit:
                if first:
                    raise
                self.waited_out += 1
                await asyncio.sleep(limit.seconds)
            except DeliveryError:
                failures += 1
                if first or failures >= 3:
                    raise
                await asyncio.sleep(failures)

    async def _upload(self, att, first: bool) -> str:
        data = self.media.get(att.path)
        while True:
            answer, _keys = await self.client.upload(
                lambda *_: data, content_type=att.mime_type,
                filename=att.filename or None, filesize=len(data))
            if isinstance(answer, UploadResponse):
                return answer.content_uri
            try:
                _raise_for(answer)
            except RetryAfter as limit:
                if first:
                    raise
                self.waited_out += 1
                await asyncio.sleep(limit.seconds)

    async def _direct_room(self, user_id: str) -> str:
        """The direct chat with `user_id`, created (and remembered) on first use."""
        known = self.state.get(f"matrix:dm:{user_id}")
        if known:
            return known["room"]
        answer = await self.client.room_create(is_direct=True, invite=[user_id],
                                               preset=RoomPreset.trusted_private_chat)
        if isinstance(answer, RoomCreateError):
            _raise_for(answer)
        self._remember_dm(user_id, answer.room_id)
        return answer.room_id

    def _remember_dm(self, user_id: str, room_id: str) -> None:
        self._dm_rooms[room_id] = user_id
        self.state.put(f"matrix:dm:{user_id}", {"room": room_id})

    def _forget_dm(self, room_id: str) -> None:
        user_id = self._dm_rooms.pop(room_id, None)
        if user_id:
            self.state.delete(f"matrix:dm:{user_id}", only_if={"room": room_id})

    def _remember_sent(self, event_id: str) -> None:
        self._sent[event_id] = None
        while len(self._sent) > 1000:
            self._sent.pop(next(iter(self._sent)))


def _own_join_index(events: list[dict], user_id: str) -> int | None:
    """Where the bot's own joining appears in a timeline (None when it does not)."""
    for i, ev in enumerate(events):
        if ev.get("type") != "m.room.member" or ev.get("state_key") != user_id:
            continue
        before = ((ev.get("unsigned") or {}).get("prev_content") or {}).get("membership")
        if (ev.get("content") or {}).get("membership") == "join" and before != "join":
            return i
    return None


def _raise_for(answer: Any) -> None:
    """Map a nio error (or exception) to RetryAfter / DeliveryError."""
    if isinstance(answer, ErrorResponse):
        code = answer.status_code or ""
        if code == "M_LIMIT_EXCEEDED" or getattr(answer.transport_response, "status", 0) == 429:
            # Synapse limits a user, not a room: every room of the bot waits.
            raise RetryAfter((answer.retry_after_ms or 1000) / 1000, scope="global")
        raise DeliveryError(f"matrix: {code or 'error'} {answer.message}"[:300],
                            permanent=code in _PERMANENT)
    if isinstance(answer, BaseException):
        raise DeliveryError(f"matrix: {type(answer).__name__}", permanent=False)
    raise DeliveryError(f"matrix: unexpected answer {type(answer).__name__}")

"""Couriers: each adapter's worker that drains its platform's outbox rows.

A courier keeps each chat's messages in order, sends at the pace the platform allows (per
chat and overall), honours the platform's retry-after, backs off on failures, and after too
many failures dead-letters the row and tells the circle's coordinators. Rows are claimed
with a short lease, so several workers may share one database without sending a row twice
in normal operation. Delivery is at-least-once: a crash between the platform accepting a
message and the row being marked sent can repeat that one message after restart.

Several workers of one platform share its chats out by route (core.courier_routes): each
sends only to the chats of the routes it walks, at the per-chat pace, within its share of
the platform's global rate.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import select

from core.adapter import Adapter, DeliveryError, RetryAfter
from core.clock import utc
from core.courier_routes import CHECK_SECONDS, Route, Routes, route_of
from core.logs import scrub
from core.markup import directional
from core.messages import Outgoing
from core.storage import is_postgres, unit_of_work
from core.storage.models import Circle, OutboxMessage
from core.work import Services, Work

log = logging.getLogger("tessera.delivery")

LEASE = timedelta(seconds=120)
ROUND_GAP = 0.02  # seconds between two rounds of one courier at the most


@dataclass
class Pace:
    """How fast one platform may be spoken to."""

    per_chat: int = 20  # messages per chat per window
    chat_window: float = 60.0  # seconds
    global_per_second: float = 30.0


class _Pacer:
    """Sliding windows per chat and a token bucket overall (this worker's share of it)."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self.share = 1.0  # of the platform's global rate, when workers share it out
        self.chat_sends: dict[str, deque[float]] = {}
        self.blocked_until: dict[str, float] = {}
        self.global_blocked_until = 0.0
        self.tokens = float(max(1.0, pace.global_per_second))
        self.at = 0.0

    @property
    def rate(self) -> float:
        """Messages per second this worker may send overall."""
        return self.pace.global_per_second * self.share

    def chat_wait(self, chat: str, t: float) -> float:
        """Seconds until `chat` may be sent to (0 when now)."""
        wait = max(0.0, self.blocked_until.get(chat, 0.0) - t, self.global_blocked_until - t)
        q = self.chat_sends.get(chat)
        if q:
            while q and q[0] <= t - self.pace.chat_window:
                q.popleft()
            if len(q) >= self.pace.per_chat:
                wait = max(wait, q[0] + self.pace.chat_window - t)
        return wait

    def take_global(self, t: float) -> float:
        """Take one global token; return 0 when taken, else seconds to wait."""
        rate = self.rate
        if rate <= 0:
            return CHECK_SECONDS  # no route walked: nothing may go until one is
        self.tokens = min(max(1.0, rate), self.tokens + (t - self.at) * rate)
        self.at = t
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate

    def record(self, chat: str, t: float) -> None:
        self.chat_sends.setdefault(chat, deque()).append(t)


class Courier:
    """Delivers one platform's outbox rows through its adapter."""

    def __init__(self, services: Services, adapter: Adapter, pace: Pace) -> None:
        self.services = services
        self.adapter = adapter
        self.platform = adapter.platform
        cfg = services.config["delivery"]
        self.max_attempts = cfg["max_attempts"]
        self.backoff = cfg["backoff_seconds"]
        self.max_backoff = cfg["max_backoff_seconds"]
        self.concurrency = cfg["concurrency"]
        self.pacer = _Pacer(pace)
        self._wake = asyncio.Event()
        self._stopping = False
        self.sent_count = 0
        self.retry_after_count = 0
        self.owner = f"{self.platform}-{id(self):x}"
        self.pace_wait = float("inf")  # seconds until pacing lets the next row go
        self.routes: Routes | None = None  # None: this courier serves every chat
        self._next_check = 0.0
        self._busy: dict[int, int] = {}  # route -> sends in flight
        self._sending: set[int] = set()  # ids of the rows in flight here
        self._running = False
        # Sends run as tasks of their own, one chat at a time: a slow chat (a platform making
        # us wait out a bucket, a server that hangs) never holds back the other chats.
        self._tasks: dict[tuple[str, bool], asyncio.Task] = {}
        self._sem: asyncio.Semaphore | None = None

    def take_route(self, route: Route) -> None:
        """Serve only the chats of `route` (and of dead colleagues' routes), at its share of
        the global rate. Until the first check this courier sends nothing."""
        self.routes = Routes(self.services.engine, self.platform, route)
        self._next_check = 0.0
        self.pacer.share = -1.0  # unknown: the first round applies the real share

    def wake(self) -> None:
        """New rows may be waiting: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current round and stop (a courier not running gives its routes up now)."""
        self._stopping = True
        self._wake.set()
        if not self._running and self.routes is not None:
            self.routes.close()

    def void_stale_leases(self) -> int:
        """On SQLite (one process by design), leases left by a process that stopped or died
        mid-send are void: its rows are retried now rather than when the lease runs out.
        (On PostgreSQL, workers void a route's leases when they take the route over.)"""
        if is_postgres(self.services.engine):
            return 0
        with unit_of_work(self.services.engine) as s:
            return s.exec(update(OutboxMessage).where(
                OutboxMessage.platform == self.platform, OutboxMessage.state == "pending",
                OutboxMessage.lease_until != None)  # noqa: E711
                .values(lease_until=None)).rowcount

    async def run(self, idle_poll: float = 1.0) -> None:
        """Deliver until stopped, sleeping while nothing is ready."""
        self._running = True
        try:
            while not self._stopping:
                try:
                    delay = await self.deliver_ready()
                except Exception:
                    log.exception("%s courier round failed; retrying", self.platform)
                    delay = idle_poll
                if self._stopping:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(),
                                           timeout=min(idle_poll, max(delay, 0.005)))
                except asyncio.TimeoutError:
                    pass
                # Every finished send wakes the courier; gather those of a few milliseconds
                # into one round, so a busy platform costs a query per round, not per send.
                await asyncio.sleep(ROUND_GAP)
        finally:
            self._running = False
            for task in self._tasks.values():  # App.stop gave them time to finish first
                task.cancel()
            if self.routes is not None:
                self.routes.close()  # colleagues take our routes over at their next check

    async def drain(self, timeout: float = 30.0, max_wait: float = 5.0) -> None:
        """Deliver until nothing is ready within `max_wait` seconds (script mode, tests).

        Rows held back for longer (a retry after a back-off) stay queued for later.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            await self.deliver_ready()
            if any(not task.done() for task in self._tasks.values()):
                await self.finish(max(0.0, end - loop.time()))
                continue  # something went out: the chats' next rows may be ready now
            # Only pacing waits are waited out here; rows due later by the clock (a back-off,
            # a retry-after) stay queued, so a fake clock in tests never stalls the drain.
            if self.pace_wait > max_wait:
                return
            await asyncio.sleep(min(self.pace_wait, 0.05))

    async def deliver_ready(self) -> float:
        """Send every row that may go now; return seconds until the next could (inf: none)."""
        loop = asyncio.get_running_loop()
        if self.routes is not None:
            if loop.time() >= self._next_check:
                self._check_routes(loop.time())
            self._apply_share(loop.time())
            if self.pacer.rate <= 0:  # routes taken less than a second ago: not yet
                self.pace_wait = 0.25
                return 0.25
        now = self.services.clock.now()
        self.pace_wait = float("inf")
        flying = {chat for chat, task in self._tasks.items() if not task.done()}
        heads = [r for r in self._heads(now) if (r.chat_id, r.direct) not in flying]
        if not heads:
            return CHECK_SECONDS if self.routes is not None else float("inf")
        t = loop.time()
        next_wait = float("inf")
        ready: list[OutboxMessage] = []
        for row in heads:
            due_in = (utc(row.next_attempt_at) - now).total_seconds()
            pace = self.pacer.chat_wait(row.chat_id, t)
            if due_in > 0:
                next_wait = min(next_wait, due_in)
            elif pace > 0:
                self.pace_wait = min(self.pace_wait, pace)
                next_wait = min(next_wait, pace)
            else:
                ready.append(row)
        # A round holds about a second of this worker's budget, so a long backlog never keeps
        # it from noticing colleagues that died or came back.
        ready = ready[:max(0, max(self.concurrency, math.ceil(self.pacer.rate)) - len(flying))]
        if self._sem is None or not flying:  # (a courier may outlive one event loop)
            self._sem = asyncio.Semaphore(self.concurrency)

        async def one(row: OutboxMessage) -> None:
            async with self._sem:
                while True:
                    route = self._route(row.chat_id)
                    if route is None:
                        return  # handed to a colleague meanwhile
                    g = self.pacer.take_global(loop.time())
                    if g == 0:
                        break
                    await asyncio.sleep(g)
                if not self._claim(row.id):
                    return
                self._busy[route] = self._busy.get(route, 0) + 1
                self._sending.add(row.id)
                try:
                    self.pacer.record(row.chat_id, loop.time())
                    await self._send(row)
                finally:
                    self._busy[route] -= 1
                    self._sending.discard(row.id)

        for row in ready:
            chat = (row.chat_id, row.direct)
            self._tasks[chat] = asyncio.create_task(one(row), name=f"send-{self.platform}-{row.id}")
            self._tasks[chat].add_done_callback(lambda task, chat=chat: self._sent(chat, task))
        if ready:
            self.pace_wait = 0.0
        return next_wait  # and a finished send wakes the next round at once

    def _sent(self, chat: tuple[str, bool], task: asyncio.Task) -> None:
        if self._tasks.get(chat) is task:
            del self._tasks[chat]
        if not task.cancelled() and task.exception() is not None:
            log.error("%s courier send failed outside its own error handling", self.platform,
                      exc_info=task.exception())
        self._wake.set()

    async def finish(self, timeout: float = 10.0) -> None:
        """Wait for the sends in flight (up to `timeout` seconds; the rest are cancelled and,
        their rows still leased, retried after the lease by whoever walks their chats)."""
        tasks = list(self._tasks.values())
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _heads(self, now: datetime) -> list[OutboxMessage]:
        """The oldest pending row of each chat this courier serves (later rows wait for it:
        order per chat), oldest first."""
        pending = (OutboxMessage.platform == self.platform, OutboxMessage.state == "pending")
        with unit_of_work(self.services.engine) as s:
            # Every chat's first row, however long one chat's queue: a group with thousands
            # waiting must not hide the other chats' heads behind it.
            firsts = s.exec(select(OutboxMessage.chat_id, func.min(OutboxMessage.id))
                            .where(*pending)
                            .group_by(OutboxMessage.chat_id, OutboxMessage.direct)).all()
            ids = sorted(i for chat, i in firsts if self._route(chat) is not None)[:5000]
            rows: list[OutboxMessage] = []
            for at in range(0, len(ids), 500):
                rows += s.exec(select(OutboxMessage).where(
                    OutboxMessage.id.in_(ids[at:at + 500]))).all()
        rows.sort(key=lambda r: r.id)
        return [r for r in rows if r.state == "pending"
                and (r.lease_until is None or utc(r.lease_until) <= now)]

    def _route(self, chat_id: str) -> int | None:
        """The route `chat_id` is on when this courier serves it now (1 without routes)."""
        if self.routes is None:
            return 1
        return route_of(chat_id, self.routes.own.of) if self.routes.serves(chat_id) else None

    # -- sharing a platform with other workers ---------------------------------------------
    def _check_routes(self, t: float) -> None:
        self._next_check = t + CHECK_SECONDS
        busy = {route for route, n in self._busy.items() if n > 0}
        gained, lost = self.routes.check(t, busy)
        if lost:  # a later walker primes itself from the database
            of = self.routes.own.of
            for chat in [c for c in self.pacer.chat_sends if route_of(c, of) in lost]:
                del self.pacer.chat_sends[chat]
        if gained:
            self._take_over(gained)

    def _take_over(self, gained: set[int]) -> None:
        """Start walking `gained`: whoever walked it before is gone (its locks were released
        with its connection, or it handed the route back with nothing in flight), so its
        leases are void; and the chats' recent sends count against their windows here."""
        of, now = self.routes.own.of, self.services.clock.now()
        loop_now = asyncio.get_running_loop().time()
        since = now - timedelta(seconds=self.pacer.pace.chat_window)
        with unit_of_work(self.services.engine) as s:
            leased = s.exec(select(OutboxMessage.id, OutboxMessage.chat_id).where(
                OutboxMessage.platform == self.platform, OutboxMessage.state == "pending",
                OutboxMessage.lease_until != None)).all()  # noqa: E711
            void = [i for i, chat in leased
                    if route_of(chat, of) in gained and i not in self._sending]
            if void:
                s.exec(update(OutboxMessage).where(OutboxMessage.id.in_(void),
                                                   OutboxMessage.state == "pending")
                       .values(lease_until=None))
            recent = s.exec(select(OutboxMessage.chat_id, OutboxMessage.sent_at).where(
                OutboxMessage.platform == self.platform, OutboxMessage.state == "sent",
                OutboxMessage.sent_at >= since).order_by(OutboxMessage.sent_at)).all()
        for chat, sent_at in recent:
            if route_of(chat, of) in gained:
                self.pacer.record(chat, loop_now - (now - utc(sent_at)).total_seconds())
        if void:
            log.info("%s courier took over %d claimed message(s) on routes %s", self.platform,
                     len(void), sorted(gained))

    def _apply_share(self, t: float) -> None:
        """Use the walked routes' part of the global rate; tell the door, which may pace its
        own calls (see `core.adapter`)."""
        share = self.routes.share_at(t) if self.routes is not None else 1.0
        if share == self.pacer.share:
            return
        self.pacer.share = share
        self.pacer.tokens = min(self.pacer.tokens, max(1.0, self.pacer.rate))
        tell = getattr(self.adapter, "pace_share", None)
        if tell is not None:
            tell(share)

    def _claim(self, row_id: int) -> bool:
        now = self.services.clock.now()
        with unit_of_work(self.services.engine) as s:
            res = s.exec(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.state == "pending",
                       or_(OutboxMessage.lease_until == None,  # noqa: E711
                           OutboxMessage.lease_until <= now))
                .values(lease_until=now + LEASE)
            )
            return res.rowcount == 1

    async def _send(self, row: OutboxMessage) -> None:
        msg = Outgoing.from_json(row.payload)
        msg.text = directional(msg.text, msg.lang)
        for a in msg.attachments:  # a chart's caption is read like text, under the picture
            a.caption = directional(a.caption, msg.lang)
        try:
            ref = await self.adapter.send(row.chat_id, msg, direct=row.direct)
        except RetryAfter as ra:
            self.retry_after_count += 1
            t = asyncio.get_running_loop().time() + ra.seconds
            if ra.scope == "global":
                self.pacer.global_blocked_until = max(self.pacer.global_blocked_until, t)
            else:
                self.pacer.blocked_until[row.chat_id] = max(self.pacer.blocked_until.get(row.chat_id, 0), t)
            # A rate limit is not a failure: the row keeps its attempts and waits its turn.
            self._release(row.id, delay=ra.seconds, error=str(ra), count=False)
        except DeliveryError as e:
            self._failed(row, str(e), permanent=e.permanent)
        except Exception as e:  # an adapter bug or network trouble: retry, then dead-letter
            log.warning("%s delivery of row %s failed: %s", self.platform, row.id, type(e).__name__)
            self._failed(row, f"{type(e).__name__}: {e}", permanent=False)
        else:
            self.sent_count += 1
            with unit_of_work(self.services.engine) as s:
                r = s.get(OutboxMessage, row.id)
                r.state, r.sent_at, r.message_ref = "sent", self.services.clock.now(), ref
                r.lease_until = None
                s.add(r)

    def _release(self, row_id: int, delay: float, error: str, count: bool) -> None:
        with unit_of_work(self.services.engine) as s:
            r = s.get(OutboxMessage, row_id)
            r.next_attempt_at = self.services.clock.now() + timedelta(seconds=delay)
            r.lease_until = None
            r.last_error = scrub(error)[:500]
            if count:
                r.attempts += 1
            s.add(r)

    def _failed(self, row: OutboxMessage, error: str, permanent: bool) -> None:
        attempts = row.attempts + 1
        if not permanent and attempts < self.max_attempts:
            delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1))
            self._release(row.id, delay=delay, error=error, count=True)
            return
        now = self.services.clock.now()
        with unit_of_work(self.services.engine) as s:
            r = s.get(OutboxMessage, row.id)
            r.state, r.attempts, r.last_error, r.lease_until = "dead", attempts, scrub(error)[:500], None
            s.add(r)
            work = Work(self.services, s, now)
            work.audit("delivery.dead", circle_id=r.circle_id, row=r.id, platform=r.platform,
                       error=scrub(error)[:200])
            circle = s.get(Circle, r.circle_id) if r.circle_id else None
            if circle is not None and not r.direct:
                preview = (r.payload.get("text") or "")[:80]
                work.tell_coordinators(circle, "delivery.dead_letter", key=f"dead:{r.id}",
                                       circle=circle.name, platform=r.platform, preview=preview,
                                       attempts=attempts)
        log.error("%s row %s dead after %d attempts", self.platform, row.id, attempts)
        for courier in self.services.extras.get("couriers", {}).values():
            courier.wake()

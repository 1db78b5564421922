"""Routes: how one platform's chats are shared out among several delivery workers.

A platform's global rate limit belongs to the bot's token, not to a process, and a chat's own
limit (20 messages a minute in a Telegram group) can only be kept exactly by a process that
sees every send to that chat. So the chats are split into N routes by a stable hash of the
chat id, and worker K of N walks route K: it alone sends to those chats, paces them from its
own memory, and uses K's share (1/N) of the global rate. When a worker dies, another one walks
its route as well (and its share of the rate goes with it) until it comes back.

Two PostgreSQL advisory locks per route carry the whole protocol, on one connection per
courier that is used for nothing else:

* ON DUTY K is held by worker K for as long as it lives;
* WALKING K is held by whichever worker sends for route K now (at most one: it is a lock).

Every couple of seconds each worker takes its own WALKING lock if it can, takes the WALKING
lock of any route nobody is on duty for (a dead colleague's), and hands back routes it walks
for others once their own worker is on duty again. PostgreSQL drops a dead process's locks the
moment its connection closes, so nothing depends on a heartbeat. A route's part of the rate is
given up at once when the route is handed back, but used by its new walker only a second after
taking it (the platform still counts the previous walker's last second of sends), so the
shares in use never add up to more than the whole rate, even during a takeover.

The alternatives, and why not: a token bucket shared in the database costs a write per
message and still leaves each chat's window blind to sends by other processes; splitting only
the global rate (every worker sends to every chat at 1/N) keeps the global limit but lets two
workers fill one chat's window between them. Routes need no table, and no message waits on
another process.

On SQLite there is nobody to share with (one process per database): a route there is static
and never taken over, so `tessera run` refuses extra workers on SQLite.
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from core.storage import is_postgres

log = logging.getLogger("tessera.delivery")

CHECK_SECONDS = 2.0  # how often a worker looks for dead or returning colleagues
SETTLE_SECONDS = 1.0  # platforms' global windows are a second long
MAX_WORKERS = 255
_ON_DUTY, _WALKING = 1, 2


@dataclass(frozen=True)
class Route:
    """This worker's place among a platform's couriers: route `number` of `of`."""

    number: int = 1
    of: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.number <= self.of <= MAX_WORKERS:
            raise ValueError(f"a worker is K/N with 1 <= K <= N <= {MAX_WORKERS}")

    @classmethod
    def parse(cls, spec: str) -> "Route":
        """ "2/3" -> route 2 of 3 (ValueError on anything else)."""
        number, sep, of = spec.partition("/")
        if not sep or not number.strip().isdigit() or not of.strip().isdigit():
            raise ValueError(f"expected K/N such as 2/3, not {spec!r}")
        return cls(int(number), int(of))

    def __str__(self) -> str:
        return f"{self.number}/{self.of}"


@dataclass(frozen=True)
class RouteLock:
    """One route lock some worker holds: `kind` is "on duty" or "walking"."""

    kind: str
    number: int
    of: int
    pid: int  # the PostgreSQL backend holding it


def route_locks(conn: Connection, platform: str) -> list[RouteLock]:
    """Every route lock held on `platform` in this database now (PostgreSQL's pg_locks)."""
    rows = conn.execute(text(
        "SELECT objid::bigint, pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND objsubid = 2 AND classid::bigint = :s"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"s": _space(platform)}).all()
    kinds = {_ON_DUTY: "on duty", _WALKING: "walking"}
    return [RouteLock(kinds.get(key >> 16, "?"), key & 0xFF, (key >> 8) & 0xFF, pid)
            for key, pid in rows]


def _space(platform: str) -> int:
    # Every platform has its own lock space, so its workers never block another's.
    return zlib.crc32(f"tessera:courier:{platform}".encode()) & 0x7FFFFFFF


def route_of(chat_id: str, of: int) -> int:
    """The route (1..of) a chat belongs to; the same in every process and on every restart."""
    return zlib.crc32(str(chat_id).encode("utf-8")) % of + 1


class Routes:
    """Which routes this worker walks now; `check()` keeps that up to date."""

    def __init__(self, engine: Engine, platform: str, own: Route) -> None:
        self.engine = engine
        self.platform = platform
        self.own = own
        self.shared = is_postgres(engine)
        self._space = _space(platform)
        self._conn: Connection | None = None
        self._pid = 0
        self._on_duty = False
        self._warned: set[int] = set()
        self.walking: set[int] = set() if self.shared else {own.number}
        self._since: dict[int, float] = {}  # route -> when this worker took it (monotonic)

    def share_at(self, t: float) -> float:
        """The part of the platform's global rate this worker may use at monotonic time `t`
        (0..1): its routes' parts, each from a second after the route was taken."""
        settled = [n for n in self.walking if t >= self._since.get(n, 0.0) + SETTLE_SECONDS]
        return len(settled) / self.own.of

    def serves(self, chat_id: str) -> bool:
        """Whether this worker sends to `chat_id` now."""
        if self.own.of == 1:
            return 1 in self.walking
        return route_of(chat_id, self.own.of) in self.walking

    def check(self, t: float, busy: set[int] = frozenset()) -> tuple[set[int], set[int]]:
        """Take, adopt and hand back routes at monotonic time `t`; return (gained, lost).

        Routes in `busy` still have sends in flight and are not handed back this time.
        """
        if not self.shared:
            return set(), set()
        try:
            gained, lost = self._check(busy)
            for number in gained:
                self._since[number] = t
            return gained, lost
        except Exception as exc:  # the database went away: stop sending until it is back
            log.warning("%s courier lost its route locks (%s); retrying", self.platform,
                        type(exc).__name__)
            lost = set(self.walking)
            self.close()
            return set(), lost

    def _check(self, busy: set[int]) -> tuple[set[int], set[int]]:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._pid = self._conn.execute(text("SELECT pg_backend_pid()")).scalar()
            self._on_duty = False
        if not self._on_duty:
            self._on_duty = self._try(_ON_DUTY, self.own.number)
        on_duty = self._on_duty_elsewhere()
        if self._on_duty:
            on_duty.add(self.own.number)
        gained, lost = set(), set()
        for number in sorted(self.walking - {self.own.number} - set(busy)):
            if number in on_duty:  # its own worker is back: hand the route over
                self._conn.execute(text("SELECT pg_advisory_unlock(:s, :k)"),
                                   {"s": self._space, "k": self._key(_WALKING, number)})
                self.walking.discard(number)
                lost.add(number)
        for number in range(1, self.own.of + 1):
            if number in self.walking:
                continue
            if (number == self.own.number or number not in on_duty) and self._try(_WALKING, number):
                self.walking.add(number)
                gained.add(number)
        if gained or lost:
            log.info("%s courier %s walks routes %s of %d", self.platform, self.own,
                     sorted(self.walking), self.own.of)
        return gained, lost

    def _on_duty_elsewhere(self) -> set[int]:
        """Routes whose worker (another process) is on duty, from PostgreSQL's lock table."""
        found: set[int] = set()
        for lock in route_locks(self._conn, self.platform):
            if lock.of != self.own.of and lock.of not in self._warned:
                self._warned.add(lock.of)
                log.error("%s workers disagree: this one is %s, another runs as one of %d; "
                          "give every worker of a platform the same N", self.platform, self.own,
                          lock.of)
            if lock.kind == "on duty" and lock.of == self.own.of and lock.pid != self._pid:
                found.add(lock.number)
        return found

    def _key(self, kind: int, number: int) -> int:
        return kind << 16 | self.own.of << 8 | number

    def _try(self, kind: int, number: int) -> bool:
        return bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:s, :k)"),
                                       {"s": self._space, "k": self._key(kind, number)}).scalar())

    def close(self) -> None:
        """Give every route up (closing the connection releases its locks)."""
        if self.shared:
            self.walking = set()
        self._on_duty = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.invalidate()  # never back to the pool: the locks must die with it
                conn.close()
            except Exception:
                log.debug("closing the route connection failed", exc_info=True)

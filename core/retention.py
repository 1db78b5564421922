"""How long a network keeps what it does not need forever, and the daily sweep.

Three periods, each a number of days or 0 ("keep until erased"), set per network by its
coordinators over the deployment's defaults (`[retention]` in the configuration):

- media: raw media members send (voice notes, audio and files in relay reports, sync-day
  photos). The file goes that many days after it arrived; the row stays with everything
  derived from it (transcript, translations, texts, the photo count) and an `ExpiredMedia`
  record says what expired and when. Reports of a relay still running are kept until it ends.
- messages: copies of messages the bots delivered or gave up on (outbox rows `sent`/`dead`)
  in the network's chats; private messages (no circle) follow the deployment's default.
  Waiting messages are never touched, nor the prompts of a running relay (members answer
  them by replying, and the reply is matched through the delivered row).
- audit: the network's audit-trail entries (entries outside any network follow the default).

The translation cache (machine translations of members' words, kept so no text is
translated twice) belongs to no network: its rows go after the deployment's default messages
period, counted from when each was made; rows from before that was recorded count as old.

Never swept: the treasury and its ledger, ballots and votes, events and RSVPs, sync days and
check-ins, relay texts, transcripts and the translations handed off with them, the living
archive, lab maps and charts. They are deliberate records; they go when their authors
withdraw or erase them.

Shortening a period takes effect after `NOTICE`, announced to every circle, so no circle
loses data without time to export it; a longer period applies at once.

The media store is content-addressed: one file may back rows of several networks. A file is
deleted only when no row anywhere still points at it (`claimed`), so one network's sweep
never removes another network's copy. A message waiting in the outbox claims its attachments;
a delivered copy does not. Files nothing points at (attachments posted in a chat that no
feature took, exports and charts already delivered) go after `unclaimed_media_hours`.

Each sweep is one unit of work (one timer run) that removes at most `batch_size` rows of
each kind per network; when a batch was full, the next run follows a minute later.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field, fields
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import Text, and_, cast, delete, not_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.config import ConfigError
from core.relay import ACTIVE_RELAY
from core.storage.agenda import LabSession
from core.storage.archive import ArchiveEntry
from core.storage.models import (
    AuditEntry, Circle, ExpiredMedia, Network, OutboxMessage, Timer,
)
from core.storage.relay import Relay, RelayPart
from core.storage.syncday import SyncDay, SyncDayPhoto
from core.translation_cache import forget_older_than, live_cache

log = logging.getLogger("tessera.retention")

KINDS = ("media", "messages", "audit")
KEEP = 0  # days: keep until erased
MAX_DAYS = 3650
NOTICE = timedelta(days=7)
SWEEP_TIMER = "retention.sweep"
_CHUNK = 500  # keys per IN (...) query

# Where media-store keys are kept. A file is claimed while any of these points at it; a new
# table holding keys must be added here, or its files would count as unclaimed (a test in
# tests/privacy walks the tables to catch that). An outbox row needs its attachments only
# until it is delivered: a delivered copy never keeps a file alive.
KEY_COLUMNS = (RelayPart.media_key, SyncDayPhoto.media_key, SyncDay.summary_chart,
               LabSession.csv_key)
JSON_HOLDERS = ((OutboxMessage.payload, OutboxMessage.state == "pending"),
                (ArchiveEntry.attachments, None))


class RetentionProblem(ValueError):
    """A period that cannot be set; `key` names a catalog message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


# --- periods -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """One kind's retention: `days` (0 keeps until erased). A shorter period waiting for its
    notice to run out applies from `starts_at`; `previous` applies until then."""

    days: int
    starts_at: datetime | None = None
    previous: int | None = None

    def effective(self, now: datetime) -> int:
        """The days that apply at `now`."""
        if self.starts_at is not None and now < self.starts_at and self.previous is not None:
            return self.previous
        return self.days

    def waiting(self, now: datetime) -> bool:
        """True while a shorter period waits for its notice to run out."""
        return self.starts_at is not None and now < self.starts_at

    def cutoff(self, now: datetime) -> datetime | None:
        """What arrived before this instant has expired (None: nothing expires)."""
        days = self.effective(now)
        return None if days == KEEP else now - timedelta(days=days)


@dataclass(frozen=True)
class Retention:
    """A network's periods for each kind."""

    media: Period
    messages: Period
    audit: Period

    def period(self, kind: str) -> Period:
        """The period of `kind` ("media", "messages" or "audit")."""
        return getattr(self, kind)


@dataclass(frozen=True)
class SweepSettings:
    """The deployment's defaults and how the sweep runs ([retention])."""

    media_days: int
    messages_days: int
    audit_days: int
    unclaimed_media_hours: int
    sweep_hour_utc: int
    batch_size: int

    def default(self, kind: str) -> Period:
        """The default period of `kind`."""
        return Period(getattr(self, f"{kind}_days"))


def settings(config) -> SweepSettings:
    """The [retention] section, checked; a wrong value raises ConfigError naming the key."""
    section = dict(config.values.get("retention") or {})
    for kind in KINDS:
        value = section.get(f"{kind}_days")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_DAYS:
            raise ConfigError(f"retention.{kind}_days: 0 (keep) or a number of days up to "
                              f"{MAX_DAYS}, not {value!r}")
    checks = {"unclaimed_media_hours": (1, 24 * MAX_DAYS), "sweep_hour_utc": (0, 23),
              "batch_size": (1, 100_000)}
    for key, (low, high) in checks.items():
        value = section.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"retention.{key}: a whole number from {low} to {high}, not {value!r}")
    return SweepSettings(**{f.name: section[f.name] for f in fields(SweepSettings)})


def _period(raw: Any, default: Period) -> Period:
    if not isinstance(raw, dict) or not isinstance(raw.get("days"), int):
        return default
    starts = raw.get("starts_at")
    return Period(raw["days"], datetime.fromisoformat(starts) if starts else None,
                  raw.get("previous"))


def retention_for(network: Network, config) -> Retention:
    """The network's periods: its own settings over the deployment's defaults."""
    defaults = settings(config)
    raw = (network.settings or {}).get("retention") or {}
    return Retention(*(_period(raw.get(kind), defaults.default(kind)) for kind in KINDS))


def parse_days(text: str) -> int:
    """"90", "90d", "12w" -> days; "keep" (or "forever", "0") -> 0. Raises RetentionProblem."""
    low = text.strip().lower()
    if low in ("keep", "forever", "never", "0", "0d"):
        return KEEP
    factor = 1
    if low.endswith("w"):
        low, factor = low[:-1], 7
    elif low.endswith("d"):
        low = low[:-1]
    if not low.isdigit() or not 1 <= int(low) * factor <= MAX_DAYS:
        raise RetentionProblem("privacy.retention_bad_value", value=text, max=MAX_DAYS)
    return int(low) * factor


def _longer_or_equal(new: int, old: int) -> bool:
    if new == KEEP:
        return True
    return old != KEEP and new >= old


def change(network: Network, kind: str, days: int, now: datetime, config) -> Period:
    """Set a network's period for `kind`. A longer one applies now; a shorter one after
    `NOTICE` (the longer one applies until then). Returns the new period."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of data: {kind!r}")
    current = retention_for(network, config).period(kind)
    in_force = current.effective(now)
    if _longer_or_equal(days, in_force):
        new = Period(days)
    else:
        new = Period(days, now + NOTICE, in_force)
    stored = {"days": new.days}
    if new.starts_at is not None:
        stored.update(starts_at=new.starts_at.isoformat(), previous=new.previous)
    raw = dict((network.settings or {}).get("retention") or {})
    raw[kind] = stored
    network.settings = {**(network.settings or {}), "retention": raw}
    return new


# --- which files are still needed ----------------------------------------------------------

def _paths(value: Any) -> Iterable[str]:
    """Media keys inside a JSON value: every "path" of an attachment list."""
    items = value.get("attachments", []) if isinstance(value, dict) else value or []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            yield item["path"]


class Claims:
    """Answers "does any row still point at these files?" within one session.

    Column holders are asked afresh each time (cheap IN queries); JSON holders (outbox
    payloads, archive attachments) are read once per sweep, only rows mentioning a path.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._json: set[str] | None = None

    def _json_keys(self) -> set[str]:
        if self._json is None:
            found: set[str] = set()
            for column, only in JSON_HOLDERS:
                q = select(column).where(cast(column, Text).like('%"path"%'))
                rows = self.session.exec(q if only is None else q.where(only)).all()
                for value in rows:
                    found.update(_paths(value))
            self._json = found
        return self._json

    def claimed(self, keys: Iterable[str]) -> set[str]:
        """The subset of `keys` some row still points at."""
        keys = [k for k in set(keys) if k]
        found = set(keys) & self._json_keys()
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            for column in KEY_COLUMNS:
                found.update(self.session.exec(select(column).where(column.in_(chunk))).all())
        return found


def release(session: Session, media, keys: Iterable[str], claims: Claims | None = None) -> int:
    """Delete the files of `keys` that no row points at any more; returns how many went.

    Call after the rows stopped pointing at them (in the same session): shared content
    (the same voice note in two networks) stays while anything still uses it.
    """
    keys = {k for k in keys if k}
    if not keys:
        return 0
    session.flush()
    free = keys - (claims or Claims(session)).claimed(keys)
    for key in free:
        media.delete(key)
    return len(free)


# --- the sweep -------------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What one sweep removed."""

    networks: int = 0
    media: int = 0  # rows whose file expired
    files: int = 0  # files deleted for them
    messages: int = 0
    audit: int = 0
    translations: int = 0  # cached translations older than the default messages period
    unclaimed: int = 0  # files nothing pointed at
    more: bool = False  # a batch was full: run again soon
    per_network: dict[int, dict[str, int]] = field(default_factory=dict)


def _expire_parts(session: Session, network_id: int, cutoff: datetime, now: datetime,
                  batch: int) -> tuple[list[str], int]:
    parts = session.exec(
        select(RelayPart).join(Relay, Relay.id == RelayPart.relay_id)
        .where(Relay.network_id == network_id, Relay.state.not_in(ACTIVE_RELAY),
               RelayPart.media_key != None, RelayPart.created_at < cutoff)  # noqa: E711
        .order_by(RelayPart.id).limit(batch)).all()
    keys = []
    for p in parts:
        keys.append(p.media_key)
        session.add(ExpiredMedia(network_id=network_id, holder="relay_part", holder_id=p.id,
                                 kind=p.kind, mime_type=(p.mime_type or "")[:100],
                                 received_at=p.created_at, expired_at=now))
        p.media_key = None
        session.add(p)
    return keys, len(parts)


def _expire_photos(session: Session, network_id: int, cutoff: datetime, now: datetime,
                   batch: int) -> tuple[list[str], int]:
    photos = session.exec(
        select(SyncDayPhoto).join(SyncDay, SyncDay.id == SyncDayPhoto.syncday_id)
        .where(SyncDay.network_id == network_id, SyncDayPhoto.media_key != "",
               SyncDayPhoto.at < cutoff)
        .order_by(SyncDayPhoto.id).limit(batch)).all()
    keys = []
    for p in photos:
        keys.append(p.media_key)
        session.add(ExpiredMedia(network_id=network_id, holder="syncday_photo", holder_id=p.id,
                                 kind="photo", mime_type=(p.mime_type or "")[:100],
                                 received_at=p.at, expired_at=now))
        p.media_key = ""  # the row (and the day's photo count) stays
        session.add(p)
    return keys, len(photos)


def _delete_ids(session: Session, model, conditions: list, batch: int) -> int:
    ids = session.exec(select(model.id).where(*conditions).order_by(model.id).limit(batch)).all()
    if ids:
        session.exec(delete(model).where(model.id.in_(ids)))
    return len(ids)


def _outbox_conditions(cutoff: datetime, network_id: int | None, session: Session) -> list:
    done = [OutboxMessage.state.in_(("sent", "dead")),
            or_(and_(OutboxMessage.sent_at != None, OutboxMessage.sent_at < cutoff),  # noqa: E711
                and_(OutboxMessage.sent_at == None, OutboxMessage.created_at < cutoff))]  # noqa: E711
    if network_id is None:
        return [OutboxMessage.circle_id == None, *done]  # noqa: E711
    running = session.exec(select(Relay.id).where(Relay.network_id == network_id,
                                                  Relay.state.in_(ACTIVE_RELAY))).all()
    keep = [OutboxMessage.idempotency_key.startswith(f"relay:{rid}:") for rid in running]
    circles = select(Circle.id).where(Circle.network_id == network_id)
    conditions = [OutboxMessage.circle_id.in_(circles), *done]
    if keep:
        conditions.append(or_(OutboxMessage.idempotency_key == None, not_(or_(*keep))))  # noqa: E711
    return conditions


def sweep_network(session: Session, media, network_id: int | None, retention: Retention,
                  now: datetime, batch: int, claims: Claims) -> dict[str, int]:
    """Remove one network's expired media, message copies and audit entries (at most `batch`
    rows of each); `network_id` None sweeps what belongs to no network with the defaults."""
    done = {"media": 0, "files": 0, "messages": 0, "audit": 0, "full": 0}
    cutoff = retention.media.cutoff(now)
    if cutoff is not None and network_id is not None:
        keys, n = _expire_parts(session, network_id, cutoff, now, batch)
        more, m = _expire_photos(session, network_id, cutoff, now, batch)
        done["media"] = n + m
        done["full"] += (n == batch) + (m == batch)
        done["files"] = release(session, media, keys + more, claims)
    cutoff = retention.messages.cutoff(now)
    if cutoff is not None:
        done["messages"] = _delete_ids(session, OutboxMessage,
                                       _outbox_conditions(cutoff, network_id, session), batch)
        done["full"] += done["messages"] == batch
    cutoff = retention.audit.cutoff(now)
    if cutoff is not None:
        where = AuditEntry.network_id == network_id if network_id is not None \
            else AuditEntry.network_id == None  # noqa: E711
        done["audit"] = _delete_ids(session, AuditEntry, [where, AuditEntry.at < cutoff], batch)
        done["full"] += done["audit"] == batch
    return done


def old_files(root: Path, before: datetime, limit: int) -> list[str]:
    """Keys of media files last written before `before` (at most `limit`, oldest first).

    Reads the file system only; run it off the event loop.
    """
    stamp = before.timestamp()
    found: list[tuple[float, str]] = []
    if not root.is_dir():
        return []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if mtime < stamp:
                found.append((mtime, path.relative_to(root).as_posix()))
    found.sort()
    return [key for _, key in found[:limit]]


async def sweep(work, config=None) -> SweepReport:
    """Run one sweep in `work` (its session, clock and media store) over every network."""
    config = config or work.services.config
    conf = settings(config)
    media, session, now = work.services.media, work.session, work.now
    report = SweepReport()
    # The file system first, before this unit of work writes (and holds a write lock).
    unclaimed_before = now - timedelta(hours=conf.unclaimed_media_hours)
    candidates = await asyncio.to_thread(old_files, media.root, unclaimed_before,
                                         conf.batch_size)
    claims = Claims(session)
    networks = session.exec(select(Network).order_by(Network.id)).all()
    defaults = Retention(*(conf.default(kind) for kind in KINDS))
    for network in [*networks, None]:
        retention = retention_for(network, config) if network is not None else defaults
        done = sweep_network(session, media, network.id if network is not None else None,
                             retention, now, conf.batch_size, claims)
        if network is not None:
            report.networks += 1
            report.per_network[network.id] = {k: v for k, v in done.items() if k != "full"}
        report.media += done["media"]
        report.files += done["files"]
        report.messages += done["messages"]
        report.audit += done["audit"]
        report.more |= bool(done["full"])
        await asyncio.sleep(0)  # let other work in between networks
    cutoff = defaults.messages.cutoff(now)
    if cutoff is not None:
        report.translations = forget_older_than(session, cutoff, conf.batch_size,
                                                live_cache(work.services))
        report.more |= report.translations == conf.batch_size
    session.flush()
    free = set(candidates) - claims.claimed(candidates)
    for key in free:
        # Written again since it was listed (the same bytes sent anew): not unclaimed.
        try:
            if media.path(key).stat().st_mtime >= unclaimed_before.timestamp():
                continue
        except (OSError, ValueError):
            continue
        media.delete(key)
        report.unclaimed += 1
    report.more |= len(candidates) == conf.batch_size
    if report.media or report.messages or report.audit or report.translations or report.unclaimed:
        log.info("retention sweep: %d media rows (%d files), %d messages, %d audit entries, "
                 "%d cached translations, %d unclaimed files", report.media, report.files,
                 report.messages, report.audit, report.translations, report.unclaimed)
    return report


# --- when it runs ----------------------------------------------------------------------------

def next_daily(now: datetime, hour: int) -> datetime:
    """The next `hour`:00 UTC after `now`."""
    day = now.astimezone(timezone.utc).date()
    at = datetime.combine(day, time(hour), tzinfo=timezone.utc)
    return at if at > now else at + timedelta(days=1)


def plan_next(work, report: SweepReport | None = None, config=None) -> Timer:
    """Schedule the following sweep: in a minute when a batch was full, else tomorrow."""
    conf = settings(config or work.services.config)
    if report is not None and report.more:
        due = work.now + timedelta(minutes=1)
        return work.schedule(SWEEP_TIMER, due, f"retention:sweep:more:{due.isoformat()}")
    due = next_daily(work.now, conf.sweep_hour_utc)
    return work.schedule(SWEEP_TIMER, due, f"retention:sweep:{due.date().isoformat()}")


def ensure_planned(services) -> None:
    """Make sure a sweep is planned (called when the scheduler starts; idempotent, and safe
    when several processes start at once). Refuses a bad [retention] section."""
    from core.storage import unit_of_work
    from core.work import Work

    settings(services.config)
    try:
        with unit_of_work(services.engine) as s:
            if s.exec(select(Timer.id).where(Timer.kind == SWEEP_TIMER,
                                             Timer.state == "pending")).first() is None:
                plan_next(Work(services, s, services.clock.now()))
    except IntegrityError:
        pass  # another process planned the same sweep a moment ago


__all__ = [
    "KINDS", "KEEP", "NOTICE", "SWEEP_TIMER", "Period", "Retention", "RetentionProblem",
    "SweepReport", "SweepSettings", "Claims", "settings", "retention_for", "parse_days",
    "change", "release", "sweep", "sweep_network", "old_files", "next_daily", "plan_next",
    "ensure_planned",
]

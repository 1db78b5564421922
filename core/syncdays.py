"""Synchronized days of action: the service layer.

A coordinator declares a day (a target, a date, an hour and a mode); circles opt in. For
each circle taking part this module works out its kickoff with `core.timekeeping` (the
same-instant or same-local-hour rule, with the documented DST policy) and schedules, through
the single scheduler, the countdown announcements, the kickoff and the check-in question,
plus one summary deadline for the day. Timer handlers (bots/syncday.py) only change state
and enqueue messages; every message has an idempotency key, so a retried or restarted job
never speaks twice.

Timer keys: `syncday:<day>:c<circle>:countdown:<minutes>`, `...:kickoff`, `...:checkin`,
and `syncday:<day>:summary`.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_
from sqlmodel import Session, select

from core.clock import utc
from core.commands import parse_duration
from core.storage import repoint
from core.storage.models import Circle
from core.storage.syncday import SyncDay, SyncDayCircle, SyncDayPhoto
from core.timekeeping import (
    TimeProblem, countdown_instants, kickoff_instants, local_wall, zone,
)
from core.work import Work

DEFAULTS = {"countdown": ["7d", "1d", "1h"], "checkin_after": "2h", "summary_after": "24h"}
MODES = ("same_instant", "same_local_hour")


class SyncDayProblem(ValueError):
    """A request that cannot be honoured; `key` names a catalog message."""

    def __init__(self, key: str, **params) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def settings(config) -> dict:
    """Defaults from the optional [syncday] config section over the built-in ones."""
    section = config.values.get("syncday", {}) if config is not None else {}
    return {k: section.get(k, v) for k, v in DEFAULTS.items()}


def minutes(d: timedelta) -> int:
    """Whole minutes of a duration."""
    return int(d.total_seconds() // 60)


def declare(work: Work, *, circle: Circle, person_id: int | None, target: str, day: date,
            at: time, mode: str, instant_tz: str = "UTC",
            countdown: Sequence[timedelta] = (), checkin_after: timedelta = timedelta(hours=2),
            summary_after: timedelta = timedelta(hours=24)) -> SyncDay:
    """Declare a day of action for the circle's network."""
    if mode not in MODES:
        raise SyncDayProblem("syncday.bad_mode", mode=mode)
    try:
        instant_tz = zone(instant_tz).key
    except TimeProblem as err:  # args.bad_zone: the name typed and a real one to try
        raise SyncDayProblem(err.key, **err.params) from None
    sd = SyncDay(network_id=circle.network_id, circle_id=circle.id, declared_by=person_id,
                 target=target, day=day, at=at, mode=mode, instant_tz=instant_tz,
                 countdown=sorted({minutes(c) for c in countdown}, reverse=True),
                 checkin_after_minutes=minutes(checkin_after),
                 summary_after_minutes=minutes(summary_after), created_at=work.now)
    work.session.add(sd)
    work.session.flush()
    return sd


def kickoff_for(sd: SyncDay, circle: Circle):
    """This circle's `core.timekeeping.Kickoff` for the day."""
    return kickoff_instants(sd.mode, sd.day, sd.at, {circle.id: circle.timezone},
                            sd.instant_tz)[circle.id]


def participation(session: Session, sd: SyncDay, circle_id: int) -> SyncDayCircle | None:
    """The circle's row for this day (even if it left), if any."""
    return session.exec(select(SyncDayCircle).where(SyncDayCircle.syncday_id == sd.id,
                                                    SyncDayCircle.circle_id == circle_id)).first()


def participants(session: Session, sd: SyncDay) -> list[tuple[SyncDayCircle, Circle]]:
    """Circles taking part (not left), in the order they kick off."""
    rows = session.exec(select(SyncDayCircle, Circle).join(Circle, Circle.id == SyncDayCircle.circle_id)
                        .where(SyncDayCircle.syncday_id == sd.id,
                               SyncDayCircle.left_at == None)).all()  # noqa: E711
    return sorted(rows, key=lambda r: (utc(r[0].kickoff_utc), r[1].timezone, r[1].id))


def join(work: Work, sd: SyncDay, circle: Circle, person_id: int | None) -> SyncDayCircle:
    """Opt a circle in: work out its kickoff and schedule its countdown, kickoff, check-in."""
    if sd.cancelled_at is not None:
        raise SyncDayProblem("syncday.cancelled", id=sd.id)
    kick = kickoff_for(sd, circle)
    if kick.instant_utc <= work.now:
        raise SyncDayProblem("syncday.too_late", id=sd.id)
    row = participation(work.session, sd, circle.id)
    if row is not None and row.left_at is None:
        raise SyncDayProblem("syncday.already_in", id=sd.id)
    if row is None:
        row = SyncDayCircle(syncday_id=sd.id, circle_id=circle.id, joined_at=work.now,
                            kickoff_utc=kick.instant_utc)
    row.left_at, row.joined_by, row.joined_at = None, person_id, work.now
    row.kickoff_utc, row.kickoff_note, row.kickoff_state = kick.instant_utc, kick.note, "pending"
    work.session.add(row)
    work.session.flush()
    schedule_circle(work, sd, row)
    schedule_summary(work, sd)
    return row


def circle_prefix(sd: SyncDay, circle_id: int) -> str:
    """Key prefix of one circle's timers for a day."""
    return f"syncday:{sd.id}:c{circle_id}:"


def schedule_circle(work: Work, sd: SyncDay, row: SyncDayCircle) -> None:
    """Countdown announcements still to come, the kickoff and the check-in question."""
    prefix = circle_prefix(sd, row.circle_id)
    kickoff = utc(row.kickoff_utc)
    offsets = [timedelta(minutes=m) for m in sd.countdown]
    for c in countdown_instants(kickoff, offsets, now=work.now):
        if c.offset > timedelta(0):  # the kickoff itself is its own timer
            work.schedule("syncday.countdown", c.instant_utc,
                          f"{prefix}countdown:{minutes(c.offset)}",
                          syncday_id=sd.id, circle_id=row.circle_id, offset_minutes=minutes(c.offset))
    work.schedule("syncday.kickoff", kickoff, f"{prefix}kickoff", syncday_id=sd.id,
                  circle_id=row.circle_id)
    work.schedule("syncday.checkin", kickoff + timedelta(minutes=sd.checkin_after_minutes),
                  f"{prefix}checkin", syncday_id=sd.id, circle_id=row.circle_id)


def summary_due(session: Session, sd: SyncDay) -> datetime | None:
    """When the summary is posted at the latest: the last kickoff plus the waiting time."""
    rows = participants(session, sd)
    if not rows:
        return None
    last = max(utc(r.kickoff_utc) for r, _ in rows)
    return last + timedelta(minutes=max(sd.summary_after_minutes, sd.checkin_after_minutes))


def schedule_summary(work: Work, sd: SyncDay) -> None:
    """(Re)schedule the summary deadline after the participants changed."""
    due = summary_due(work.session, sd)
    if due is None:
        work.cancel_timers(f"syncday:{sd.id}:summary")
    else:
        work.schedule("syncday.summary", due, f"syncday:{sd.id}:summary", syncday_id=sd.id)


def leave(work: Work, sd: SyncDay, circle: Circle) -> None:
    """Opt a circle out again; its timers are cancelled."""
    row = participation(work.session, sd, circle.id)
    if row is None or row.left_at is not None:
        raise SyncDayProblem("syncday.not_in", id=sd.id)
    row.left_at = work.now
    work.session.add(row)
    work.session.flush()
    work.cancel_timers(circle_prefix(sd, circle.id))
    schedule_summary(work, sd)


def cancel(work: Work, sd: SyncDay) -> list[Circle]:
    """Call the day off; returns the circles that were taking part."""
    circles = [c for _, c in participants(work.session, sd)]
    sd.cancelled_at = work.now
    work.session.add(sd)
    work.cancel_timers(f"syncday:{sd.id}:")
    return circles


def record_checkin(session: Session, row: SyncDayCircle, person_id: int, turnout: int | None,
                   outcome: str, now: datetime) -> None:
    """Store (or correct) a circle's check-in."""
    row.checkin_at, row.checkin_by = now, person_id
    if turnout is not None:
        row.turnout = turnout
    if outcome:
        row.outcome = outcome
    session.add(row)


def add_photo(session: Session, sd: SyncDay, circle_id: int, person_id: int, media_key: str,
              mime_type: str, now: datetime) -> SyncDayPhoto:
    """Keep a reference to a photo already in the media store."""
    photo = SyncDayPhoto(syncday_id=sd.id, circle_id=circle_id, person_id=person_id,
                         media_key=media_key, mime_type=mime_type, at=now)
    session.add(photo)
    return photo


def photos(session: Session, sd: SyncDay, circle_id: int | None = None) -> list[SyncDayPhoto]:
    """Photos of the day (of one circle when given)."""
    q = select(SyncDayPhoto).where(SyncDayPhoto.syncday_id == sd.id)
    if circle_id is not None:
        q = q.where(SyncDayPhoto.circle_id == circle_id)
    return list(session.exec(q.order_by(SyncDayPhoto.id)).all())


def all_checked_in(rows: Sequence[tuple[SyncDayCircle, Circle]]) -> bool:
    """True when every circle taking part has checked in."""
    return bool(rows) and all(r.checkin_at is not None for r, _ in rows)


def merge_person(session: Session, source_id: int, target_id: int) -> None:
    """Linked accounts: whatever the source person did on sync days is the target's."""
    for column in (SyncDay.declared_by, SyncDayCircle.joined_by, SyncDayCircle.adaptation_by,
                   SyncDayCircle.checkin_by, SyncDayPhoto.person_id):
        repoint(session, column, source_id, target_id)


# --- the timeline chart ------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelinePoint:
    """One circle's kickoff on the chart."""

    label: str  # circle name
    instant_utc: datetime
    local_label: str  # e.g. "10:00 CDT"
    state: str  # sent, late, missed, pending


_COLOURS = {"sent": "#2e7d32", "late": "#ef6c00", "missed": "#c62828", "pending": "#9e9e9e"}


def render_timeline(title: str, points: Sequence[TimelinePoint]) -> bytes:
    """A PNG of kickoffs across time zones: one row per circle, along UTC time.

    Slow (matplotlib): call it with `asyncio.to_thread`. matplotlib is imported here, with the
    non-interactive Agg backend, so nothing else pays for it.
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.2 + 0.45 * max(1, len(points))), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ordered = sorted(points, key=lambda p: p.instant_utc)
    for y, p in enumerate(ordered):
        x = mdates.date2num(utc(p.instant_utc))
        ax.plot([x], [y], "o", color=_COLOURS.get(p.state, "#000000"), markersize=9)
        ax.annotate(f"  {p.local_label}", (x, y), va="center", fontsize=8)
    ax.set_yticks(range(len(ordered)))
    ax.set_yticklabels([p.label for p in ordered], fontsize=8)
    ax.set_ylim(-0.8, len(ordered) - 0.2)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M", tz=utc(ordered[0].instant_utc).tzinfo)
                                 if ordered else mdates.DateFormatter("%H:%M"))
    ax.set_xlabel("UTC")
    if ordered and ordered[0].instant_utc == ordered[-1].instant_utc:
        x = mdates.date2num(utc(ordered[0].instant_utc))
        ax.set_xlim(x - 1 / 24, x + 2 / 24)
    else:
        ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def local_clock(instant: datetime, tz: str) -> str:
    """"10:00 CDT": the hour on the circle's wall clock, with its zone letters."""
    wall = local_wall(instant, tz)
    letters = wall.tzname() or ""
    return f"{wall:%H:%M} {letters if letters.isalpha() else wall.strftime('%z')}"


def parse_offsets(items) -> list[timedelta]:
    """["7d", "1d", "1h"] or "7d,1d,1h" -> durations."""
    if isinstance(items, str):
        items = [i for i in items.split(",") if i.strip()]
    return [parse_duration(str(i)) for i in items]


# --- a person's and a circle's data (/mydata, /forgetme, /circle export) ----------------------

def _iso(dt: datetime | None) -> str | None:
    return utc(dt).isoformat() if dt else None


def _day_data(sd: SyncDay) -> dict:
    return {"id": sd.id, "target": sd.target, "date": sd.day.isoformat(),
            "at": sd.at.strftime("%H:%M"), "mode": sd.mode, "instant_tz": sd.instant_tz,
            "shared_message": sd.core_message, "shared_message_lang": sd.core_lang,
            "circle_id": sd.circle_id, "declared_by": sd.declared_by,
            "cancelled_at": _iso(sd.cancelled_at), "summary_at": _iso(sd.summary_at)}


def _photo_data(p: SyncDayPhoto) -> dict:
    return {"id": p.id, "syncday_id": p.syncday_id, "circle_id": p.circle_id,
            "person_id": p.person_id, "media": p.media_key or None, "mime_type": p.mime_type,
            "at": _iso(p.at)}


def person_data(session: Session, person_id: int) -> dict:
    """What sync days keep about a person: days they declared, circles they signed up, the
    words they adapted for their circle, check-ins they gave and photos they sent (listed
    under "media" so /mydata packs the files)."""
    days = session.exec(select(SyncDay).where(SyncDay.declared_by == person_id)
                        .order_by(SyncDay.id)).all()
    rows = session.exec(select(SyncDayCircle).where(or_(
        SyncDayCircle.joined_by == person_id, SyncDayCircle.adaptation_by == person_id,
        SyncDayCircle.checkin_by == person_id)).order_by(SyncDayCircle.id)).all()
    photos = session.exec(select(SyncDayPhoto).where(SyncDayPhoto.person_id == person_id)
                          .order_by(SyncDayPhoto.id)).all()
    return {
        "days_declared": [_day_data(sd) for sd in days],
        "joined": [{"syncday_id": r.syncday_id, "circle_id": r.circle_id,
                    "joined_at": _iso(r.joined_at)} for r in rows if r.joined_by == person_id],
        "adaptations": [{"syncday_id": r.syncday_id, "circle_id": r.circle_id,
                         "text": r.adaptation} for r in rows if r.adaptation_by == person_id],
        "checkins": [{"syncday_id": r.syncday_id, "circle_id": r.circle_id,
                      "at": _iso(r.checkin_at), "turnout": r.turnout, "outcome": r.outcome}
                     for r in rows if r.checkin_by == person_id],
        "photos": [_photo_data(p) for p in photos],
        "media": [p.media_key for p in photos if p.media_key],
    }


def erase_person(session: Session, person_id: int) -> list[str]:
    """Remove a person's own words and pictures from sync days; returns the media keys of
    their photos (the caller releases the files).

    The outcome they wrote at a check-in goes (the turnout, a count, stays for the summary);
    their photos lose their files (the rows stay, so the day's photo count holds). What they
    wrote for others to act on stays, without their name: a day's target and shared message,
    a circle's adaptation for its kickoff.
    """
    for row in session.exec(select(SyncDayCircle).where(
            SyncDayCircle.checkin_by == person_id)).all():
        row.outcome = ""
        session.add(row)
    keys = []
    for photo in session.exec(select(SyncDayPhoto).where(SyncDayPhoto.person_id == person_id)).all():
        if photo.media_key:
            keys.append(photo.media_key)
            photo.media_key = ""
            session.add(photo)
    session.flush()
    return keys


def circle_data(session: Session, circle_id: int) -> dict:
    """Everything of sync days a circle takes with it: the days it declared, its part in each
    day (kickoff, its own words, its check-in) and its photos (media keys)."""
    days = session.exec(select(SyncDay).where(SyncDay.circle_id == circle_id)
                        .order_by(SyncDay.id)).all()
    rows = session.exec(select(SyncDayCircle).where(SyncDayCircle.circle_id == circle_id)
                        .order_by(SyncDayCircle.id)).all()
    photos = session.exec(select(SyncDayPhoto).where(SyncDayPhoto.circle_id == circle_id)
                          .order_by(SyncDayPhoto.id)).all()
    return {
        "days_declared": [_day_data(sd) for sd in days],
        "taking_part": [{"syncday_id": r.syncday_id, "joined_at": _iso(r.joined_at),
                         "left_at": _iso(r.left_at), "kickoff_utc": _iso(r.kickoff_utc),
                         "kickoff_state": r.kickoff_state, "adaptation": r.adaptation,
                         "checkin_at": _iso(r.checkin_at), "turnout": r.turnout,
                         "outcome": r.outcome} for r in rows],
        "photos": [_photo_data(p) for p in photos],
    }

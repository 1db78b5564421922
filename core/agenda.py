"""The action calendar's service layer: events, RSVPs, reminders, export and scenario labs.

Time rules come from `core.timekeeping` (DST policy, RRULE expansion, reminders), slot finding
from `core.slots` and the iCalendar file from `core.ics`; this module persists and schedules.
Everything takes a `Work` (or a session) and its `now`; nothing reads the clock.

Which circles hear about an occurrence ("attending circles"): the circle that made the event,
and, for network-wide events, every circle where someone answered "going" or "maybe".
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import and_, bindparam, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from core.circles import active_circles
from core.clock import utc
from core.commands import parse_duration
from core.i18n import Phrase
from core.ics import IcsEvent, build_calendar
from core.storage import repoint
from core.storage.agenda import CalendarEvent, EventRsvp, LabItem, LabSession
from core.storage.dialects import upsert_insert
from core.storage.models import Circle, Membership, Network
from core.storage.snapshot import snapshots
from core.timekeeping import (
    TimeProblem, normalize_rrule, occurrences, reminder_instants, resolve_local_explain, zone,
)
from core.work import Work

ANSWERS = ("going", "maybe", "no")
DEFAULT_REMINDERS = ("1d", "1h")
DEFAULT_WAKING = "08:00-22:00"
_HORIZON = timedelta(days=3 * 366)  # how far ahead a repeating event is searched


class CalendarProblem(ValueError):
    """A request the calendar cannot honour; `key` names a catalog message."""

    def __init__(self, key: str, **params) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def settings(config) -> dict:
    """Calendar defaults: the optional [calendar] config section over built-in values."""
    section = config.values.get("calendar", {}) if config is not None else {}
    return {"reminders": list(section.get("reminders", DEFAULT_REMINDERS)),
            "waking_hours": section.get("waking_hours", DEFAULT_WAKING)}


def parse_offsets(text: str | list) -> list[timedelta]:
    """"1d,1h" (or ["1d", "1h"]) -> durations before the start; "none" -> no reminders."""
    items = text if isinstance(text, list) else str(text).split(",")
    items = [i.strip() for i in items if i.strip()]
    if items in (["none"], ["0"]):
        return []
    return sorted({parse_duration(i) for i in items}, reverse=True)


# --- events ----------------------------------------------------------------------------------

def duration_of(ev: CalendarEvent) -> timedelta:
    """How long one occurrence lasts."""
    return timedelta(minutes=ev.duration_minutes)


def wall_start(ev: CalendarEvent) -> datetime:
    """The event's first start as the naive wall time typed in its home zone."""
    return datetime.fromisoformat(ev.start_local)


def create_event(work: Work, *, network: Network, circle: Circle, person_id: int | None,
                 title: str, start_local: datetime, tz: str, duration: timedelta,
                 place: str = "", link: str = "", scope: str = "circle",
                 rrule: str | None = None, reminders: list[timedelta] | None = None,
                 kind: str = "event") -> CalendarEvent:
    """Save a new event and schedule its reminders. Raises CalendarProblem on bad input."""
    try:
        zone(tz)
    except TimeProblem as err:
        raise CalendarProblem(err.key, **err.params) from None
    try:
        rule = normalize_rrule(rrule, tz, start_local) if rrule else None
    except TimeProblem as err:
        # The reason is said in the reader's language when the refusal is.
        raise CalendarProblem("calendar.bad_rule", reason=Phrase(err.key, err.params)) from None
    except ValueError:  # a check the rule parser does not name; still the rule's fault
        raise CalendarProblem("calendar.bad_rule", reason=Phrase("calendar.rule.invalid")) from None
    resolved = resolve_local_explain(start_local, tz)
    if duration <= timedelta(0) or duration > timedelta(days=14):
        raise CalendarProblem("calendar.bad_duration")
    ev = CalendarEvent(network_id=network.id, circle_id=circle.id, scope=scope, kind=kind,
                       title=title, start_local=start_local.isoformat(timespec="minutes"), tz=tz,
                       start_utc=resolved.instant_utc, start_note=resolved.note,
                       duration_minutes=int(duration.total_seconds() // 60), place=place,
                       link=link, rrule=rule,
                       reminders=[int(r.total_seconds() // 60) for r in (reminders or [])],
                       created_by=person_id, created_at=work.now, updated_at=work.now)
    if next_occurrence(ev, work.now) is None:
        raise CalendarProblem("calendar.in_the_past")
    work.session.add(ev)
    work.session.flush()
    plan_occurrence(work, ev, after=work.now)
    return ev


def occurrences_between(ev: CalendarEvent, after: datetime, before: datetime,
                        limit: int = 50) -> list[datetime]:
    """Starts (UTC) of the event's occurrences in [after, before)."""
    if not ev.rrule:
        start = utc(ev.start_utc)
        return [start] if after <= start < before else []
    return occurrences(wall_start(ev), ev.tz, ev.rrule, after, before, limit=limit)


def next_occurrence(ev: CalendarEvent, now: datetime) -> datetime | None:
    """The start of the first occurrence that is not over at `now` (running or coming)."""
    after = utc(now) - duration_of(ev) + timedelta(seconds=1)
    found = occurrences_between(ev, after, utc(now) + _HORIZON, limit=1)
    return found[0] if found else None


def next_start(ev: CalendarEvent, after: datetime, inclusive: bool = True) -> datetime | None:
    """The first occurrence starting at (or strictly after) `after`."""
    start = utc(after) if inclusive else utc(after) + timedelta(seconds=1)
    found = occurrences_between(ev, start, utc(after) + _HORIZON, limit=1)
    return found[0] if found else None


def timer_prefix(ev: CalendarEvent) -> str:
    """Every timer of an event has a key starting with this."""
    return f"event:{ev.id}:"


def plan_occurrence(work: Work, ev: CalendarEvent, after: datetime,
                    inclusive: bool = True) -> datetime | None:
    """Schedule reminders (and the start, for repeats and labs) of the next occurrence."""
    occ = next_start(ev, after, inclusive)
    if occ is None:
        return None
    stamp = occ.strftime("%Y%m%dT%H%MZ")
    offsets = [timedelta(minutes=m) for m in ev.reminders]
    for c in reminder_instants(occ, offsets, now=work.now):
        minutes = int(c.offset.total_seconds() // 60)
        work.schedule("calendar.reminder", c.instant_utc,
                      f"{timer_prefix(ev)}{stamp}:remind:{minutes}",
                      event_id=ev.id, occurrence=occ.isoformat(), offset_minutes=minutes)
    if ev.rrule or ev.kind == "lab":
        work.schedule("calendar.start", occ, f"{timer_prefix(ev)}{stamp}:start",
                      event_id=ev.id, occurrence=occ.isoformat())
    return occ


def cancel_event(work: Work, ev: CalendarEvent) -> None:
    """Cancel an event and its pending reminders."""
    ev = work.editable(ev)
    ev.cancelled_at = work.now
    ev.updated_at = work.now
    ev.sequence += 1
    work.session.add(ev)
    work.cancel_timers(timer_prefix(ev))


def visible_events(session: Session, circle: Circle) -> list[CalendarEvent]:
    """Events a circle sees: its own and its network's network-wide ones (not cancelled)."""
    return snapshots(session, _visible_statement(), {
        "network": circle.network_id, "circle": circle.id}, CalendarEvent)


@lru_cache(maxsize=1)
def _visible_statement():
    # Filtered in SQL: a network of many circles has many circles' own events to skip.
    # Composed once: every /event list runs it.
    e = CalendarEvent.__table__.c
    return (select(*e).where(
        e.network_id == bindparam("network"), e.cancelled_at == None,  # noqa: E711
        or_(e.scope == "network", e.circle_id == bindparam("circle")))
        .order_by(e.start_utc, e.id))


def network_events(session: Session, network_id: int) -> list[CalendarEvent]:
    """Every live event of a network, network-wide and circles' own."""
    return list(session.exec(select(CalendarEvent).where(
        CalendarEvent.network_id == network_id, CalendarEvent.cancelled_at == None)  # noqa: E711
        .order_by(CalendarEvent.start_utc, CalendarEvent.id)).all())


def can_see(ev: CalendarEvent, circle: Circle | None) -> bool:
    """True when `circle` may see (and answer) the event."""
    return circle is not None and ev.network_id == circle.network_id and (
        ev.scope == "network" or ev.circle_id == circle.id)


# --- RSVPs -----------------------------------------------------------------------------------

def rsvp(session: Session, ev: CalendarEvent, occurrence: datetime, person_id: int,
         circle_id: int | None, answer: str, now: datetime) -> None:
    """Record (or change) one person's answer for one occurrence: one upsert, so however
    many accounts and simultaneous clicks, a person holds one answer, the latest."""
    if answer not in ANSWERS:
        raise CalendarProblem("calendar.bad_answer")
    session.execute(_rsvp_upsert(session.get_bind().dialect.name), {
        "event_id": ev.id, "occurrence_utc": occurrence, "person_id": person_id,
        "circle_id": circle_id, "answer": answer, "at": now})


@lru_cache(maxsize=2)
def _rsvp_upsert(dialect: str):
    # Composed once: RSVPs come in bursts when an event is announced.
    stmt = upsert_insert(dialect)(EventRsvp.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["event_id", "occurrence_utc", "person_id"],
        set_={"circle_id": stmt.excluded.circle_id, "answer": stmt.excluded.answer,
              "at": stmt.excluded.at})


def counts(session: Session, ev: CalendarEvent, occurrence: datetime) -> dict[int | None, Counter]:
    """Answers per circle for one occurrence: {circle_id: Counter(going=.., maybe=.., no=..)}."""
    out: dict[int | None, Counter] = {}
    for circle_id, answer, n in session.execute(_counts_statement(), {
            "event": ev.id, "occurrence": occurrence}).all():
        out.setdefault(circle_id, Counter())[answer] += n
    return out


@lru_cache(maxsize=1)
def _counts_statement():
    # Composed once: every RSVP answers with the counts.
    t = EventRsvp.__table__.c
    return (select(t.circle_id, t.answer, func.count())
            .where(t.event_id == bindparam("event"), t.occurrence_utc == bindparam("occurrence"))
            .group_by(t.circle_id, t.answer))


def home_circle_for(session: Session, person_id: int, network_id: int) -> Circle | None:
    """The circle a person belongs to in a network (the oldest membership), if any."""
    return session.exec(select(Circle).join(Membership, Membership.circle_id == Circle.id).where(
        Membership.person_id == person_id, Membership.left_at == None,  # noqa: E711
        Circle.network_id == network_id, Circle.left_at == None)  # noqa: E711
        .order_by(Membership.joined_at)).first()


def attending_circles(session: Session, ev: CalendarEvent, occurrence: datetime,
                      now: datetime) -> list[Circle]:
    """The host circle, plus (network-wide events) circles with someone going or maybe."""
    ids = {ev.circle_id}
    if ev.scope == "network":
        ids |= {cid for cid, c in counts(session, ev, occurrence).items()
                if cid is not None and (c["going"] or c["maybe"])}
    return [c for c in active_circles(session, ev.network_id, now) if c.id in ids]


def merge_person(session: Session, source_id: int, target_id: int) -> None:
    """Linked accounts: the source person's answers and entries become the target's.

    Where both answered the same occurrence the later answer wins, so one person counts once:
    only those pairs are handled one by one; everything else moves in one UPDATE per column.
    """
    twin = aliased(EventRsvp)
    pairs = session.exec(select(EventRsvp, twin).join(twin, and_(
        twin.event_id == EventRsvp.event_id, twin.occurrence_utc == EventRsvp.occurrence_utc,
        twin.person_id == target_id)).where(EventRsvp.person_id == source_id)).all()
    for r, kept in pairs:
        if utc(r.at) > utc(kept.at):
            kept.answer, kept.circle_id, kept.at = r.answer, r.circle_id, r.at
            session.add(kept)
        session.delete(r)
    session.flush()
    for column in (EventRsvp.person_id, CalendarEvent.created_by, LabSession.started_by,
                   LabItem.person_id):
        repoint(session, column, source_id, target_id)


# --- export ----------------------------------------------------------------------------------

def ics_event(ev: CalendarEvent, circle_names: dict[int, str], label_circles: bool,
              public_domain: str = "tessera") -> IcsEvent:
    """The iCalendar entry for one event (stable UID so re-imports update, not duplicate)."""
    title = ev.title
    if label_circles and ev.scope == "circle":
        title = f"[{circle_names.get(ev.circle_id, '?')}] {title}"
    return IcsEvent(uid=f"event-{ev.id}@{public_domain}", title=title, start_utc=ev.start_utc,
                    duration=duration_of(ev), tz=ev.tz, location=ev.place, url=ev.link,
                    rrule=ev.rrule, last_modified_utc=ev.updated_at, sequence=ev.sequence,
                    description="Scenario lab" if ev.kind == "lab" else "")


def export_circle(session: Session, circle: Circle, now: datetime) -> bytes:
    """The .ics of one circle: its own events and its network's network-wide ones."""
    events = [ics_event(e, {}, False) for e in visible_events(session, circle)]
    return build_calendar(f"Tessera — {circle.name}", events, now)


def export_network(session: Session, network: Network, now: datetime) -> bytes:
    """The .ics of a whole network; circles' own events are labelled with the circle."""
    names = {c.id: c.name for c in session.exec(select(Circle).where(
        Circle.network_id == network.id)).all()}
    events = [ics_event(e, names, True) for e in network_events(session, network.id)]
    return build_calendar(f"Tessera — {network.name}", events, now)


# --- scenario labs ---------------------------------------------------------------------------

def open_lab(work: Work, *, circle: Circle, title: str, scope: str = "circle",
             person_id: int | None = None, event: CalendarEvent | None = None,
             occurrence: datetime | None = None) -> LabSession:
    """Start a scenario lab (one open lab per circle at a time)."""
    if active_lab(work.session, circle) is not None:
        raise CalendarProblem("calendar.lab_already_open")
    lab = LabSession(network_id=circle.network_id, circle_id=circle.id, scope=scope,
                     event_id=event.id if event else None, occurrence_utc=occurrence,
                     title=title, started_by=person_id, started_at=work.now)
    work.session.add(lab)
    work.session.flush()
    return lab


def active_lab(session: Session, circle: Circle) -> LabSession | None:
    """The lab open for this circle: its own, or a network-wide one of its network."""
    rows = session.exec(select(LabSession).where(
        LabSession.network_id == circle.network_id, LabSession.ended_at == None)  # noqa: E711
        .order_by(LabSession.id)).all()
    mine = [lab for lab in rows if lab.circle_id == circle.id or lab.scope == "network"]
    return mine[-1] if mine else None


def add_lab_item(session: Session, lab: LabSession, kind: str, text: str, person_id: int,
                 circle_id: int, now: datetime, number: int | None = None) -> LabItem:
    """Add a dilemma (numbered in order) or a gains/pays entry on dilemma `number`."""
    items = lab_items(session, lab)
    if kind == "dilemma":
        number = 1 + max((i.number for i in items if i.kind == "dilemma"), default=0)
    elif not any(i.kind == "dilemma" and i.number == number for i in items):
        raise CalendarProblem("calendar.lab_no_dilemma", number=number)
    item = LabItem(lab_id=lab.id, number=number, kind=kind, text=text.strip(),
                   person_id=person_id, circle_id=circle_id, at=now)
    session.add(item)
    session.flush()
    return item


def lab_items(session: Session, lab: LabSession) -> list[LabItem]:
    """Every entry of a lab, in the order given."""
    return list(session.exec(select(LabItem).where(LabItem.lab_id == lab.id)
                             .order_by(LabItem.id)).all())


@dataclass(frozen=True)
class MapRow:
    """One dilemma of a lab's map with what was said about who gains and who pays."""

    number: int
    dilemma: str
    gains: tuple[str, ...]
    pays: tuple[str, ...]


def lab_map(session: Session, lab: LabSession) -> list[MapRow]:
    """The lab's map: one row per dilemma."""
    items = lab_items(session, lab)
    rows = []
    for d in (i for i in items if i.kind == "dilemma"):
        rows.append(MapRow(d.number, d.text,
                           tuple(i.text for i in items if i.kind == "gains" and i.number == d.number),
                           tuple(i.text for i in items if i.kind == "pays" and i.number == d.number)))
    return rows


def map_csv(rows: list[MapRow], headers: tuple[str, str, str, str]) -> bytes:
    """The map as CSV (one line per dilemma; several entries joined with "; ")."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    for r in rows:
        w.writerow([r.number, r.dilemma, "; ".join(r.gains), "; ".join(r.pays)])
    return buf.getvalue().encode("utf-8")


def lab_circles(session: Session, lab: LabSession, now: datetime) -> list[Circle]:
    """Circles that hear the lab's map: the host and every circle that added to it."""
    ids = {lab.circle_id} | {i.circle_id for i in lab_items(session, lab) if i.circle_id}
    return [c for c in active_circles(session, lab.network_id, now) if c.id in ids]


# --- a person's and a circle's data (/mydata, /forgetme, /circle export) ----------------------

def _iso(dt: datetime | None) -> str | None:
    return utc(dt).isoformat() if dt else None


def _event_data(ev: CalendarEvent) -> dict:
    return {"id": ev.id, "circle_id": ev.circle_id, "scope": ev.scope, "kind": ev.kind,
            "title": ev.title, "start_local": ev.start_local, "tz": ev.tz,
            "start_utc": _iso(ev.start_utc), "duration_minutes": ev.duration_minutes,
            "place": ev.place, "link": ev.link, "repeat": ev.rrule, "created_by": ev.created_by,
            "created_at": _iso(ev.created_at), "cancelled_at": _iso(ev.cancelled_at)}


def _item_data(item: LabItem) -> dict:
    return {"lab_id": item.lab_id, "number": item.number, "kind": item.kind, "text": item.text,
            "person_id": item.person_id, "circle_id": item.circle_id, "at": _iso(item.at)}


def person_data(session: Session, person_id: int) -> dict:
    """What the calendar keeps about a person: the events and labs they made, their answers
    and what they wrote in scenario labs."""
    events = session.exec(select(CalendarEvent).where(CalendarEvent.created_by == person_id)
                          .order_by(CalendarEvent.id)).all()
    answers = session.exec(select(EventRsvp, CalendarEvent.title)
                           .join(CalendarEvent, CalendarEvent.id == EventRsvp.event_id)
                           .where(EventRsvp.person_id == person_id).order_by(EventRsvp.id)).all()
    labs = session.exec(select(LabSession).where(LabSession.started_by == person_id)
                        .order_by(LabSession.id)).all()
    items = session.exec(select(LabItem).where(LabItem.person_id == person_id)
                         .order_by(LabItem.id)).all()
    return {
        "events_created": [_event_data(e) for e in events],
        "rsvps": [{"event_id": r.event_id, "event": title, "occurrence": _iso(r.occurrence_utc),
                   "answer": r.answer, "circle_id": r.circle_id, "at": _iso(r.at)}
                  for r, title in answers],
        "labs_started": [{"id": lab.id, "title": lab.title, "circle_id": lab.circle_id,
                          "started_at": _iso(lab.started_at)} for lab in labs],
        "lab_entries": [_item_data(i) for i in items],
    }


def erase_person(session: Session, person_id: int) -> list[LabSession]:
    """Remove what a person wrote in scenario labs; returns the closed labs whose kept map
    must be drawn again without it.

    Their "who gains" and "who pays" entries go; a dilemma they raised keeps its number
    (other people's entries hang on it) but loses its words. Events they created stay, as
    the circle's calendar, with answers counted under the nameless stub; so do their RSVPs.
    """
    items = session.exec(select(LabItem).where(LabItem.person_id == person_id)).all()
    lab_ids = {i.lab_id for i in items}
    for item in items:
        if item.kind == "dilemma":
            item.text = ""
            session.add(item)
        else:
            session.delete(item)
    session.flush()
    if not lab_ids:
        return []
    return list(session.exec(select(LabSession).where(LabSession.id.in_(lab_ids),
                                                      LabSession.ended_at != None)).all())  # noqa: E711


def circle_data(session: Session, circle_id: int) -> dict:
    """Everything of the calendar a circle takes with it: its events with every answer to
    them, answers its members gave to other circles' events, and the labs it hosted."""
    events = session.exec(select(CalendarEvent).where(CalendarEvent.circle_id == circle_id)
                          .order_by(CalendarEvent.id)).all()
    ids = [e.id for e in events]
    answers = session.exec(select(EventRsvp).where(or_(
        EventRsvp.circle_id == circle_id, EventRsvp.event_id.in_(ids or [-1])))
        .order_by(EventRsvp.id)).all()
    labs = session.exec(select(LabSession).where(LabSession.circle_id == circle_id)
                        .order_by(LabSession.id)).all()
    lab_ids = [lab.id for lab in labs]
    items = session.exec(select(LabItem).where(or_(
        LabItem.circle_id == circle_id, LabItem.lab_id.in_(lab_ids or [-1])))
        .order_by(LabItem.id)).all()
    return {
        "events": [_event_data(e) for e in events],
        "rsvps": [{"event_id": r.event_id, "occurrence": _iso(r.occurrence_utc),
                   "person_id": r.person_id, "circle_id": r.circle_id, "answer": r.answer,
                   "at": _iso(r.at)} for r in answers],
        "labs": [{"id": lab.id, "title": lab.title, "scope": lab.scope,
                  "started_at": _iso(lab.started_at), "ended_at": _iso(lab.ended_at),
                  "map": lab.table_text} for lab in labs],
        "lab_entries": [_item_data(i) for i in items],
    }

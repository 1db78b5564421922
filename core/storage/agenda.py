"""Tables of the action calendar: events, RSVPs, and scenario labs with their maps.

An event keeps the wall-clock time people typed (`start_local` in `tz`) as well as the
resolved instant, so a repeating event keeps its local hour across clock changes and the
export writes it in its home zone.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.storage.models import UtcField


class CalendarEvent(SQLModel, table=True):
    """A meeting, an action or a scenario lab, for one circle or the whole network."""

    __tablename__ = "calendar_event"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)  # the circle that made it
    scope: str = "circle"  # "circle" (its own circle) or "network" (every circle)
    kind: str = "event"  # "event" or "lab" (a scenario lab opens its map when it starts)
    title: str
    start_local: str  # wall-clock time in `tz` as typed, ISO "2026-04-01T18:00"
    tz: str
    start_utc: datetime = UtcField(index=True)
    start_note: str = "ok"  # core.timekeeping Note: how the DST policy resolved start_local
    duration_minutes: int = 120
    place: str = ""
    link: str = ""
    rrule: str | None = None  # canonical RRULE (core.timekeeping.normalize_rrule)
    reminders: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = UtcField(default_now=True)
    updated_at: datetime = UtcField(default_now=True)
    cancelled_at: datetime | None = UtcField(nullable=True)
    sequence: int = 0  # bumped on change, so calendar apps update their copy


class EventRsvp(SQLModel, table=True):
    """One person's answer for one occurrence of an event (linked accounts count once)."""

    __tablename__ = "calendar_rsvp"
    __table_args__ = (UniqueConstraint("event_id", "occurrence_utc", "person_id",
                                       name="uq_calendar_rsvp"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="calendar_event.id", index=True)
    occurrence_utc: datetime = UtcField()
    person_id: int = Field(foreign_key="person.id", index=True)
    circle_id: int | None = Field(default=None, foreign_key="circle.id")  # counted here
    answer: str  # going, maybe, no
    at: datetime = UtcField()


class LabSession(SQLModel, table=True):
    """A scenario lab while it runs, and its map kept afterwards."""

    __tablename__ = "calendar_lab"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)  # host circle
    scope: str = "circle"  # "network": every circle of the network can add to the map
    event_id: int | None = Field(default=None, foreign_key="calendar_event.id")
    occurrence_utc: datetime | None = UtcField(nullable=True)
    title: str
    started_by: int | None = Field(default=None, foreign_key="person.id")
    started_at: datetime = UtcField()
    ended_at: datetime | None = UtcField(nullable=True)
    table_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    csv_key: str | None = None  # media-store key of the map as CSV


class LabItem(SQLModel, table=True):
    """A dilemma, or a "who gains" / "who pays" entry on dilemma number `number`."""

    __tablename__ = "calendar_lab_item"

    id: int | None = Field(default=None, primary_key=True)
    lab_id: int = Field(foreign_key="calendar_lab.id", index=True)
    number: int  # the dilemma's number within the lab
    kind: str  # dilemma, gains, pays
    text: str = Field(sa_column=Column(Text, nullable=False))
    person_id: int | None = Field(default=None, foreign_key="person.id")
    circle_id: int | None = Field(default=None, foreign_key="circle.id")
    at: datetime = UtcField()

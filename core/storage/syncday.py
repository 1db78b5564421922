"""Tables of synchronized days of action: the day, the circles taking part, their photos."""
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.storage.models import UtcField


class SyncDay(SQLModel, table=True):
    """A day of action declared by a coordinator for a whole network."""

    __tablename__ = "syncday"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    circle_id: int = Field(foreign_key="circle.id")  # the declaring circle
    declared_by: int | None = Field(default=None, foreign_key="person.id")
    target: str
    day: date
    at: time  # wall-clock hour: everywhere (same_local_hour) or in instant_tz (same_instant)
    mode: str  # same_instant or same_local_hour
    instant_tz: str = "UTC"
    core_message: str = Field(default="", sa_column=Column(Text, nullable=False))
    core_lang: str = "en"
    countdown: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # minutes
    checkin_after_minutes: int = 120  # the check-in question comes this long after a kickoff
    summary_after_minutes: int = 1440  # the summary waits at most this long after the last kickoff
    created_at: datetime = UtcField()
    cancelled_at: datetime | None = UtcField(nullable=True)
    summary_at: datetime | None = UtcField(nullable=True)
    summary_chart: str | None = None  # media-store key of the timeline image


class SyncDayCircle(SQLModel, table=True):
    """A circle taking part in a sync day: its kickoff, its own words, its check-in."""

    __tablename__ = "syncday_circle"
    __table_args__ = (UniqueConstraint("syncday_id", "circle_id", name="uq_syncday_circle"),)

    id: int | None = Field(default=None, primary_key=True)
    syncday_id: int = Field(foreign_key="syncday.id", index=True)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    joined_at: datetime = UtcField()
    joined_by: int | None = Field(default=None, foreign_key="person.id")
    left_at: datetime | None = UtcField(nullable=True)
    kickoff_utc: datetime = UtcField()
    kickoff_note: str = "ok"  # core.timekeeping Note for this circle's kickoff
    adaptation: str = Field(default="", sa_column=Column(Text, nullable=False))
    adaptation_by: int | None = Field(default=None, foreign_key="person.id")
    kickoff_state: str = "pending"  # pending, sent, late, missed
    kickoff_sent_at: datetime | None = UtcField(nullable=True)
    kickoff_late_seconds: float | None = None
    checkin_at: datetime | None = UtcField(nullable=True)
    checkin_by: int | None = Field(default=None, foreign_key="person.id")
    turnout: int | None = None
    outcome: str = Field(default="", sa_column=Column(Text, nullable=False))


class SyncDayPhoto(SQLModel, table=True):
    """A photo a circle sent with or after its check-in (kept in the media store)."""

    __tablename__ = "syncday_photo"

    id: int | None = Field(default=None, primary_key=True)
    syncday_id: int = Field(foreign_key="syncday.id", index=True)
    circle_id: int = Field(foreign_key="circle.id")
    person_id: int | None = Field(default=None, foreign_key="person.id")
    media_key: str
    mime_type: str = "image/jpeg"
    at: datetime = UtcField()

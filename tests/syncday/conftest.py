"""Sync-day tests share the calendar tests' town (same features, fake clock, fake translator)."""
from tests.calendar.conftest import cal_town  # noqa: F401

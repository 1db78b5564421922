"""A town running circles, help, the action calendar and sync days, with a fake clock."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from core.clock import utc
from core.storage import unit_of_work
from core.storage.models import Timer
from core.translation import Translation
from tests import conftest as shared

FEATURES = ("help", "circles", "calendar_feature", "syncday")


class FakeTranslator:
    """Translates by tagging the text with the target language; "xx" has no model."""

    def can_translate(self, source: str, target: str) -> bool:
        return target != "xx"

    async def translate(self, text, source, target, glossary=None) -> Translation:
        if source == target or not text:
            return Translation(text, source, target, translated=False)
        if target == "xx":
            return Translation(text, source, target, translated=False, missing_model=True)
        return Translation(f"[{source}>{target}] {text}", source, target, translated=True)


async def start_town(tmp_path, url, clock):
    """The suite with our features on the database at `url` (same file = same town after restart)."""
    return await shared.start_town(tmp_path, url, clock, FEATURES, translator=FakeTranslator())


async def walk(town, delta: timedelta) -> list[str]:
    """Let `delta` pass the way real time does: the clock stops at every timer on the way,
    so each runs on time (town.wait alone jumps, and everything in between runs late)."""
    target = town.clock.now() + delta
    out: list[str] = []
    while True:
        with unit_of_work(town.app.services.engine) as s:
            due = s.exec(select(Timer.due_at).where(Timer.state == "pending")
                         .order_by(Timer.due_at)).first()
        if due is None or utc(due) > target:
            break
        out += await town.wait(max(utc(due) - town.clock.now(), timedelta(0)))
    out += await town.wait(target - town.clock.now())
    return out


async def walk_to(town, instant: datetime) -> list[str]:
    """Walk until `instant` (UTC)."""
    return await walk(town, utc(instant) - town.clock.now())


# The town on SQLite (cal_town), and once on SQLite and once on PostgreSQL (any_cal_town).
cal_town, any_cal_town = shared.town_fixtures(start_town)

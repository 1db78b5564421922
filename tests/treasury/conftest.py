"""A town with the treasury: three circles on three platforms (console, alpha, beta)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bots import circles, help as help_, treasury
from tests.conftest import make_config

THREE = (
    ("chicago", "Chicago", "US", "America/Chicago", "en"),
    ("gaziantep", "Gaziantep", "TR", "Europe/Istanbul", "en"),
    ("lagos", "Lagos", "NG", "Africa/Lagos", "en"),
)
PLATFORM = {"chicago": "console", "gaziantep": "alpha", "lagos": "beta"}
FEATURES = [help_.feature, circles.feature, treasury.feature]


async def start_town(tmp_path, url, clock):
    from tests.support.chat import Town
    return await Town.start(make_config(tmp_path, url), clock, features=FEATURES)


@pytest.fixture
async def ttown(tmp_path, sqlite_url, clock):
    """The suite with the treasury, on SQLite."""
    town = await start_town(tmp_path, sqlite_url, clock)
    yield town
    await town.stop()


@pytest.fixture
async def any_ttown(tmp_path, database_url, clock):
    """The suite with the treasury, on SQLite and on PostgreSQL."""
    town = await start_town(tmp_path, database_url, clock)
    yield town
    await town.stop()


async def three_circles(town, members=("ana", "ben"), settle_days: int = 15):
    """Chicago (console), Gaziantep (alpha), Lagos (beta), each with its coordinator and
    `members`, who all write once and then are `settle_days` old in their circle."""
    await town.network(*THREE, platform_of=PLATFORM)
    for chat, *_ in THREE:
        for m in members:
            await town.say(chat, f"{chat}_{m}", "/whoami", platform=PLATFORM[chat])
    if settle_days:
        await town.wait(timedelta(days=settle_days))


async def say(town, chat, user, text):
    """`user` says `text` in `chat` on that circle's platform; everything delivered as a
    result (the reply and any announcements), one text."""
    out = await town.say(chat, user, text, platform=PLATFORM[chat])
    return "\n".join(out)

"""A town with the treasury: three circles on three platforms (console, alpha, beta)."""
from __future__ import annotations

from datetime import timedelta

from tests import conftest as shared

THREE = (
    ("chicago", "Chicago", "US", "America/Chicago", "en"),
    ("gaziantep", "Gaziantep", "TR", "Europe/Istanbul", "en"),
    ("lagos", "Lagos", "NG", "Africa/Lagos", "en"),
)
PLATFORM = {"chicago": "console", "gaziantep": "alpha", "lagos": "beta"}
FEATURES = ("help", "circles", "treasury")


async def start_town(tmp_path, url, clock):
    """The suite with the treasury on the database at `url`."""
    return await shared.start_town(tmp_path, url, clock, FEATURES)


# The suite with the treasury, on SQLite (ttown) and on SQLite and PostgreSQL (any_ttown).
ttown, any_ttown = shared.town_fixtures(start_town)


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

"""A suite with circles and the archive, and a fake translator (German -> English only)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import make_config

BERLIN = ("berlin", "Berlin", "DE", "Europe/Berlin", "de")
LAGOS = ("lagos", "Lagos", "NG", "Africa/Lagos", "en")
CHICAGO = ("chicago", "Chicago", "US", "America/Chicago", "en")


@dataclass
class FakeTranslation:
    text: str
    translated: bool
    missing_model: bool = False


class FakeTranslator:
    """Knows a few German words; every other pair has no model."""

    WORDS = {"Lohn": "wage", "Lager": "warehouse", "zahlt": "pays", "nicht": "not"}

    async def translate(self, text, source, target, glossary=None):
        if (source, target) != ("de", "en"):
            return FakeTranslation(text, False, missing_model=True)
        out = " ".join(self.WORDS.get(w, w) for w in text.split(" "))
        return FakeTranslation(out, out != text)


async def start_town(tmp_path, url, clock):
    from bots import archive, circles, help as help_
    from tests.support.chat import Town
    town = await Town.start(make_config(tmp_path, url), clock,
                            features=[help_.feature, circles.feature, archive.feature])
    town.app.services.translator = FakeTranslator()
    return town


@pytest.fixture
async def town(tmp_path, sqlite_url, clock):
    t = await start_town(tmp_path, sqlite_url, clock)
    yield t
    await t.stop()


@pytest.fixture
async def any_town(tmp_path, database_url, clock):
    t = await start_town(tmp_path, database_url, clock)
    yield t
    await t.stop()

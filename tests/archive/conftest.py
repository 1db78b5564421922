"""A suite with circles and the archive, and a fake translator (German -> English only)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests import conftest as shared

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
    """Circles and the archive on the database at `url`, with the German-English fake."""
    return await shared.start_town(tmp_path, url, clock, ("help", "circles", "archive"),
                                   translator=FakeTranslator())


town, any_town = shared.town_fixtures(start_town)


@pytest.fixture(autouse=True)
def _languages_are_named(languages_named):
    """Every archive test also checks that no sentence it produced names a language by its
    code (tests.conftest.languages_named)."""
    return languages_named

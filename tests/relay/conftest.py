"""A town of three circles on three platforms in three languages, with tiny real Argos models."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import select

from core import i18n, markup
from core.storage import unit_of_work
from core.storage.models import OutboxMessage
from core.translation import install_package
from tests import conftest as shared
from tests.support.argos_models import argos_home, build_tiny_model

# What each tiny model says, whatever it is given: one word per sentence.
WORDS = {("en", "tr"): "merhaba", ("tr", "en"): "hello", ("en", "es"): "hola", ("es", "en"): "hi"}

CHICAGO = ("chicago", "Chicago", "US", "America/Chicago", "en")
GAZIANTEP = ("gaziantep", "Gaziantep", "TR", "Europe/Istanbul", "tr")
BARCELONA = ("barcelona", "Barcelona", "ES", "Europe/Madrid", "es")
PLATFORM = {"chicago": "console", "gaziantep": "alpha", "barcelona": "beta"}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("relay-argos-models")
    return {pair: build_tiny_model(folder, *pair, word) for pair, word in WORDS.items()}


@pytest.fixture
def argos(tmp_path):
    with argos_home(tmp_path / "argos") as packages:
        yield packages


def install(models, *pairs) -> None:
    for pair in pairs:
        install_package(models[pair])


async def start_town(tmp_path, url, clock, **config):
    """Circles and relays on the database at `url` (the real offline translator)."""
    return await shared.start_town(tmp_path, url, clock, ("help", "circles", "relay"), **config)


# Argos must look in the test's own folder before the suite starts.
town, any_town = shared.town_fixtures(start_town, needs=("argos",))


async def three_circles(town, *circles) -> None:
    await town.network(*(circles or (CHICAGO, GAZIANTEP, BARCELONA)), platform_of=PLATFORM)


def prompt_ref(town, chat: str) -> str:
    """The platform's id of the bot's last relay prompt in `chat` (to reply to it)."""
    with unit_of_work(town.app.services.engine) as s:
        rows = s.exec(select(OutboxMessage).where(
            OutboxMessage.chat_id == chat, OutboxMessage.idempotency_key.like("relay:%:prompt"))
            .order_by(OutboxMessage.id)).all()
    return rows[-1].message_ref


def messages(town, chat: str):
    """Outgoing messages delivered to a chat (any platform), in order."""
    return [r[4] for r in town.all_sent() if r[1] == chat and not r[2]]


def says(text: str, lang: str, key: str, /, *, plain: bool = False, **params) -> bool:
    """Whether `text` holds the catalog message `key` in `lang`, with `params` filled in.

    Placeholders not given (a deadline, a time left) may read anything: every other piece
    of the message must be there, in order. `plain` drops the markup, as `Town.last` and
    `Town.texts` give messages.
    """
    message = i18n.t(lang, key, **params)
    if plain:
        message = markup.to_plain(message)
    pieces = [p for p in re.split(r"\{\w+\}", message) if p.strip()]
    at = 0
    for piece in pieces:
        found = text.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return bool(pieces)


@pytest.fixture(autouse=True)
def _languages_are_named(languages_named):
    """Every relay test also checks that no sentence it produced names a language by its
    code (tests.conftest.languages_named)."""
    return languages_named

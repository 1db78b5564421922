"""A translation of someone's words is their words: the translation cache forgets them.

Chicago (English) hands a relay over to Barcelona (Spanish) with tiny real Argos models, so
every report is machine-translated and cached. When amaka asks to be forgotten, no cached
translation of her words is left, in memory or in the database, while maria's stay. Archive
entries read in another language go the same way when withdrawn or erased. The daily sweep
removes cached translations older than the deployment's messages period.
"""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core import retention
from core.storage import unit_of_work
from core.storage.relay import RelayPart
from core.translation_cache import TranslationCacheEntry, cache_key, text_hash
from core.work import Work
from tests import conftest as shared
from tests.relay.conftest import BARCELONA, CHICAGO, argos, install, tiny_models  # noqa: F401

AMAKA_SAYS = "We held the docks all night."
MARIA_SAYS = "Solidarity from the bakery."


async def start_town(request, tmp_path, url, clock, **config):
    request.getfixturevalue("argos")  # Argos looks in the test's own folder
    return await shared.start_town(tmp_path, url, clock,
                                   ("help", "circles", "relay", "archive", "privacy"),
                                   commands={"flood_burst": 1000},
                                   retention={"messages_days": 5}, **config)


def cached(town) -> list[TranslationCacheEntry]:
    with unit_of_work(town.app.services.engine) as s:
        return list(s.exec(select(TranslationCacheEntry)).all())


def hashes(town) -> set[str | None]:
    return {row.text_hash for row in cached(town)}


async def handed_over(town) -> None:
    """amaka and maria report in Chicago; the report reaches Barcelona in Spanish."""
    await town.network(CHICAGO, BARCELONA)
    await town.say("chicago", "chicago_coord", "/relay start Docks chicago,barcelona 24h")
    await town.say("barcelona", "barcelona_coord", "/relay accept")
    await town.say("chicago", "amaka", f"/relay report {AMAKA_SAYS}")
    await town.say("chicago", "maria", f"/relay report {MARIA_SAYS}")
    await town.say("chicago", "chicago_coord", "/relay pass")
    assert any("hola" in t for t in town.texts("barcelona")), town.texts("barcelona")[-3:]


async def forget(town, chat: str, user: str) -> None:
    out = await town.say(chat, user, "/forgetme")
    code = out[-1].split("/forgetme ")[1].split()[0]
    await town.say(chat, user, f"/forgetme {code}")


async def test_forgetme_leaves_no_translation_of_the_authors_words(
        request, tmp_path, database_url, clock, tiny_models):  # noqa: F811
    town = await start_town(request, tmp_path, database_url, clock)
    try:
        install(tiny_models, ("en", "es"))
        await handed_over(town)
        with unit_of_work(town.app.services.engine) as s:
            said = set(s.exec(select(RelayPart.text)).all())
        assert {AMAKA_SAYS, MARIA_SAYS} <= said, said  # the texts the translator was given
        rows = cached(town)
        assert {text_hash(AMAKA_SAYS), text_hash(MARIA_SAYS)} <= {r.text_hash for r in rows}
        assert all(r.made_at == clock.now() for r in rows)  # stamped by the deployment's clock
        # amaka's words also sit in the archive, read in Spanish in Barcelona.
        await town.say("barcelona", "ana", "/help")  # known before she reads
        await town.say("chicago", "amaka", "/archive add testimony The harbour bosses cut "
                       "our night pay. visibility=network")
        out = await town.say("barcelona", "ana", "/archive show 1")
        assert "hola" in out[-1], out
        entry_text = "The harbour bosses cut our night pay."
        assert text_hash(entry_text) in hashes(town)
        cache = town.app.services.translator.cache
        amaka_key = cache_key("en", "es", AMAKA_SAYS)
        assert cache.get(amaka_key) is not None

        await forget(town, "chicago", "amaka")

        left = hashes(town)
        assert text_hash(AMAKA_SAYS) not in left and text_hash(entry_text) not in left, left
        assert text_hash(MARIA_SAYS) in left
        assert cache.get(amaka_key) is None  # nor a copy in memory
        assert cache.get(cache_key("en", "es", MARIA_SAYS)).text == "hola"
    finally:
        await town.stop()


async def test_a_withdrawn_archive_entry_takes_its_translations_along(
        request, tmp_path, sqlite_url, clock, tiny_models):  # noqa: F811
    town = await start_town(request, tmp_path, sqlite_url, clock)
    try:
        install(tiny_models, ("en", "es"))
        await town.network(CHICAGO, BARCELONA)
        await town.say("barcelona", "ana", "/help")
        words = "Drivers walked out at dawn. " * 12  # long: lists show a shortened snippet
        await town.say("chicago", "maria", f"/archive add testimony {words} visibility=network")
        await town.say("barcelona", "ana", "/archive search drivers")  # the snippet
        await town.say("barcelona", "ana", "/archive show 1")  # the whole text
        before = len(cached(town))
        assert before == 2, [r.text_hash for r in cached(town)]
        out = await town.say("chicago", "maria", "/archive withdraw 1")
        assert "withdr" in out[-1].lower(), out
        assert cached(town) == []
    finally:
        await town.stop()


async def test_the_sweep_removes_translations_older_than_the_messages_period(
        request, tmp_path, database_url, clock, tiny_models):  # noqa: F811
    town = await start_town(request, tmp_path, database_url, clock)
    try:
        install(tiny_models, ("en", "es"))
        await handed_over(town)
        fresh = {r.key for r in cached(town)}
        assert fresh
        with unit_of_work(town.app.services.engine) as s:  # cached before made_at existed
            s.add(TranslationCacheEntry(key="0" * 64, source="en", target="es", text="hola"))

        async def sweep(config=None) -> retention.SweepReport:
            with unit_of_work(town.app.services.engine) as s:
                return await retention.sweep(Work(town.app.services, s, clock.now()), config)

        keep = shared.make_config(tmp_path, database_url, retention={"messages_days": 0})
        assert (await sweep(keep)).translations == 0  # 0 keeps them, even the undated one
        assert len(cached(town)) == len(fresh) + 1

        clock.advance(timedelta(days=4))
        report = await sweep()
        assert report.translations == 1  # only the undated row counts as old
        assert {r.key for r in cached(town)} == fresh

        clock.advance(timedelta(days=1, seconds=1))  # past the 5 days
        report = await sweep()
        assert report.translations == len(fresh)
        assert cached(town) == []
        cache = town.app.services.translator.cache
        assert cache.get(cache_key("en", "es", MARIA_SAYS)) is None  # gone from memory too
    finally:
        await town.stop()

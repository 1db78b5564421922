"""Offline translation of field reports with real (tiny) Argos models.

Each tiny model renders every sentence as one fixed word, so "hola hola" means the en->es
model saw two sentences, and an Arabic word after Spanish input proves the pivot ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, create_engine, select

from core.translation import (
    ArgosTranslator,
    Translation,
    Translator,
    install_package,
    list_installed,
)
from core.translation.text import plan_pieces, split_sentences
from core.translation_cache import TranslationCache, TranslationCacheEntry, cache_key
from tests.support.argos_models import argos_home, build_tiny_model

REPO = Path(__file__).resolve().parents[2]

# What each tiny model says, whatever it is given.
WORDS = {
    ("en", "es"): "hola",
    ("es", "en"): "hello",
    ("en", "ar"): "مرحبا",
    ("es", "de"): "hallo",
    ("de", "ar"): "salam",
}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Build every tiny model once per test session."""
    folder = tmp_path_factory.mktemp("tiny-argos-models")
    return {pair: build_tiny_model(folder, *pair, word) for pair, word in WORDS.items()}


@pytest.fixture
def argos(tmp_path) -> Iterator[Path]:
    """A fresh, empty Argos home for each test."""
    with argos_home(tmp_path / "argos") as packages:
        yield packages


@pytest.fixture
def translator(argos) -> Iterator[ArgosTranslator]:
    t = ArgosTranslator()
    yield t
    t.close()


def install(models: dict, *pairs: tuple[str, str]) -> None:
    for pair in pairs:
        assert install_package(models[pair]) == [pair]


# --- models and pairs -------------------------------------------------------------------


def test_an_installed_model_translates_a_report_from_english_to_spanish(tiny_models, translator):
    install(tiny_models, ("en", "es"))

    result = translator.translate_sync("We meet at the square at noon. Bring water!", "en", "es")

    assert result == Translation("hola hola", "en", "es", translated=True)
    assert translator.installed_pairs() == [("en", "es")]
    assert translator.model_calls == 1
    [listed] = list_installed()
    assert (listed["source"], listed["target"], listed["target_name"]) == ("en", "es", "Spanish")


def test_spanish_reaches_arabic_through_english(tiny_models, translator):
    install(tiny_models, ("es", "en"), ("en", "ar"))

    result = translator.translate_sync("Huelga mañana. ¡Traed agua!", "es", "ar")

    assert result.text == "مرحبا مرحبا"
    assert result.via == ("en",) and result.translated
    assert translator.model_calls == 2  # one batch per leg
    assert translator.can_translate("es", "ar")
    assert not translator.can_translate("ar", "es")


def test_english_is_the_preferred_pivot_even_when_another_exists(tiny_models, translator):
    install(tiny_models, ("es", "de"), ("de", "ar"))
    assert translator.translate_sync("Huelga.", "es", "ar").text == "salam"

    install(tiny_models, ("es", "en"), ("en", "ar"))
    result = translator.translate_sync("Huelga mañana.", "es", "ar")

    assert (result.text, result.via) == ("مرحبا", ("en",))


def test_a_pair_without_a_model_returns_the_original_with_a_note(tiny_models, translator):
    report = "Hola, mañana huelga."
    assert translator.translate_sync(report, "es", "en").missing_model  # nothing installed

    install(tiny_models, ("en", "es"))
    result = translator.translate_sync(report, "ar", "es")

    assert result == Translation(report, "ar", "es", translated=False, missing_model=True)
    assert not translator.can_translate("ar", "es")
    assert translator.model_calls == 0


def test_a_model_installed_while_the_bot_runs_is_used_at_once(tiny_models, translator):
    assert translator.translate_sync("Strike today.", "en", "es").missing_model

    install(tiny_models, ("en", "es"))

    assert translator.translate_sync("Strike today.", "en", "es").text == "hola"


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_comes_back_untouched(tiny_models, translator, text):
    install(tiny_models, ("en", "es"))
    result = translator.translate_sync(text, "en", "es")
    assert (result.text, result.translated, result.missing_model) == (text, False, False)
    assert translator.model_calls == 0


def test_same_language_is_not_translated(translator):
    result = translator.translate_sync("Strike today.", "en", "EN")
    assert (result.text, result.translated, result.missing_model) == ("Strike today.", False, False)
    assert translator.can_translate("en", "en")


def test_regional_codes_use_the_base_language_model(tiny_models, translator):
    install(tiny_models, ("en", "es"))
    assert translator.translate_sync("Strike today.", "en-GB", "es_AR").text == "hola"


def test_line_breaks_numbers_and_punctuation_survive(tiny_models, translator):
    install(tiny_models, ("en", "es"))
    report = "Day 3 of the strike.\n\n- 120 workers out. Police came.\n12:00 -- 14:00"
    result = translator.translate_sync(report, "en", "es")
    assert result.text == "hola\n\n- hola hola\n12:00 -- 14:00"


def test_translator_satisfies_the_protocol_core_services_use(translator):
    assert isinstance(translator, Translator)


# --- glossary ---------------------------------------------------------------------------


def test_glossary_terms_are_kept_whatever_the_model_does(tiny_models, translator):
    install(tiny_models, ("en", "es"))
    glossary = {"Tempelhof": "Tempelhof", "rent strike": "huelga de alquileres"}

    result = translator.translate_sync("Rent strike at tempelhof tomorrow.", "en", "es", glossary)

    assert result.text == "huelga de alquileres hola Tempelhof hola"


def test_glossary_matches_whole_words_only(tiny_models, translator):
    install(tiny_models, ("en", "es"))
    result = translator.translate_sync("Meet at Tempelhofer Feld.", "en", "es", {"Tempelhof": "T"})
    assert result.text == "hola"


# --- cache ------------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'tessera.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_the_same_report_is_never_translated_twice(tiny_models, argos, engine):
    install(tiny_models, ("en", "es"))
    report = "Strike at the port. Bring banners."
    first = ArgosTranslator(cache=TranslationCache(engine))

    a = first.translate_sync(report, "en", "es")
    b = first.translate_sync(report, "en", "es")

    assert (a.cached, b.cached) == (False, True)
    assert a.text == b.text == "hola hola"
    assert first.model_calls == 1

    # After a restart (new cache object, same database) the row is still there.
    second = ArgosTranslator(cache=TranslationCache(engine))
    c = second.translate_sync(report, "en", "es")
    assert (c.text, c.cached, second.model_calls) == ("hola hola", True, 0)
    with Session(engine) as session:
        [row] = session.exec(select(TranslationCacheEntry)).all()
    assert row.key == cache_key("en", "es", report)
    assert (row.source, row.target, row.text) == ("en", "es", "hola hola")


def test_pivot_route_is_remembered_by_the_cache(tiny_models, argos, engine):
    install(tiny_models, ("es", "en"), ("en", "ar"))
    ArgosTranslator(cache=TranslationCache(engine)).translate_sync("Huelga.", "es", "ar")

    again = ArgosTranslator(cache=TranslationCache(engine)).translate_sync("Huelga.", "es", "ar")

    assert (again.text, again.via, again.cached) == ("مرحبا", ("en",), True)


def test_a_different_glossary_is_a_different_translation(tiny_models, argos, engine):
    install(tiny_models, ("en", "es"))
    t = ArgosTranslator(cache=TranslationCache(engine))
    t.translate_sync("Strike at Tempelhof.", "en", "es")
    kept = t.translate_sync("Strike at Tempelhof.", "en", "es", {"tempelhof": "Tempelhof"})
    assert (kept.text, kept.cached, t.model_calls) == ("hola Tempelhof.", False, 2)
    same = cache_key("en", "es", "x", {"A": "1", "b": "2"})
    assert same == cache_key("en", "es", "x", {"B": "2", "a": "1"})


# --- off the event loop, offline ------------------------------------------------------


class ThreadRecordingGlossary(Mapping[str, str]):
    """A glossary that notes which thread reads it: the translation runs where it is read."""

    def __init__(self, terms: dict[str, str]):
        self._terms, self.threads = terms, set()

    def __getitem__(self, key: str) -> str:
        self.threads.add(threading.get_ident())
        return self._terms[key]

    def __iter__(self):
        self.threads.add(threading.get_ident())
        return iter(self._terms)

    def __len__(self) -> int:
        return len(self._terms)


async def test_translate_runs_in_a_worker_thread_not_on_the_event_loop(tiny_models, argos):
    install(tiny_models, ("en", "es"))
    translator = ArgosTranslator(max_workers=2)
    glossary = ThreadRecordingGlossary({"Tempelhof": "Tempelhof"})

    try:
        results = await asyncio.gather(
            translator.translate("Strike at Tempelhof.", "en", "es", glossary),
            translator.translate("Bring water.", "en", "es", glossary),
        )
    finally:
        translator.close()

    assert [r.text for r in results] == ["hola Tempelhof.", "hola"]
    assert glossary.threads and threading.get_ident() not in glossary.threads


def test_translation_works_with_no_network_and_downloads_nothing(tiny_models, tmp_path):
    """A fresh process with every connection refused: no MiniSBD/Stanza/spaCy anywhere."""
    script = textwrap.dedent(
        """
        import json, socket, sys
        from pathlib import Path
        attempts = []
        def refuse(self, address, *args):
            attempts.append(repr(address))
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        from core.translation import ArgosTranslator, install_package
        install_package(Path(sys.argv[1]))
        result = ArgosTranslator().translate_sync(
            "Dr. Okafor spoke first. Then approx. two hundred people marched! Police? None.",
            "en", "es")
        heavy = {"stanza", "minisbd", "spacy", "torch"}
        loaded = sorted({m.split(".")[0] for m in sys.modules} & heavy)
        print(json.dumps({"text": result.text, "attempts": attempts, "loaded": loaded}))
        """
    )
    home = tmp_path / "offline"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"), ARGOS_PACKAGES_DIR=str(home / "packages"),
        ARGOS_INTRA_THREADS="1",
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
        PYTHONPATH=str(REPO),
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tiny_models["en", "es"])],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])

    assert report["text"] == "hola hola hola hola"
    assert report["attempts"] == [] and report["loaded"] == []
    model_folders = {"stanza", "minisbd", "spacy", "downloads"}
    downloaded = [p for p in home.rglob("*") if p.name in model_folders and any(p.iterdir())]
    assert downloaded == []


# --- installing -------------------------------------------------------------------------


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


META = json.dumps({"from_code": "en", "to_code": "es", "type": "translate"})


@pytest.mark.parametrize(
    "name, files, reason",
    [
        ("missing.argosmodel", None, "no such file"),
        ("notes.argosmodel", "just text", "zip archive"),
        ("two.argosmodel", {"a/metadata.json": META, "b/model/model.bin": "x"}, "one top-level"),
        ("nometa.argosmodel", {"p/model/model.bin": "x"}, "no metadata.json"),
        ("badmeta.argosmodel", {"p/metadata.json": "{", "p/model/model.bin": "x"}, "valid JSON"),
        ("nopair.argosmodel", {"p/metadata.json": "{}", "p/model/model.bin": "x"}, "from_code"),
        ("nomodel.argosmodel", {"p/metadata.json": META, "p/bpe.model": "x"}, "model.bin"),
        ("notok.argosmodel", {"p/metadata.json": META, "p/model/model.bin": "x"}, "no tokenizer"),
    ],
)
def test_a_bad_package_file_is_refused_with_a_reason(argos, tmp_path, name, files, reason):
    path = tmp_path / name
    if isinstance(files, str):
        path.write_text(files)
    elif files is not None:
        _zip(path, files)
    with pytest.raises(ValueError, match=reason):
        install_package(path)
    assert list_installed() == []


def test_reinstalling_a_package_replaces_it(tiny_models, argos, tmp_path, translator):
    install(tiny_models, ("en", "es"))
    assert translator.translate_sync("Strike.", "en", "es").text == "hola"

    newer = build_tiny_model(tmp_path / "newer", "en", "es", "huelga")
    assert install_package(newer) == [("en", "es")]

    assert translator.translate_sync("Strike.", "en", "es").text == "huelga"
    assert len(list_installed()) == 1


# --- cutting text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ("One. Two! Three?", ["One. ", "Two! ", "Three?"]),
        ("We walked approx. five km. Then rain.", ["We walked approx. five km. ", "Then rain."]),
        ("Dr. Okafor and J. Smith spoke. Go!", ["Dr. Okafor and J. Smith spoke. ", "Go!"]),
        ('He said "stop." Then left.', ['He said "stop." ', "Then left."]),
        ("هل أنتم مستعدون؟ نعم.", ["هل أنتم مستعدون؟ ", "نعم."]),
        ("我们明天罢工。请带水！", ["我们明天罢工。", "请带水！"]),
        ("no full stop", ["no full stop"]),
    ],
)
def test_sentences_are_split_without_any_model(line, expected):
    assert split_sentences(line) == expected
    assert "".join(split_sentences(line)) == line


def test_a_plan_gives_back_the_text_with_renderings():
    text = "Rent strike in Lagos!\n\n  Bring 20 flyers. See Lagos Island."
    pieces = plan_pieces(text, {"lagos": "Èkó", "rent strike": "RENT STRIKE"})
    rendered = text.replace("Rent strike", "RENT STRIKE").replace("Lagos", "Èkó")
    assert "".join(p.text for p in pieces) == rendered
    assert [p.text for p in pieces if p.translate] == ["in", "Bring 20 flyers.", "See", "Island."]


@pytest.mark.timeout(20)  # the usual busy timeout (30 s) would be a stall, not a pass
def test_a_busy_database_never_stalls_a_translation_and_loses_no_cache_row(tmp_path):
    import threading

    from sqlalchemy import text

    from core.storage import make_engine, upgrade
    from core.translation_cache import TranslationCache, TranslationCacheEntry

    engine = make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    upgrade(engine)
    cache = TranslationCache(engine)
    # A command's unit of work holds SQLite's one write lock while it waits for the
    # translation it asked a worker thread for.
    with engine.connect() as command:
        command.execute(text("INSERT INTO adapterstate (key, value) VALUES ('x', '{}')"))
        worker = threading.Thread(target=cache.put, args=("k1", "es", "en", "Strike."),
                                  kwargs={"original": "Huelga."})
        worker.start()
        worker.join()
        assert cache.get("k1").text == "Strike."  # served from memory meanwhile
        command.commit()
    cache.put("k2", "es", "en", "Picket.", original="Piquete.")  # the database is free again
    with Session(engine) as s:
        assert {r.key for r in s.exec(select(TranslationCacheEntry))} == {"k1", "k2"}
    engine.dispose()

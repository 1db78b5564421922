"""Issue #11, done when: a circle set to Arabic, one to Ukrainian and one to Spanish each get
every bot message in their language in the console demo; export and erasure work from chat
and CLI.

The console plays bots/scripts/languages.tessera through the CLI's script mode (Cairo speaks
Arabic, Kharkiv Ukrainian, Madrid Spanish), types on afterwards as a person at the console
would (confirming /forgetme with the code it was given), then the operator's CLI exports and
erases. Every message the console received is read with the chat it went to:

- in Cairo every message has Arabic words of its own, in Kharkiv Cyrillic ones (words the
  members typed do not count: a quoted report is not the bot speaking);
- no message carries a fixed phrase of the English catalogs (core/locales/en) that the
  circle's own catalog does not have for the same message, nor English words its catalog
  never uses (hard-coded text, an English value put into a translated sentence);
- Arabic lines and captions arrive marked right to left, as core.markup.directional marks them.
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import re
import tomllib
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

from core import i18n, markup
from core.messages import Outgoing

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bots" / "scripts" / "languages.tessera"
CIRCLES = {"cairo": "ar", "kharkiv": "uk", "madrid": "es"}
# Who speaks where in the script; a person's private chat counts as their circle's.
PEOPLE = {"layla": "cairo", "karim": "cairo", "oksana": "kharkiv", "taras": "kharkiv",
          "lucia": "madrid", "javier": "madrid"}
OWN_SCRIPT = {"ar": re.compile(r"[\u0600-\u06FF]{2,}"), "uk": re.compile(r"[\u0400-\u04FF]{2,}")}

_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_CODE = re.compile(r"`[^`]*`")
_COMMAND = re.compile(r"(?<![\w/.])/[a-z][a-z_]*(?: [a-z][a-z_]*)*")
_LATIN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ]{2,}")
_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r"“[^”]*”|«[^»]*»|„[^“”]*[“”]|\"[^\"]*\"")
# Not words: commands and paths (/p/…, Africa/Cairo), accounts (console:layla), files, hashes,
# codes, options (turnout=).
_NOT_WORDS = re.compile(r"\S*/\S*|\b[a-z]+:\S+|\S+\.(?:png|csv|json|ics|zip|html|xml)\b"
                        r"|\b[0-9a-f]{64}\b|\b[A-Z0-9]+(?:-[A-Z0-9]+)+\b|\w+=")


def _norm(text: str) -> str:
    text = markup.to_plain(text).replace("’", "'").replace(markup.RLM, "")
    return " ".join(text.split()).lower()


def _texts(message) -> list[str]:
    return list(message.values()) if isinstance(message, dict) else [message]


def _english_catalog() -> dict:
    flat: dict = {}
    for path in sorted((i18n.LOCALES_DIR / "en").glob("*.toml")):
        with path.open("rb") as fh:
            i18n._flatten("", tomllib.load(fh), flat)
    return flat


def english_fragments(lang: str) -> set[str]:
    """The fixed English phrases (between placeholders, commands and code) that would betray
    an untranslated message in `lang`: three words or more, and not also part of that
    language's own text for the same key (a command option or a product name may be)."""
    theirs = i18n.messages(lang)
    found: set[str] = set()
    for key, message in _english_catalog().items():
        translated = _norm(" ".join(_texts(theirs.get(key, ""))))
        for text in _texts(message):
            text = _CODE.sub("\0", _PLACEHOLDER.sub("\0", text)).replace("**", "").replace("__", "")
            for piece in _COMMAND.sub("\0", text).split("\0"):
                piece = _norm(piece.strip(" .,:;!?()—-·\n"))
                if len(_LATIN.findall(piece)) >= 3 and len(piece) >= 14 and piece not in translated:
                    found.add(piece)
    return found


def english_in(text: str, fragments: set[str]) -> list[str]:
    """The English catalog phrases a delivered text contains."""
    plain = _norm(text)
    return sorted(f for f in fragments if f in plain)


@lru_cache(maxsize=None)
def _vocabulary(lang: str) -> frozenset[str]:
    return frozenset(w.lower() for m in i18n.messages(lang).values() for t in _texts(m)
                     for w in _LATIN.findall(t))


# Language codes and each language's own name ("español") are shown on purpose by /lang.
_LANGUAGES = {w.lower() for c in i18n.available_languages()
              for w in [c] + _LATIN.findall(i18n.language_name(c))}


def stray_english_words(text: str, lang: str, typed: set[str]) -> list[str]:
    """Latin-script words a message in `lang` has that its catalog never uses and nobody typed.

    Names (capitalised) pass. In Arabic and Ukrainian any other Latin word is suspect; in
    Spanish one is when it is English catalog vocabulary Spanish never uses ("not", "before").
    """
    english, own = _vocabulary("en"), _vocabulary(lang) | _LANGUAGES
    plain = _NOT_WORDS.sub(" ", markup.to_plain(_CODE.sub(" ", text)))
    words = [w for w in _LATIN.findall(plain) if w[0].islower() and w not in typed
             and w.lower() not in own]
    return words if lang in OWN_SCRIPT else [w for w in words if w.lower() in english]


def test_the_checks_recognise_english():
    # The checks below pass for the right reasons only if they catch English at all.
    fragments = english_fragments("ar")
    assert english_in(i18n.t("en", "errors.flood"), fragments)
    assert english_in(i18n.t("en", "circles.joined", circle="Cairo", city="Cairo", country="EG",
                             network="N", timezone="Africa/Cairo", language="العربية",
                             who="Layla"), fragments)
    assert not english_in(i18n.t("ar", "errors.flood"), fragments)
    assert stray_english_words("‏«عشرة» ليس مبلغًا: not an amount I know", "ar", set()) == \
        ["not", "an", "know"]
    assert {"or", "before"} <= set(
        stray_english_words("Sin total: no EUR->USD rate on or before 2026-12-15", "es", set()))
    assert not stray_english_words(i18n.t("uk", "relay.chain_header", id=1, title="T", count=3),
                                   "uk", set())


# -- playing the script, then a few more lines at the console ------------------------------

@dataclass
class Delivered:
    """One message as the console received it, and where it went."""

    chat: str
    direct: bool
    lang: str
    message: Outgoing

    def texts(self) -> list[str]:
        """What a reader sees that the bot wrote (not the console's own labels)."""
        m = self.message
        out = [m.text] if m.text else []
        out += [a.caption for a in m.attachments if a.caption]
        if m.poll:
            out += [m.poll.question] + [o.label for o in m.poll.options]
        return out + [c.label for c in m.choices]


@dataclass
class Played:
    delivered: list[Delivered]
    probes: list[Delivered]
    transcript: str
    typed: list[str]
    folder: Path
    cli: dict


# Refusals whose reason once was English text from code (see the test at the end).
PROBES = [
    ":wait 5m",  # the flood gate refills
    ":chat cairo", ":as karim", "/treasury contribute عشرة EUR",
    ":as layla", "/event add اجتماع tomorrow 18:00 tz=Mars/Olympus",
    "/event add اجتماع tomorrow 18:00 repeat=FREQ=SOMETIMES",
    ":chat kharkiv", ":as oksana", "/syncday declare Glovo +3d 12:00 same_instant tz=Mars/Olympus",
    ":chat madrid", ":as lucia", "/treasury balance USD",
]


def _play(folder: Path) -> tuple[list, int, str]:
    from adapters import console_adapter
    from bots.cli import _run
    from core.config import load_config

    consoles: list = []
    boundary: list[int] = []

    class RecordingConsole(console_adapter.ConsoleAdapter):
        """The console, kept at hand, typing on after the script."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            consoles.append(self)

        async def _type(self, line: str, settle) -> None:
            self.out.write(f"{self.prompt()}{line}\n")
            await self.feed(line)
            await settle()

        async def interact(self, settle) -> None:
            chat, _, asked = self.sent[-1]
            code = re.search(r"/forgetme `([A-Z0-9-]+)`", asked.text)
            assert chat == "kharkiv" and code, asked.text
            await self._type(f"/forgetme {code.group(1)}", settle)
            boundary.append(len(self.sent))
            for line in PROBES:
                await self._type(line, settle)

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(console_adapter, "ConsoleAdapter", RecordingConsole)
        assert asyncio.run(_run(load_config(), SCRIPT, ["console"], interactive=True, out=out)) == 0
    return consoles[0].sent, boundary[0], out.getvalue()


def _cli(*args: str) -> int:
    from bots.cli import main
    return main(list(args))


def _cli_refuses(*args: str) -> str:
    with pytest.raises(SystemExit) as refused:
        _cli(*args)
    return str(refused.value)


@pytest.fixture(scope="module")
def played(tmp_path_factory) -> Played:
    folder = tmp_path_factory.mktemp("languages")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("TESSERA_")]:
            mp.delenv(name)
        # No translation model: Argos looks only in this folder (and the setting is undone).
        mp.setenv("ARGOS_PACKAGES_DIR", str(folder / "argos"))
        mp.setenv("ARGOS_INTRA_THREADS", "1")
        mp.chdir(folder)  # no tessera.toml here: defaults, data in ./data
        sent, boundary, transcript = _play(folder)
        cli = {
            "oksana_export": _cli("person", "export", "console:oksana", "-o", "oksana.zip"),
            "kharkiv_export": _cli("circle", "export", "2", "-o", "kharkiv.json"),
            "karim_erase": _cli("person", "erase", "console:karim", "--yes"),
            "cairo_export": _cli("circle", "export", "1", "-o", "cairo.json"),
            "karim_after": _cli_refuses("person", "export", "console:karim", "-o", "k.zip"),
            "taras_after": _cli_refuses("person", "export", "console:taras", "-o", "t.zip"),
        }
    delivered = [Delivered(chat, direct, CIRCLES[PEOPLE[chat] if direct else chat], message)
                 for chat, direct, message in sent]
    typed = [ln.strip() for ln in SCRIPT.read_text("utf-8").splitlines()
             if ln.strip() and not ln.lstrip().startswith((":", "#"))]
    return Played(delivered[:boundary], delivered[boundary:], transcript, typed, folder, cli)


def _typed_words(played: Played) -> set[str]:
    return {w for line in played.typed for w in _WORD.findall(line)}


def _without_members_words(text: str, played: Played) -> str:
    # Members' words arrive quoted, or as they typed them (titles, outcomes, shared messages):
    # either way it is not the bot speaking.
    text = _QUOTED.sub(" ", text)
    for line in played.typed:
        for piece in re.split(r"\s\w+=|\+\[|\]", line.split(" ", 2)[-1]):
            if len(piece.strip()) >= 6:
                text = text.replace(piece.strip(), " ")
    return text


def _said(played: Played, chat: str) -> str:
    return _norm("\n".join(x for d in played.delivered if d.chat == chat for x in d.texts()))


def _opening(lang: str, key: str) -> str:
    """The fixed words a catalog message starts with (up to its first placeholder)."""
    message = i18n.messages(lang)[key]
    return _norm(_PLACEHOLDER.split(_texts(message)[-1])[0].replace("**", ""))


# -- what the circles heard ----------------------------------------------------------------

def test_every_circle_heard_every_feature(played):
    assert {d.chat for d in played.delivered if not d.direct} == set(CIRCLES)
    assert {d.chat for d in played.delivered if d.direct} == {"oksana", "taras"}  # /link, /mydata
    assert "Traceback" not in played.transcript
    # Each flow ran to its end in every circle: relay, sync day, ballot, payout.
    for chat, lang in CIRCLES.items():
        said = _said(played, chat)
        for key in ("relay.chain_header", "syncday.summary_header", "treasury.result_approved",
                    "treasury.disbursed_announce"):
            assert _opening(lang, key) in said, (chat, key)
        for key in ("errors.internal", "errors.flood"):
            assert _opening(lang, key) not in said, (chat, key)
    assert _opening("ar", "treasury.verify_ok") in _said(played, "cairo")
    assert _opening("uk", "privacy.sent_privately") in _said(played, "kharkiv")
    assert _opening("es", "privacy.circle_export_ready") in _said(played, "madrid")


def test_arabic_and_ukrainian_circles_hear_their_own_script(played):
    typed = _typed_words(played)
    wrong = []
    for d in played.delivered:
        script = OWN_SCRIPT.get(d.lang)
        if script and not [w for w in script.findall("\n".join(d.texts())) if w not in typed]:
            wrong.append(f"[{d.chat}] {d.message.text[:160]!r}")
    assert not wrong, "not in the circle's language:\n" + "\n".join(wrong)


def test_no_english_reaches_the_circles(played):
    fragments = {lang: english_fragments(lang) for lang in set(CIRCLES.values())}
    assert all(len(f) > 300 for f in fragments.values())  # the catalogs were read
    typed = _typed_words(played)
    leaks = []
    for d in played.delivered:
        for text in d.texts():
            bot_text = _without_members_words(text, played)
            found = english_in(bot_text, fragments[d.lang]) + \
                stray_english_words(bot_text, d.lang, typed)
            if found:
                leaks.append(f"[{d.chat}] {found[:6]}: {text[:120]!r}")
    assert not leaks, "English reached the circles:\n" + "\n".join(leaks)


def test_arabic_lines_are_marked_right_to_left(played):
    unmarked = []
    for d in played.delivered:
        if d.lang != "ar":
            continue
        for text in [d.message.text] + [a.caption for a in d.message.attachments]:
            for line in markup.to_plain(text or "").split("\n"):
                if line.strip() and not line.startswith(markup.RLM):
                    unmarked.append(f"[{d.chat}] {line[:100]!r}")
    assert not unmarked, "Arabic lines without a right-to-left mark:\n" + "\n".join(unmarked)
    # The console prints what it rendered: the marks are on screen too.
    assert "\n[cairo] tessera: " + markup.RLM in played.transcript


# -- help and usage replies ----------------------------------------------------------------

def _answers(played: Played, chat: str, typed: str) -> list[str]:
    """What the bot said in `chat` right after `typed` was sent there (from the transcript)."""
    blocks = played.transcript.split("\n[")
    for i, block in enumerate(blocks):
        if re.fullmatch(rf"{chat} as \w+\]> {re.escape(typed)}", block):
            said = []
            for after in blocks[i + 1:]:
                if " as " in after.split("]", 1)[0]:
                    break
                if after.startswith(f"{chat}] tessera: "):
                    said.append(after.split("tessera: ", 1)[1])
            return said
    raise AssertionError(f"{typed!r} was not said in {chat}")


SLIPS = {"cairo": "/treasury vote 1 ربما", "kharkiv": "/event rsvp перший going",
         "madrid": "/syncday join"}


@pytest.mark.parametrize("chat", CIRCLES)
def test_help_and_usage_replies_in_the_circles_language(played, chat):
    lang = CIRCLES[chat]
    help_text = _norm(_answers(played, chat, "/help")[0])
    assert _opening(lang, "help.intro") in help_text
    for feature in ("circles", "relay", "treasury", "calendar", "syncday", "archive", "privacy"):
        assert _norm(i18n.t(lang, f"feature.{feature}")) in help_text
    assert _opening(lang, "help.footer") in help_text
    usage = _answers(played, chat, SLIPS[chat])[0]
    assert _opening(lang, "errors.bad_args") in _norm(usage)
    assert _opening(lang, "errors.usage") in _norm(usage)
    # The usage line names its arguments in the circle's language, like the catalogs do.
    line = next(ln for ln in usage.split("\n") if "<" in ln)
    labels = re.findall(r"[<\[]([^>\]]+)[>\]]", line)
    english = {a.name for c in _commands() for a in c.args}
    assert labels and not english & set(labels), line
    if lang in OWN_SCRIPT:
        assert all(OWN_SCRIPT[lang].search(x) for x in labels), line


def _commands():
    from bots.app import all_features
    from core.commands import Registry
    return Registry(all_features()).commands


# -- export and erasure ----------------------------------------------------------------------

def test_export_and_erasure_from_chat_and_cli(played):
    cli, folder = played.cli, played.folder
    # In the chat: /mydata arrives privately as a zip; /forgetme erases once confirmed.
    mydata = next(d for d in played.delivered if d.direct and d.chat == "taras")
    assert mydata.message.attachments[0].filename.endswith(".zip")
    confirmed = [d for d in played.delivered if d.chat == "kharkiv"][-1]
    assert _norm(i18n.t("uk", "privacy.forgotten")) in _norm(confirmed.message.text)
    assert "no account" in cli["taras_after"]
    # From the CLI: a person's data, a circle's data, an erasure.
    assert cli["oksana_export"] == cli["kharkiv_export"] == cli["karim_erase"] == 0
    with zipfile.ZipFile(folder / "oksana.zip") as z:
        assert "Ми тримали пікет біля складу" in z.read("data.json").decode()
    kharkiv = json.dumps(json.loads((folder / "kharkiv.json").read_text()), ensure_ascii=False)
    assert "Ранкова зміна зупинилася на годину" in kharkiv
    assert "no account" in cli["karim_after"]
    cairo = (folder / "cairo.json").read_text()
    assert "Karim" not in cairo and "يعملون اثنتي عشرة ساعة" not in cairo


# -- refusals and their reasons -------------------------------------------------------------

def test_refusals_give_their_reason_in_the_circles_language(played):
    # An amount, a time zone, a repeat rule and a missing exchange rate refused: the reason
    # comes from the catalogs too, never from an exception's English text.
    typed = _typed_words(played) | {w for line in PROBES for w in _WORD.findall(line)}
    assert len([d for d in played.probes if not d.direct]) == 5
    leaks = [f"[{d.chat}] {d.message.text[:140]!r}" for d in played.probes
             if stray_english_words(d.message.text, d.lang, typed)]
    assert not leaks, "\n".join(leaks)

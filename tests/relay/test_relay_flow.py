"""A relay through three circles on three platforms in three languages, as people live it."""
from __future__ import annotations

import io
import shutil
import zipfile
from datetime import timedelta
from html.parser import HTMLParser

import feedparser

from core import i18n, relay_export
from core.messages import Attachment, ReplyTo
from tests.relay.conftest import (
    BARCELONA, CHICAGO, GAZIANTEP, install, messages, prompt_ref, says, three_circles,
)
from tests.relay.media import ogg_opus, wav

ALL_PAIRS = (("en", "tr"), ("tr", "en"), ("en", "es"), ("es", "en"))


def voice(town, seconds: float, marker: bytes = b"") -> Attachment:
    data = ogg_opus(seconds, marker)
    key = town.app.services.media.put(data, "audio/ogg")
    return Attachment(kind="voice", mime_type="audio/ogg", size=len(data), filename="note.ogg",
                      path=key)


async def walk(town, hours: int) -> list[str]:
    """Let time pass an hour at a time, so every timer runs on time."""
    out = []
    for _ in range(hours):
        out += await town.wait(timedelta(hours=1))
    return out


async def start_relay(town, chain="chicago,gaziantep,barcelona", leg="48h"):
    out = await town.say("chicago", "chicago_coord", f"/relay start Rent strikes {chain} {leg}")
    assert "Relay #1 Rent strikes created" in "\n".join(out)
    return out


class _Dossier(HTMLParser):
    """Collects quoted words, labels and media links of the HTML dossier."""

    def __init__(self):
        super().__init__()
        self.quotes, self.labels, self.audio, self.links, self._in = [], [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "blockquote":
            self._in = "quote"
        elif tag == "div" and a.get("class") == "label":
            self._in = "label"
        elif tag == "audio":
            self.audio.append(a["src"])
        elif tag == "a":
            self.links.append(a.get("href"))

    def handle_endtag(self, tag):
        if tag in ("blockquote", "div"):
            self._in = None

    def handle_data(self, data):
        if self._in == "quote":
            self.quotes.append(data.strip())
        elif self._in == "label":
            self.labels.append(data.strip())


async def test_a_relay_through_three_circles_three_platforms_three_languages(town, tiny_models, monkeypatch):
    install(tiny_models, *ALL_PAIRS)
    await three_circles(town)
    await start_relay(town)
    invitation = messages(town, "gaziantep")[-1]
    # Gaziantep's circle speaks Turkish, Barcelona's Spanish: each hears Tessera in its language.
    assert says(invitation.text, "tr", "relay.invitation", id=1, title="Rent strikes", origin="Chicago",
                city="Chicago", chain="Chicago → Gaziantep → Barcelona", hours=48)
    assert [c.command for c in invitation.choices] == ["/relay accept 1", "/relay decline 1"]

    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    out = await town.say("barcelona", "barcelona_coord", "/relay accept 1", platform="beta")
    assert says("\n".join(out), "es", "relay.accepted", id=1, title="Rent strikes")
    assert "Your leg of relay #1" in town.last("chicago")

    # Chicago reports: a text part, then a voice note in reply to the prompt, and a transcript.
    out = await town.say("chicago", "maria", "/relay report We held the picket at the warehouse. "
                                              "Twenty couriers joined us.")
    assert "Part 1 recorded" in "\n".join(out) and "Gaziantep" in "\n".join(out)
    note = voice(town, 12.5)
    out = await town.say("chicago", "maria", "", attachments=[note],
                         reply_to=ReplyTo(prompt_ref(town, "chicago")))
    assert "Part 2 recorded (voice note, 0:12)" in "\n".join(out)  # length read from the Ogg itself
    out = await town.say("chicago", "maria", "/relay transcript The night shift walked out.")
    assert "Transcript added to part 2" in "\n".join(out)

    out = await town.say("chicago", "maria", "/relay status")
    assert "Chicago (Chicago): reporting, 2 parts, until" in "\n".join(out)
    assert "Gaziantep (Gaziantep): waiting" in "\n".join(out)

    # The leg closes at its deadline: Gaziantep (alpha) receives the report in Turkish.
    await town.wait(timedelta(hours=48))
    delivered, prompt = messages(town, "gaziantep")[-2:]
    assert says(delivered.text, "tr", "relay.delivery_header", id=1, title="Rent strikes",
                position=1, total=3)
    assert says(delivered.text, "tr", "relay.speaker", circle="Chicago", city="Chicago",
                country="Amerika Birleşik Devletleri")
    original = i18n.t("tr", "relay.original", label="", lang="İngilizce")
    machine = i18n.t("tr", "relay.machine", source="İngilizce", target="Türkçe", via="")
    assert f"{original} “We held the picket" in delivered.text
    assert f"{machine} “merhaba merhaba”" in delivered.text
    assert f"{machine} “merhaba”" in delivered.text  # the transcript
    [audio] = delivered.attachments
    assert (audio.kind, audio.mime_type, audio.path) == ("voice", "audio/ogg", note.path)
    assert says(prompt.text, "tr", "relay.prompt_answer", id=1, title="Rent strikes", position=2, total=3,
                previous="Chicago")
    assert "Gaziantep" in town.last("chicago") and "went to Gaziantep" in town.last("chicago")

    # Gaziantep answers with a voice note (caption in Turkish) in reply to the prompt.
    reply = voice(town, 30, b"gaziantep")
    out = await town.say("gaziantep", "deniz", "Biz de grev yaptık.", platform="alpha",
                         attachments=[reply], reply_to=ReplyTo(prompt_ref(town, "gaziantep")))
    assert says("\n".join(out), "tr", "relay.part_recorded", number=1, kind=i18n.t("tr", "relay.kind_voice"),
                length=", 0:30", id=1, next="Barcelona")
    out = await town.say("gaziantep", "gaziantep_coord", "/relay pass", platform="alpha")
    assert i18n.t("tr", "relay.passing", id=1) in out

    # Barcelona (beta, no voice notes) gets it in Spanish (Turkish -> English -> Spanish).
    delivered = messages(town, "barcelona")[-2]
    assert i18n.t("es", "relay.responds_to", circle="Chicago") in delivered.text
    via = i18n.t("es", "relay.via", via="inglés")
    assert f"{i18n.t('es', 'relay.machine', source='turco', target='español', via=via)} “hola”" in delivered.text
    assert delivered.attachments[0].path == reply.path

    # Barcelona stays silent: a reminder in its evening, one extension, then it reports.
    out = await walk(town, hours=46)
    reminders = [t for t in out if says(t, "es", "relay.reminder_empty", id=1, title="Rent strikes")]
    assert len(reminders) == 2  # 24 h and 3 h before, shown in Barcelona's time
    assert "CET" in reminders[0] or "GMT+1" in reminders[0]
    out = await town.wait(timedelta(hours=2))
    assert any(says(t, "es", "relay.auto_extended", id=1, title="Rent strikes") for t in out)
    await town.say("barcelona", "ana", "/relay report La huelga sigue.", platform="beta")
    out = await town.wait(timedelta(hours=24))

    # The end: every circle receives the whole chain in its own language.
    chicago_chain = town.last("chicago")
    assert "Relay #1 “Rent strikes” is complete" in chicago_chain
    assert "“hello”" in chicago_chain and "“hi”" in chicago_chain
    assert i18n.t("tr", "relay.machine", source="İngilizce", target="Türkçe", via="") in town.last("gaziantep", "alpha")
    assert "“hola hola”" in town.last("barcelona", "beta")
    assert "/relay export 1" in chicago_chain

    # The podcast feed parses, one episode per report, enclosures with exact sizes.
    out = await town.say("chicago", "maria", "/relay export 1 rss")
    feed_att = messages(town, "chicago")[-1].attachments[0]
    media = town.app.services.media
    feed = feedparser.parse(media.get(feed_att.path))
    assert not feed.bozo and feed.version == "rss20"
    reports = ["1. Chicago (Chicago, US)", "2. Gaziantep (Gaziantep, TR)", "3. Barcelona (Barcelona, ES)"]
    enclosure = feed.entries[0].enclosures[0]
    assert enclosure.type == "audio/ogg"
    assert int(enclosure.length) == len(media.get(note.path))
    assert feed.entries[0].itunes_duration == "12"
    assert not feed.entries[2].get("enclosures")  # Barcelona sent text only
    if shutil.which("ffmpeg"):
        # ffmpeg is installed (as in CI): the whole chain is one more episode, exactly sized.
        assert [e.title for e in feed.entries] == reports + [i18n.t("en", "relay.pub.chain_episode")]
        whole = feed.entries[3].enclosures[0]
        name = whole.href.rsplit("/", 1)[-1]
        assert whole.type == "audio/ogg" and int(whole.length) == len(media.get(f"{name[:2]}/{name}"))
        assert "ffmpeg" not in feed.feed.description
    else:
        assert [e.title for e in feed.entries] == reports
        assert i18n.t("en", "relay.feed_no_ffmpeg") in feed.feed.description

    # The HTML dossier shows originals beside English machine translations.
    await town.say("chicago", "maria", "/relay export 1 html")
    page = _Dossier()
    page.feed(media.get(messages(town, "chicago")[-1].attachments[0].path).decode())
    assert "We held the picket at the warehouse. Twenty couriers joined us." in page.quotes
    assert "hello" in page.quotes and "hi" in page.quotes
    assert "Machine translation (Turkish → English)" in page.labels
    assert len(page.audio) == 2

    # The zip holds everything with links relative to itself.
    await town.say("chicago", "maria", "/relay export 1 zip")
    bundle = zipfile.ZipFile(io.BytesIO(media.get(messages(town, "chicago")[-1].attachments[0].path)))
    names = set(bundle.namelist())
    assert {"index.html", "dossier.md", "feed.xml"} <= names
    inner = _Dossier()
    inner.feed(bundle.read("index.html").decode())
    assert inner.audio and all(src in names for src in inner.audio)
    inner_feed = feedparser.parse(bundle.read("feed.xml"))
    assert inner_feed.entries[1].enclosures[0].href in names
    if shutil.which("ffmpeg"):
        assert len(bundle.read(inner_feed.entries[3].enclosures[0].href)) == int(whole.length)

    # Where ffmpeg is missing, the feed has no whole-chain episode and says why.
    real_which = shutil.which
    monkeypatch.setattr(relay_export.shutil, "which",
                        lambda cmd, *a, **kw: None if cmd == "ffmpeg" else real_which(cmd, *a, **kw))
    await town.say("chicago", "maria", "/relay export 1 rss")
    feed = feedparser.parse(media.get(messages(town, "chicago")[-1].attachments[0].path))
    assert [e.title for e in feed.entries] == reports
    assert i18n.t("en", "relay.feed_no_ffmpeg") in feed.feed.description


async def test_a_circle_that_declines_leaves_the_chain(town, tiny_models):
    install(tiny_models, *ALL_PAIRS)
    await three_circles(town)
    await start_relay(town)
    await town.say("barcelona", "barcelona_coord", "/relay decline", platform="beta")
    assert says(town.last("gaziantep", "alpha"), "tr", "relay.declined_notice", circle="Barcelona",
                city="Barcelona", title="Rent strikes")
    out = await town.say("barcelona", "ana", "/relay report hola", platform="beta")
    assert says("\n".join(out), "es", "relay.no_relay")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    out = await town.say("chicago", "maria", "/relay status")
    assert "Barcelona (Barcelona): declined" in "\n".join(out) and "Chicago (Chicago): open" in "\n".join(out)
    assert "(1 of 2)" in town.texts("chicago")[-2]


async def test_an_unreported_leg_is_extended_once_then_skipped(town, tiny_models):
    install(tiny_models, *ALL_PAIRS)
    await three_circles(town)
    await start_relay(town, leg="24h")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    await town.say("barcelona", "barcelona_coord", "/relay accept", platform="beta")
    await town.say("chicago", "maria", "/relay report The strike holds.")
    await town.wait(timedelta(hours=24))
    out = await town.wait(timedelta(hours=24))
    assert any(says(t, "tr", "relay.auto_extended", id=1, title="Rent strikes") for t in out)
    out = await town.wait(timedelta(hours=24))
    skipped = [t for t in town.texts("chicago") if "moved on without it" in t]
    assert skipped and "Gaziantep" in skipped[0]
    # Barcelona receives Chicago's report (the last one handed off), in Spanish.
    delivered = messages(town, "barcelona")[-2]
    assert "**Chicago**" in delivered.text and "“hola”" in delivered.text


async def test_coordinators_steer_the_relay(town, tiny_models):
    install(tiny_models, *ALL_PAIRS)
    await three_circles(town)
    await start_relay(town)
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    await town.say("barcelona", "barcelona_coord", "/relay accept", platform="beta")
    out = await town.say("chicago", "maria", "/relay pass")
    assert "Only this circle's coordinators" in "\n".join(out)
    out = await town.say("chicago", "chicago_coord", "/relay pass")
    assert "Nothing has been reported" in "\n".join(out)
    out = await town.say("chicago", "chicago_coord", "/relay extend 24h")
    assert "now closes at" in "\n".join(out)
    out = await town.say("chicago", "chicago_coord", "/relay reorder barcelona,gaziantep")
    assert "Barcelona → Gaziantep" in "\n".join(out)
    out = await town.say("gaziantep", "gaziantep_coord", "/relay skip 1", platform="alpha")
    assert i18n.t("tr", "relay.coordinators_of_origin", origin="Chicago", id=1) in out
    await town.say("chicago", "chicago_coord", "/relay skip")
    assert says(town.last("barcelona", "beta"), "es", "relay.prompt_first", id=1, title="Rent strikes",
                position=2, total=3, plain=True)
    out = await town.say("chicago", "chicago_coord", "/relay cancel")
    assert "Relay #1 cancelled" in "\n".join(out)
    assert town.last("gaziantep", "alpha") == i18n.t("tr", "relay.cancelled_notice", title="Rent strikes",
                                                     who="Chicago_coord")
    out = await town.say("chicago", "maria", "/relay status")
    assert "No relays are running" in "\n".join(out)


async def test_parts_are_edited_and_withdrawn_by_their_author_until_handoff(town, tiny_models):
    install(tiny_models, *ALL_PAIRS)
    await three_circles(town, CHICAGO, GAZIANTEP)
    await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    await town.say("chicago", "maria", "/relay report Firts draft")
    out = await town.say("chicago", "joe", "/relay edit mine now")
    assert "no part in this leg to edit" in "\n".join(out)
    out = await town.say("chicago", "maria", "/relay edit First draft.")
    assert "Part 1 now reads: “First draft.”" in "\n".join(out)
    await town.say("chicago", "maria", "/relay report A second thought.")
    out = await town.say("chicago", "maria", "/relay withdraw")
    assert "Part 2 withdrawn. 1 part remains" in "\n".join(out)
    audio = Attachment(kind="audio", mime_type="audio/wav", filename="long.wav", path=None)
    long_note = voice(town, 16 * 60, b"long")
    out = await town.say("chicago", "maria", "/relay report", attachments=[long_note])
    assert "lasts 16.0 minutes" in "\n".join(out) and "up to 15 minutes" in "\n".join(out)
    out = await town.say("chicago", "maria", "/relay report", attachments=[audio])
    assert "could not keep that attachment" in "\n".join(out)
    data = wav(2.0)
    key = town.app.services.media.put(data, "audio/wav")
    out = await town.say("chicago", "maria", "/relay report Street noise",
                         attachments=[Attachment(kind="audio", mime_type="audio/wav",
                                                 size=len(data), filename="street.wav", path=key)])
    assert "Part 3 recorded (audio, 0:02)" in "\n".join(out)
    await town.say("chicago", "chicago_coord", "/relay pass")
    delivered = messages(town, "gaziantep")[-2]
    assert "First draft." in delivered.text and "second thought" not in delivered.text
    assert delivered.attachments[0].kind == "audio"
    out = await town.say("chicago", "maria", "/relay edit Too late")
    assert "no running relay" in "\n".join(out)


async def test_missing_model_delivers_the_original_with_a_note(town, tiny_models):
    install(tiny_models, ("en", "tr"))
    await three_circles(town, CHICAGO, BARCELONA)
    await town.say("chicago", "chicago_coord", "/relay start Evictions chicago,barcelona")
    await town.say("barcelona", "barcelona_coord", "/relay accept", platform="beta")
    await town.say("chicago", "maria", "/relay report Three evictions stopped today.")
    await town.say("chicago", "chicago_coord", "/relay pass")
    delivered = messages(town, "barcelona")[-2]
    original = i18n.t("es", "relay.original", label="", lang="inglés")
    assert f"{original} “Three evictions stopped today.”" in delivered.text
    assert i18n.t("es", "relay.no_model", source="inglés", target="español") in delivered.text
    assert "tessera translate install --from-file PATH" in delivered.text
    assert "🤖" not in delivered.text.split("\n", 2)[2]


async def test_glossary_terms_survive_translation(town, tiny_models):
    install(tiny_models, *ALL_PAIRS)
    await three_circles(town, CHICAGO, GAZIANTEP)
    out = await town.say("chicago", "chicago_coord", "/relay glossary add rent strike = kira grevi lang=tr")
    assert "“rent strike” → “kira grevi” (into Turkish)" in "\n".join(out)
    await town.say("chicago", "chicago_coord", "/relay glossary add Amazon")
    out = await town.say("gaziantep", "deniz", "/relay glossary list", platform="alpha")
    into_tr = i18n.t("tr", "relay.glossary_for_lang", lang="Türkçe")
    assert i18n.t("tr", "relay.glossary_line", term="Amazon", rendering="Amazon", lang="") in "\n".join(out)
    assert i18n.t("tr", "relay.glossary_line", term="rent strike", rendering="kira grevi",
                  lang=into_tr) in "\n".join(out)
    await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    await town.say("chicago", "maria", "/relay report The rent strike at Amazon goes on.")
    await town.say("chicago", "chicago_coord", "/relay pass")
    line = [ln for ln in messages(town, "gaziantep")[-2].text.splitlines()
            if ln.startswith("🤖")][0]
    assert "kira grevi" in line and "Amazon" in line and "merhaba" in line
    out = await town.say("chicago", "chicago_coord", "/relay glossary remove Amazon")
    assert "Removed “Amazon”" in "\n".join(out)


async def test_a_relay_holds_on_both_databases(any_town, tiny_models):
    town = any_town
    install(tiny_models, ("en", "tr"), ("tr", "en"))
    await three_circles(town, CHICAGO, GAZIANTEP)
    await town.say("chicago", "chicago_coord", "/relay start Wages chicago,gaziantep 24h")
    await town.say("gaziantep", "gaziantep_coord", "/relay accept", platform="alpha")
    await town.say("chicago", "maria", "/relay report Bread and roses.")
    await town.wait(timedelta(hours=24))
    await town.say("gaziantep", "deniz", "/relay report Ekmek ve güller.", platform="alpha")
    await town.wait(timedelta(hours=24))
    assert "“hello”" in town.last("chicago") and "complete" in town.last("chicago")

"""Voice notes, audio, files, charts, long texts and buttons between Telegram and the core."""
from __future__ import annotations

import re
import struct
import zlib

import pytest

from core import markup
from core.messages import Attachment, Choice, Outgoing
from tests.telegram.conftest import OGG, start_suite

LAGOS = -1001000000002


def png(width: int = 64, height: int = 48) -> bytes:
    """A small valid PNG (a chart would come from matplotlib; the bytes are what matter)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x80" * width * 3 for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def lagos(suite):
    amaka = suite.server.user(2001, "Amaka", "amaka")
    tunde = suite.server.user(2002, "Tunde")
    suite.server.add_group(LAGOS, "Lagos dockers", admins=[amaka], members=[tunde])
    return amaka, tunde


async def test_a_relay_leg_arrives_as_a_playable_voice_note(suite, lagos):
    key = suite.app.services.media.put(OGG, "audio/ogg")
    leg = Attachment("voice", "audio/ogg", len(OGG), "leg2.ogg", duration=7.4, path=key,
                     caption="Leg 2 from **Berlin**")

    suite.enqueue(LAGOS, Outgoing(text="Relay *Depot strike*: leg 2 has arrived",
                                  attachments=[leg]))
    text, voice = await suite.server.wait_for_sent(2, chat_id=LAGOS)

    assert (text.method, voice.method, voice.kind) == ("sendMessage", "sendVoice", "voice")
    assert voice.file_bytes == OGG
    assert voice.message["voice"]["duration"] == 7
    assert voice.text == "Leg 2 from Berlin" and voice.message["caption_entities"][0]["type"] == "bold"


async def test_voice_notes_audio_and_documents_are_downloaded_into_the_media_store(suite, lagos):
    amaka, tunde = lagos
    server, media = suite.server, suite.app.services.media
    mp3 = b"ID3\x03\x00" + bytes(range(200)) * 5
    pdf = b"%PDF-1.4 strike leaflet" + b"." * 500

    asked = server.push_message(LAGOS, amaka, "Send your report as a reply to this")
    server.push_voice(LAGOS, tunde, OGG, duration=12, reply_to=asked["message_id"])
    server.push_audio(LAGOS, tunde, mp3, duration=95, file_name="assembly.mp3", caption="assembly")
    server.push_document(LAGOS, amaka, pdf, "leaflet.pdf", "application/pdf")
    await suite.handled(4)

    heard = suite.extras["heard"]
    voice, audio, doc = (m.attachments[0] for m in heard[1:4])
    assert (voice.kind, voice.duration, voice.mime_type) == ("voice", 12, "audio/ogg")
    assert heard[1].reply_to.message_id == str(asked["message_id"])
    assert media.get(voice.path) == OGG
    assert (audio.kind, audio.duration, audio.filename) == ("audio", 95, "assembly.mp3")
    assert media.get(audio.path) == mp3 and heard[2].text == "assembly"
    assert (doc.kind, doc.filename) == ("file", "leaflet.pdf") and media.get(doc.path) == pdf
    assert heard[3].sender.is_chat_admin and not heard[1].sender.is_chat_admin


async def test_files_beyond_the_download_limit_arrive_without_content(tmp_path, fake_telegram):
    suite = await start_suite(tmp_path, fake_telegram, max_download=1000)
    try:
        tunde = fake_telegram.user(2002, "Tunde")
        fake_telegram.add_group(LAGOS, "Lagos dockers", members=[tunde])
        fake_telegram.push_document(LAGOS, tunde, b"x" * 5000, "minutes.txt", "text/plain")
        fake_telegram.push_document(LAGOS, tunde, b"y" * 500, "agenda.txt", "text/plain")
        await suite.handled(2)
    finally:
        await suite.app.stop()

    big, small = (m.attachments[0] for m in suite.extras["heard"])
    assert (big.filename, big.size, big.path) == ("minutes.txt", 5000, None)
    assert small.path and suite.app.services.media.get(small.path) == b"y" * 500
    assert not any(m == "getFile" and p.get("file_id") == big.platform_ref
                   for m, p in fake_telegram.requests)


async def test_a_chart_goes_out_as_a_photo(suite, lagos):
    image = png()
    key = suite.app.services.media.put(image, "image/png")

    suite.enqueue(LAGOS, Outgoing(attachments=[Attachment("image", "image/png", len(image),
                                                          "treasury.png", path=key)]))
    [photo] = await suite.server.wait_for_sent(chat_id=LAGOS, kind="photo")

    assert photo.file_bytes == image
    assert photo.message["photo"][0]["width"] == 64


async def test_long_text_is_split_at_telegrams_limit_without_breaking_formatting(suite, lagos):
    paragraphs = [f"**Point {i}** of the <assembly> & __minutes__: " + "solidarity " * 60
                  for i in range(30)]
    text = "\n\n".join(paragraphs)  # about 20,000 characters

    suite.enqueue(LAGOS, Outgoing(text=text))
    await suite.server.wait_for(lambda: sum(len(r.text) for r in suite.server.sent_to(LAGOS))
                                >= len(markup.to_plain(text)) - 200, timeout=10)
    sent = suite.server.sent_to(LAGOS)

    assert len(sent) >= 5 and all(r.parse_mode == "HTML" for r in sent)
    assert all(len(r.text) <= 4096 for r in sent)
    # Every point kept its bold title and italic word: no tag was cut in half.
    bold = [e for r in sent for e in r.message.get("entities", []) if e["type"] == "bold"]
    italic = [e for r in sent for e in r.message.get("entities", []) if e["type"] == "italic"]
    assert len(bold) == len(italic) == 30
    joined = "\n\n".join(r.text for r in sent)
    assert re.sub(r"\s+", " ", joined).strip() == re.sub(r"\s+", " ", markup.to_plain(text)).strip()


async def test_buttons_for_rsvps_come_back_as_commands_and_are_answered(suite, lagos):
    amaka, tunde = lagos
    long_command = "/testvote 7 " + "going-with-the-whole-night-shift-and-their-families"
    suite.enqueue(LAGOS, Outgoing(text="Picket on Friday 06:00. Coming?", choices=[
        Choice("Going", "/testvote 7 going"), Choice("Not this time", "/testvote 7 no"),
        Choice("With the night shift", long_command)]))
    [message] = await suite.server.wait_for_sent(chat_id=LAGOS)
    buttons = message.buttons
    assert [b["text"] for b in buttons] == ["Going", "Not this time", "With the night shift"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)

    handled = suite.adapter.handled_count
    suite.server.push_callback_query(LAGOS, tunde, message.message_id, buttons[0]["callback_data"])
    suite.server.push_callback_query(LAGOS, amaka, message.message_id, buttons[2]["callback_data"])
    await suite.handled(handled + 2)

    assert suite.extras["votes"] == {(7, str(tunde.id)): "going",
                                     (7, str(amaka.id)): long_command.split()[-1]}
    assert len(suite.server.callback_answers) == 2

"""Small but real audio files for relay tests: Ogg Opus (pages with valid CRCs) and WAV."""
from __future__ import annotations

import io
import struct
import wave


def _crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _page(packet: bytes, granule: int, serial: int, seq: int, flags: int) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = (b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, serial, seq, 0)
              + bytes([len(lacing)]) + bytes(lacing))
    page = header + packet
    return page[:22] + struct.pack("<I", _crc(page)) + page[26:]


def ogg_opus(seconds: float, marker: bytes = b"") -> bytes:
    """An Ogg Opus voice note that says it lasts `seconds` (silent 20 ms frames).

    `marker` changes the bytes (and so the media-store key) without changing the length.
    """
    pre_skip = 312
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", pre_skip, 48000, 0, 0)
    vendor = b"tessera-test" + marker
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    frame = bytes([0xF8, 0xFF, 0xFE])  # a CELT 20 ms frame that decodes to silence
    granule = int(seconds * 48000) + pre_skip
    return (_page(head, 0, 7, 0, 2) + _page(tags, 0, 7, 1, 0)
            + _page(frame, granule, 7, 2, 4))


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A silent mono 8-bit WAV file of `seconds`."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(b"\x80" * int(seconds * rate))
    return buf.getvalue()

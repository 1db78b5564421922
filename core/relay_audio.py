"""Reading the length of a report's audio from its bytes (Ogg Opus/Vorbis and WAV).

Platforms do not always say how long a voice note is (the console never does for Ogg), and
the configured limit on minutes must hold anyway. Only headers are read; nothing is decoded
or executed.
"""
from __future__ import annotations

import io
import struct
import wave


def audio_duration(data: bytes) -> float | None:
    """Seconds of audio in an Ogg (Opus or Vorbis) or WAV file, or None when unknown."""
    if data[:4] == b"OggS":
        return _ogg_duration(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as w:
                return w.getnframes() / float(w.getframerate())
        except (wave.Error, EOFError, ZeroDivisionError):
            return None
    return None


def _ogg_duration(data: bytes) -> float | None:
    # The first packet says the codec and rate; the last page's granule position counts
    # samples (Opus always at 48 kHz, minus the encoder's pre-skip).
    head = data[:512]
    rate, pre_skip = None, 0
    i = head.find(b"OpusHead")
    if i >= 0 and len(head) >= i + 12:
        rate = 48000
        pre_skip = struct.unpack_from("<H", head, i + 10)[0]
    else:
        j = head.find(b"\x01vorbis")
        if j >= 0 and len(head) >= j + 16:
            rate = struct.unpack_from("<I", head, j + 12)[0]
    if not rate:
        return None
    last = data.rfind(b"OggS")
    if last < 0 or len(data) < last + 14:
        return None
    granule = struct.unpack_from("<q", data, last + 6)[0]
    if granule < 0:
        return None
    return max(0, granule - pre_skip) / rate

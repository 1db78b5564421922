"""The whole-chain podcast episode, joined by ffmpeg (installed in CI)."""
from __future__ import annotations

import shutil

import pytest

from core.relay_audio import audio_duration
from core.relay_export import chain_audio
from tests.relay.media import wav

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="ffmpeg is not installed (apt-get install ffmpeg)")


def test_reports_are_joined_into_one_ogg_episode(tmp_path):
    parts = []
    for i, seconds in enumerate((1.5, 2.0, 0.5)):
        p = tmp_path / f"part{i}.wav"
        p.write_bytes(wav(seconds))
        parts.append(p)
    data = chain_audio(parts)
    assert data is not None and data[:4] == b"OggS"
    assert audio_duration(data) == pytest.approx(4.0, abs=0.1)


def test_a_broken_part_gives_no_episode_rather_than_an_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really audio")
    assert chain_audio([bad]) is None

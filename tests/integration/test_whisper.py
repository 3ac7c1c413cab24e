"""Real Whisper models on synthetic speech (espeak-ng), offline and live.

Kept short for a shared 2-core machine: ~13 s of audio, int8, 2 threads, each model loaded once.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from meetbot.contract.models import Segment
from meetbot.transcription import weights
from meetbot.transcription.audio import (
    SAMPLE_RATE,
    Samples,
    float_to_int16,
    load_audio,
    split_points,
    to_wav_bytes,
)
from meetbot.transcription.factory import build_transcriber, live_policy
from meetbot.transcription.models import validate_model
from meetbot.transcription.streaming import LiveTranscriber
from meetbot.transcription.wer import normalize_words, wer
from meetbot.transcription.whisper import WhisperOptions, WhisperTranscriber

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng generates the test speech"
)

SENTENCES = (
    "Please send the quarterly report to the finance team before Friday.",
    "The new office will open next spring near the river.",
    "We agreed to review the budget together after lunch.",
)
REFERENCE = " ".join(SENTENCES)
PAUSE = 0.75
OFFSET = 100.0


@dataclass(frozen=True)
class Speech:
    samples: Samples
    sentence_ends: tuple[float, ...]

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    folder = tmp_path_factory.mktemp("speech")
    parts: list[Samples] = []
    ends: list[float] = []
    for i, sentence in enumerate(SENTENCES):
        raw = folder / f"s{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), sentence], check=True
        )
        parts.append(load_audio(raw))  # 22.05 kHz WAV -> 16 kHz float32 via PyAV
        ends.append(sum(len(p) for p in parts) / SAMPLE_RATE)
        parts.append(np.zeros(round(PAUSE * SAMPLE_RATE), dtype=np.float32))
    return Speech(np.concatenate(parts), tuple(ends))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module", params=["whisper-tiny.en", "whisper-base"])
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def model(name: str, models_dir: Path) -> WhisperTranscriber:
    built = build_transcriber(validate_model(name), models_dir=models_dir)
    assert isinstance(built, WhisperTranscriber)
    return built


@pytest.fixture(scope="module")
def live_model(name: str, models_dir: Path) -> WhisperTranscriber:
    built = build_transcriber(validate_model(name), models_dir=models_dir, live=True)
    assert isinstance(built, WhisperTranscriber)
    return built


@pytest.fixture(scope="module")
def tiny() -> WhisperTranscriber:
    """tiny.en, greedy, in pieces of at most 6 s."""
    return WhisperTranscriber(tiny_dir(), WhisperOptions("en", beam_size=1, piece_seconds=6))


def text_of(segments: list[Segment]) -> str:
    return " ".join(s.text for s in segments)


def assert_monotonic(segments: list[Segment], lo: float, hi: float) -> None:
    words = [w for s in segments for w in s.words]
    assert words, "word timestamps are on"
    for s in segments:
        assert lo - 1e-6 <= s.start <= s.end <= hi + 0.5
    for w in words:
        assert lo - 1e-6 <= w.start <= w.end <= hi + 0.5
    for a, b in itertools.pairwise(words):
        assert a.end <= b.start + 1e-6, (a, b)


def test_offline_transcription(model: WhisperTranscriber, speech: Speech) -> None:
    segments = model.transcribe(speech.samples, offset=OFFSET)
    assert wer(REFERENCE, text_of(segments)) <= 0.15, text_of(segments)
    assert_monotonic(segments, OFFSET, OFFSET + speech.seconds)
    assert segments[0].start < OFFSET + 1.0


def test_live_transcription_in_250ms_chunks(
    name: str, live_model: WhisperTranscriber, speech: Speech
) -> None:
    # Not adaptive: on a busy machine slow decodes would stretch the interval past the clip.
    policy = dataclasses.replace(live_policy(validate_model(name)), adaptive=False)
    live = LiveTranscriber(live_model, policy, start_time=OFFSET)
    pcm = float_to_int16(speech.samples)
    chunk = SAMPLE_RATE // 4 * 2  # 250 ms of int16
    during: list[Segment] = []
    for i in range(0, len(pcm), chunk):
        during.extend(live.feed(pcm[i : i + chunk]))
    segments = during + live.finish()

    assert wer(REFERENCE, text_of(segments)) <= 0.20, text_of(segments)
    assert_monotonic(segments, OFFSET, OFFSET + speech.seconds)
    # each segment is emitted once: no overlaps, no repeated words at the seams
    for a, b in itertools.pairwise(segments):
        assert a.end <= b.start + 0.05, (a.text, b.text)
    words = normalize_words(text_of(segments))
    assert len(words) <= len(normalize_words(REFERENCE)) + 2
    assert during, "something is committed while the call runs"
    assert live.stats.max_window < speech.seconds
    assert live_model.language == "en"


def test_long_audio_is_fed_in_pieces_cut_in_pauses(
    tiny: WhisperTranscriber, speech: Speech
) -> None:
    cuts = [c / SAMPLE_RATE for c in split_points(speech.samples, 6.0)]
    assert len(cuts) >= 2
    # every cut falls in one of the pauses between sentences
    assert all(any(end <= c <= end + PAUSE for end in speech.sentence_ends) for c in cuts), cuts
    segments = tiny.transcribe(speech.samples, offset=OFFSET)
    assert wer(REFERENCE, text_of(segments)) <= 0.15, text_of(segments)
    assert_monotonic(segments, OFFSET, OFFSET + speech.seconds)


def test_one_caller_at_a_time(speech: Speech) -> None:
    model = WhisperTranscriber(tiny_dir(), WhisperOptions(language="en", beam_size=1))
    assert not model.loaded  # lazily, by whichever thread comes first
    clip = speech.samples[: round(speech.sentence_ends[0] * SAMPLE_RATE)]
    results: list[str] = []

    def work() -> None:
        results.append(text_of(model.transcribe(clip)))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.loaded
    assert len(results) == 2
    assert results[0] == results[1]
    assert wer(SENTENCES[0], results[0]) <= 0.15


def test_silence_gives_no_segments(tiny: WhisperTranscriber) -> None:
    assert tiny.transcribe(np.zeros(3 * SAMPLE_RATE, dtype=np.float32)) == []


def test_load_audio_decodes_opus_in_ogg(speech: Speech, tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg encodes the test file")
    wav = tmp_path / "a.wav"
    ogg = tmp_path / "a.ogg"
    wav.write_bytes(to_wav_bytes(speech.samples))
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "libopus", str(ogg)], check=True
    )
    decoded = load_audio(ogg)
    assert abs(len(decoded) - len(speech.samples)) < SAMPLE_RATE // 10


def tiny_dir() -> Path:
    return weights.tiny_en_dir()

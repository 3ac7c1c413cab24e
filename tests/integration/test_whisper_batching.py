"""Several live streams decoded in one batched call of the real tiny.en model (issue 18):
each stream gets its own words, at its own times, as if decoded alone."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from meetbot.contract.models import Segment
from meetbot.transcription import weights
from meetbot.transcription.audio import SAMPLE_RATE, Samples, load_audio
from meetbot.transcription.batching import StreamBatcher
from meetbot.transcription.wer import wer
from meetbot.transcription.whisper import WhisperOptions, WhisperTranscriber

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng generates the test speech"
)

SENTENCES = (
    "Please send the quarterly report to the finance team before Friday.",
    "The new office will open next spring near the river.",
    "We agreed to review the budget together after lunch.",
)


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Samples, float]]:
    folder = tmp_path_factory.mktemp("speech")
    out: list[tuple[Samples, float]] = []
    for i, sentence in enumerate(SENTENCES):
        raw = folder / f"s{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), sentence], check=True
        )
        pad = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
        out.append((np.concatenate([pad, load_audio(raw), pad]), 100.0 * (i + 1)))
    silence = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    out.append((silence, 500.0))
    return out


@pytest.fixture(scope="module")
def model() -> WhisperTranscriber:
    return WhisperTranscriber(weights.tiny_en_dir(), WhisperOptions("en", beam_size=1))


def _text(segments: list[Segment]) -> str:
    return " ".join(s.text for s in segments)


def test_a_batch_gives_each_window_its_own_words_at_its_own_times(
    model: WhisperTranscriber, windows: list[tuple[Samples, float]]
) -> None:
    batched = model.transcribe_many(windows)
    assert len(batched) == len(windows)
    for (samples, offset), sentence, segments in zip(windows, SENTENCES, batched, strict=False):
        assert wer(sentence, _text(segments)) <= 0.25, _text(segments)
        words = [w for s in segments for w in s.words]
        assert words
        end = offset + len(samples) / SAMPLE_RATE
        assert all(offset - 0.05 <= w.start <= w.end <= end + 0.05 for w in words)
        alone = model.transcribe(samples, offset=offset)
        # The same place in the stream (a packing error would shift it by seconds); Whisper's
        # own timestamps differ by up to half a second between two contexts (0.509 s seen).
        assert abs(alone[0].start - segments[0].start) < 1.0
    assert batched[-1] == []  # a silent window is not decoded (no hallucinated words)


def test_threads_behind_one_batcher_each_get_their_own_transcript(
    model: WhisperTranscriber, windows: list[tuple[Samples, float]], tmp_path: Path
) -> None:
    batcher = StreamBatcher(model, max_batch=8)
    results: dict[int, list[Segment]] = {}

    def call(i: int) -> None:
        samples, offset = windows[i]
        results[i] = batcher.transcribe(samples, offset=offset)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(SENTENCES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, sentence in enumerate(SENTENCES):
        assert wer(sentence, _text(results[i])) <= 0.25, _text(results[i])
    assert batcher.stats.windows == len(SENTENCES)

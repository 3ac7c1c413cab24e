"""Speech and silence WAV files for fake microphones (espeak-ng + sox).

Chromium's ``--use-file-for-fake-audio-capture`` wants 48 kHz mono 16-bit PCM. :func:`make_speech`
returns the exact sentences and where each one lies in the file, so tests can compare
transcripts (text and timing) with what was said.
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SAMPLE_RATE: Final = 48_000


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    start_s: float
    end_s: float
    """Both include espeak-ng's own short lead/trail silence around the words."""


@dataclass(frozen=True, slots=True)
class Speech:
    path: Path
    sentences: tuple[Sentence, ...]
    duration_s: float

    @property
    def text(self) -> str:
        """All sentences, joined by single spaces."""
        return " ".join(s.text for s in self.sentences)


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def make_silence(path: Path, seconds: float, *, rate: int = SAMPLE_RATE) -> Path:
    """Write ``seconds`` of digital silence (mono, 16-bit, ``rate`` Hz) to ``path``."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * round(seconds * rate))
    return path


def make_speech(
    sentences: Sequence[str],
    path: Path,
    *,
    voice: str = "en-us",
    words_per_minute: int = 150,
    lead_s: float = 1.0,
    gap_s: float = 0.8,
    tail_s: float = 1.0,
) -> Speech:
    """Speak ``sentences`` with espeak-ng into a 48 kHz mono WAV at ``path``.

    ``lead_s`` of silence first (the browser starts "speaking" at getUserMedia, before the
    call is connected), ``gap_s`` between sentences, ``tail_s`` at the end.
    """
    if not sentences:
        raise ValueError("no sentences")
    with tempfile.TemporaryDirectory(prefix="mb-speech-") as tmp:
        tmpdir = Path(tmp)
        parts: list[Path] = [make_silence(tmpdir / "lead.wav", lead_s)]
        gap = make_silence(tmpdir / "gap.wav", gap_s)
        timeline: list[Sentence] = []
        t = lead_s
        for i, text in enumerate(sentences):
            raw, part = tmpdir / f"s{i}-raw.wav", tmpdir / f"s{i}.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(raw), "--stdin"],
                input=text.encode(), check=True, capture_output=True,
            )  # fmt: skip
            _sox(raw, part)
            length = wav_duration(part)
            timeline.append(Sentence(text=text, start_s=t, end_s=t + length))
            t += length
            parts.append(part)
            if i < len(sentences) - 1:
                parts.append(gap)
                t += gap_s
        parts.append(make_silence(tmpdir / "tail.wav", tail_s))
        _sox(*parts, path)
    return Speech(path=path, sentences=tuple(timeline), duration_s=wav_duration(path))


def _sox(*paths: Path) -> None:
    """Concatenate ``paths[:-1]`` into ``paths[-1]`` as 48 kHz mono 16-bit."""
    *inputs, output = paths
    subprocess.run(
        ["sox", *map(str, inputs), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(output)],
        check=True, capture_output=True,
    )  # fmt: skip

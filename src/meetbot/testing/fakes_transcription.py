"""A scripted :class:`meetbot.ports.Transcriber`: it "hears" words from a script by their times.

``FakeTranscriber(script)`` takes the words spoken over the whole call, with absolute times.
``transcribe(samples, offset=t)`` treats the samples as the audio of ``[t, t + len/16000)`` and
returns the script's words that lie fully inside that span, grouped into segments at pauses of
``pause`` seconds or more - like Whisper with voice-activity detection. The samples' content is
ignored. With ``unstable_tail`` it garbles the words ending that close to the window end, as a
real decoder revises its last words when more audio arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meetbot.models import Segment, Word

SAMPLE_RATE = 16_000


def words_from_text(
    text: str, *, start: float = 0.0, word: float = 0.4, gap: float = 0.1
) -> list[Word]:
    """Evenly timed words for ``text``: each ``word`` seconds long, ``gap`` seconds apart."""
    out: list[Word] = []
    t = start
    for token in text.split():
        out.append(Word(round(t, 3), round(t + word, 3), token))
        t += word + gap
    return out


def script(*utterances: tuple[float, str], word: float = 0.4, gap: float = 0.1) -> list[Word]:
    """Words for several ``(start_seconds, text)`` utterances."""
    out: list[Word] = []
    for start, text in utterances:
        out.extend(words_from_text(text, start=start, word=word, gap=gap))
    return out


@dataclass(frozen=True, slots=True)
class Call:
    offset: float
    duration: float


@dataclass
class FakeTranscriber:
    words: Sequence[Word]
    pause: float = 0.5
    unstable_tail: float = 0.0
    calls: list[Call] = field(default_factory=list)

    def transcribe(self, pcm16k: Sequence[float] | Any, *, offset: float = 0.0) -> list[Segment]:
        duration = len(np.asarray(pcm16k)) / SAMPLE_RATE
        self.calls.append(Call(offset, duration))
        end = offset + duration
        heard = [w for w in self.words if w.start >= offset - 1e-9 and w.end <= end + 1e-9]
        heard = [
            Word(w.start, w.end, f"{w.text}~") if end - w.end < self.unstable_tail else w
            for w in heard
        ]
        return list(group_words(heard, self.pause))

    @property
    def audio_decoded(self) -> float:
        return sum(c.duration for c in self.calls)


def group_words(words: Iterable[Word], pause: float) -> Iterable[Segment]:
    """Segments from words split where the gap between two words is at least ``pause``."""
    run: list[Word] = []
    for word in words:
        if run and word.start - run[-1].end >= pause:
            yield _segment(run)
            run = []
        run.append(word)
    if run:
        yield _segment(run)


def _segment(words: list[Word]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words))


def silence(seconds: float) -> bytes:
    """``seconds`` of int16 silence at 16 kHz (what a fake call feeds)."""
    return b"\x00\x00" * round(seconds * SAMPLE_RATE)

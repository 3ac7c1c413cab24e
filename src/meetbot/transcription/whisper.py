"""The local speech-to-text engine: faster-whisper (CTranslate2) on the CPU, offline.

This is the only module that imports ``faster_whisper``. The model loads lazily on first use
(a second or two) from a local directory with ``local_files_only=True``: it never downloads.
Long audio is fed in pieces of at most ``piece_seconds`` (cut at quiet points), which keeps peak
memory under 1 GB for an hour-long meeting (the whole file at once needs 3.5 GB).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meetbot.contract.models import Segment, Word
from meetbot.transcription.audio import SAMPLE_RATE, as_samples, pieces
from meetbot.transcription.segments import clean_text, monotonic_words

_STICKY_PROBABILITY = 0.9


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    language: str | None = None
    """``"en"`` for English-only models; ``None`` detects the language (multilingual models)."""
    cpu_threads: int = 2
    compute_type: str = "int8"
    beam_size: int = 5
    """1 = greedy (faster, for live re-decoding); 5 = Whisper's default beam search."""
    batch_size: int = 0
    """> 1 uses faster-whisper's batched pipeline (about 2.5x faster offline, more memory)."""
    piece_seconds: float = 300.0
    vad_filter: bool = True
    word_timestamps: bool = True
    condition_on_previous_text: bool = True
    sticky_language: bool = False
    """With ``language=None``: keep the first language detected with probability >= 0.9 for
    later calls. Live re-decoding uses it: detection costs a pass per window and short windows
    can flip languages."""


class WhisperTranscriber:
    """Implements :class:`meetbot.ports.Transcriber`.

    Thread-safe: one call runs at a time (others wait on a lock); the model is loaded once, by
    whichever call comes first. Run it in a worker thread from async code.
    """

    def __init__(self, model_dir: Path, options: WhisperOptions | None = None) -> None:
        self.model_dir = model_dir
        self.options = options or WhisperOptions()
        self._lock = threading.Lock()
        self._model: Any = None
        self._batched: Any = None
        self._language = self.options.language

    def _load(self) -> Any:
        if self._model is None:
            from faster_whisper import BatchedInferencePipeline, WhisperModel

            self._model = WhisperModel(
                str(self.model_dir),
                device="cpu",
                compute_type=self.options.compute_type,
                cpu_threads=self.options.cpu_threads,
                local_files_only=True,
            )
            if self.options.batch_size > 1:
                self._batched = BatchedInferencePipeline(model=self._model)
        return self._batched or self._model

    def load(self) -> None:
        """Load the model now (e.g. at worker start) instead of on the first call."""
        with self._lock:
            self._load()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def language(self) -> str | None:
        """The fixed or remembered language (``None`` while it is detected per call)."""
        return self._language

    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        """Transcribe mono float32 16 kHz samples; times are shifted by ``offset`` seconds."""
        samples = as_samples(pcm16k)
        out: list[Segment] = []
        with self._lock:
            engine = self._load()
            for start_index, piece in pieces(samples, self.options.piece_seconds):
                piece_offset = offset + start_index / SAMPLE_RATE
                out.extend(_convert(self._run(engine, piece), piece_offset))
        return out

    def transcribe_many(self, windows: Sequence[tuple[Any, float]]) -> list[list[Segment]]:
        """Several streams' windows (samples, offset), each answered with its own segments.

        Whisper pads every decode to 30 s, so a live window of a few seconds costs nearly a
        whole 30 s decode. Here the windows with speech are *packed*: laid one after the other,
        0.6 s of silence between them, into clips of at most ``PACK_SECONDS``, and each clip is
        decoded once; its words go back to the window they were spoken in (by their middle) and
        become that window's segments. A clip of one window is decoded as :meth:`transcribe`
        does. Implements :class:`meetbot.transcription.batching.BatchEngine`."""
        samples = [as_samples(w) for w, _ in windows]
        out: list[list[Segment]] = [[] for _ in windows]
        speaking = [
            i
            for i, window in enumerate(samples)
            if len(window) and (not self.options.vad_filter or _has_speech(window))
        ]
        if not self.options.word_timestamps:
            speaking_packs = [[i] for i in speaking]
        else:
            speaking_packs = _packs([len(samples[i]) for i in speaking], PACK_SECONDS)
            speaking_packs = [[speaking[k] for k in pack] for pack in speaking_packs]
        for pack in speaking_packs:
            if len(pack) == 1:
                out[pack[0]] = self.transcribe(samples[pack[0]], offset=windows[pack[0]][1])
                continue
            for i, segments in zip(pack, self._packed([samples[i] for i in pack]), strict=True):
                out[i] = [_moved(s, windows[i][1]) for s in segments]
        return out

    def _packed(self, clips: list[Any]) -> list[list[Segment]]:
        """Decode ``clips`` as one (see :meth:`transcribe_many`); each clip's segments, with
        times from the clip's start."""
        import numpy as np

        gap = np.zeros(round(PACK_GAP * SAMPLE_RATE), dtype=np.float32)
        starts: list[float] = []
        parts: list[Any] = []
        position = 0
        for clip in clips:
            starts.append(position / SAMPLE_RATE)
            parts += [clip, gap]
            position += len(clip) + len(gap)
        with self._lock:
            engine = self._load()
            kwargs: dict[str, Any] = {
                "language": self._language,
                "beam_size": self.options.beam_size,
                "word_timestamps": True,
                "vad_filter": False,
                "condition_on_previous_text": False,
            }
            if self._batched is not None:
                kwargs["batch_size"] = self.options.batch_size
                kwargs["without_timestamps"] = False
                del kwargs["condition_on_previous_text"]
            raw, _ = engine.transcribe(np.concatenate(parts), **kwargs)
            decoded = _convert(list(raw), 0.0)
        words: list[list[Word]] = [[] for _ in clips]
        for word in (w for segment in decoded for w in segment.words):
            middle = (word.start + word.end) / 2
            index = max(0, bisect.bisect_right(starts, middle) - 1)
            shift, length = starts[index], len(clips[index]) / SAMPLE_RATE
            start = min(max(word.start - shift, 0.0), length)
            end = min(max(word.end - shift, start), length)
            words[index].append(Word(start, end, word.text))
        return [_segments_of(run) for run in words]

    def _run(self, engine: Any, piece: Any) -> Iterable[Any]:
        opts = self.options
        kwargs: dict[str, Any] = {
            "language": self._language,
            "beam_size": opts.beam_size,
            "word_timestamps": opts.word_timestamps,
            "vad_filter": opts.vad_filter,
            "condition_on_previous_text": opts.condition_on_previous_text,
        }
        if self._batched is not None:
            kwargs["batch_size"] = opts.batch_size
            kwargs["without_timestamps"] = False  # else one segment per VAD chunk (up to 30 s)
            del kwargs["condition_on_previous_text"]
        segments, info = engine.transcribe(piece, **kwargs)
        decoded = list(segments)  # a lazy generator: decode while holding the lock
        confident = (info.language_probability or 0.0) >= _STICKY_PROBABILITY
        if opts.sticky_language and self._language is None and decoded and confident:
            self._language = info.language
        return decoded


PACK_SECONDS = 29.0
"""Live windows are packed into decodes of at most this long (Whisper's context is 30 s)."""
PACK_GAP = 0.6
"""Silence between two packed windows, so that no segment runs from one into the next."""


def _has_speech(samples: Any) -> bool:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return bool(get_speech_timestamps(samples, VadOptions()))


def _packs(lengths: Sequence[int], seconds: float) -> list[list[int]]:
    """Indexes of ``lengths`` (samples) in order, grouped so that each group with its gaps
    lasts at most ``seconds``; a window longer than that is a group of its own."""
    limit = seconds * SAMPLE_RATE
    gap = PACK_GAP * SAMPLE_RATE
    packs: list[list[int]] = []
    used = limit + 1.0
    for index, length in enumerate(lengths):
        if used + length + gap > limit:
            packs.append([])
            used = 0.0
        packs[-1].append(index)
        used += length + gap
    return packs


def _segments_of(words: list[Word]) -> list[Segment]:
    """One segment per run of words without a pause of a second or more."""
    segments: list[Segment] = []
    run: list[Word] = []
    for word in words:
        if run and word.start - run[-1].end >= 1.0:
            segments.append(_segment(run))
            run = []
        run.append(word)
    if run:
        segments.append(_segment(run))
    return segments


def _segment(words: list[Word]) -> Segment:
    text = clean_text(" ".join(w.text.strip() for w in words))
    return Segment(words[0].start, words[-1].end, text, tuple(words))


def _moved(segment: Segment, offset: float) -> Segment:
    words = tuple(Word(w.start + offset, w.end + offset, w.text) for w in segment.words)
    return Segment(segment.start + offset, segment.end + offset, segment.text, words)


def _convert(raw_segments: Iterable[Any], offset: float) -> list[Segment]:
    out: list[Segment] = []
    for raw in raw_segments:
        text = clean_text(raw.text)
        if not text:
            continue
        words = monotonic_words(
            Word(float(w.start) + offset, float(w.end) + offset, w.word) for w in (raw.words or ())
        )
        start = float(raw.start) + offset
        end = float(raw.end) + offset
        if words:
            start, end = min(start, words[0].start), max(end, words[-1].end)
        out.append(Segment(start, end, text, words))
    return out

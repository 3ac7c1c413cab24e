"""Pure functions over transcript segments: normalising, merging, and speaker attribution.

Times are seconds from the start of the recording. Speaking intervals come from the platform's
speaking events and must be on the same timeline (the caller subtracts the recording start).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import NamedTuple

from meetbot.contract.models import Segment, Word

# --- normalising ---------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Collapse runs of whitespace (newlines included) to one space and strip the ends."""
    return " ".join(text.split())


def monotonic_words(words: Iterable[Word]) -> tuple[Word, ...]:
    """Words with clean text, none empty, each ``start <= end`` and starting no earlier than the
    previous word ended (Whisper's word times occasionally step back a few ms)."""
    out: list[Word] = []
    floor = 0.0
    for word in words:
        text = clean_text(word.text)
        if not text:
            continue
        start = max(word.start, floor)
        end = max(word.end, start)
        out.append(Word(start, end, text))
        floor = end
    return tuple(out)


def segment_from_words(words: Sequence[Word], speaker: str | None = None) -> Segment:
    if not words:
        raise ValueError("a segment needs at least one word")
    text = " ".join(w.text for w in words)
    return Segment(words[0].start, words[-1].end, text, tuple(words), speaker)


def split_words(words: Sequence[tuple[Word, str | None]], pause: float = 1.0) -> list[Segment]:
    """Segments from words with their speakers (vendor answers without utterances), split at
    speaker changes, pauses of ``pause`` seconds or more and sentence ends."""
    out: list[Segment] = []
    run: list[tuple[Word, str | None]] = []

    def close() -> None:
        if run:
            ws = monotonic_words(w for w, _ in run)
            if ws:
                out.append(segment_from_words(ws, run[0][1]))
            run.clear()

    for word, speaker in words:
        if run and (speaker != run[-1][1] or word.start - run[-1][0].end >= pause):
            close()
        run.append((word, speaker))
        if word.text.endswith((".", "?", "!")):
            close()
    close()
    return out


def merge_pair(first: Segment, second: Segment) -> Segment:
    """One segment spanning both; keeps the first one's speaker."""
    return Segment(
        min(first.start, second.start),
        max(first.end, second.end),
        clean_text(f"{first.text} {second.text}"),
        monotonic_words((*first.words, *second.words)),
        first.speaker,
    )


def _clip(segment: Segment, start: float) -> Segment:
    """Move ``segment``'s start to ``start``, dropping words that end before it."""
    words = tuple(
        Word(max(w.start, start), max(w.end, start), w.text) for w in segment.words if w.end > start
    )
    if segment.words and not words:
        return dataclasses.replace(segment, start=start, end=start, text="", words=())
    if segment.words and len(words) != len(segment.words):
        return dataclasses.replace(segment_from_words(words, segment.speaker), start=start)
    return dataclasses.replace(segment, start=start, end=max(segment.end, start), words=words)


def _is_fragment(segment: Segment, min_duration: float, min_words: int) -> bool:
    n_words = len(segment.words) or len(segment.text.split())
    return segment.end - segment.start < min_duration or n_words < min_words


def normalize_segments(
    segments: Iterable[Segment],
    *,
    min_duration: float = 0.3,
    min_words: int = 1,
    max_gap: float = 1.0,
) -> list[Segment]:
    """Clean, sort, de-overlap and merge fragments.

    - text whitespace is collapsed; segments without text are dropped; words made monotonic;
    - segments are sorted by start; one that starts before the previous one ends is clipped to
      start there (an exact repeat of the previous text is dropped);
    - a fragment (shorter than ``min_duration`` seconds or with fewer than ``min_words`` words)
      joins the previous segment when both have the same speaker and the gap is at most
      ``max_gap`` seconds, else the next one under the same conditions.
    """
    cleaned: list[Segment] = []
    for seg in segments:
        text = clean_text(seg.text)
        if not text:
            continue
        words = monotonic_words(seg.words)
        start = min(seg.start, words[0].start) if words else seg.start
        end = max(seg.end, words[-1].end, start) if words else max(seg.end, seg.start)
        cleaned.append(Segment(start, end, text, words, seg.speaker))
    cleaned.sort(key=lambda s: (s.start, s.end))

    ordered: list[Segment] = []
    for seg in cleaned:
        if ordered and seg.start < ordered[-1].end:
            if seg.text == ordered[-1].text:
                continue
            seg = _clip(seg, ordered[-1].end)
            if not seg.text:
                continue
        ordered.append(seg)

    merged: list[Segment] = []
    for seg in ordered:
        prev = merged[-1] if merged else None
        joinable = (
            prev is not None
            and prev.speaker == seg.speaker
            and seg.start - prev.end <= max_gap
            and (
                _is_fragment(seg, min_duration, min_words)
                or _is_fragment(prev, min_duration, min_words)
            )
        )
        if prev is not None and joinable:
            merged[-1] = merge_pair(prev, seg)
        else:
            merged.append(seg)
    return merged


# --- speakers ------------------------------------------------------------------------------


class SpeakingInterval(NamedTuple):
    """A participant speaking from ``start`` to ``end``; ``participant`` is a display name, or
    ``None``/blank when the platform gave none."""

    participant: str | None
    start: float
    end: float


_UNNAMED = ""


class _Timeline:
    """Per-participant merged, sorted intervals with an overlap query."""

    def __init__(self, intervals: Iterable[tuple[str | None, float, float]]) -> None:
        raw: dict[str, list[tuple[float, float]]] = {}
        for name, start, end in intervals:
            if end > start:
                raw.setdefault(clean_text(name or _UNNAMED), []).append((start, end))
        self.spans: dict[str, tuple[list[float], list[float]]] = {}
        for key, spans in raw.items():
            starts: list[float] = []
            ends: list[float] = []
            for start, end in sorted(spans):
                if ends and start <= ends[-1]:
                    ends[-1] = max(ends[-1], end)
                else:
                    starts.append(start)
                    ends.append(end)
            self.spans[key] = (starts, ends)

    def overlaps(self, start: float, end: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, (starts, ends) in self.spans.items():
            total = 0.0
            i = bisect.bisect_right(ends, start)
            while i < len(starts) and starts[i] < end:
                total += min(end, ends[i]) - max(start, starts[i])
                i += 1
            if total > 0:
                out[key] = total
        return out

    def best(self, start: float, end: float, tolerance: float) -> str | None:
        scores = self.overlaps(start, end)
        if not scores and tolerance > 0:
            scores = self.overlaps(start - tolerance, end + tolerance)
        if not scores:
            return None
        # Most overlap; ties go to the name that sorts first, so the result is deterministic.
        return min(scores, key=lambda k: (-scores[k], k))


def _fill_gaps(labels: list[str | None]) -> list[str | None]:
    """Words with no label take the previous word's label (or the next one's at the start)."""
    out = list(labels)
    for i in range(1, len(out)):
        if out[i] is None:
            out[i] = out[i - 1]
    for i in range(len(out) - 2, -1, -1):
        if out[i] is None:
            out[i] = out[i + 1]
    return out


def _smooth(labels: list[str | None], min_run: int) -> list[str | None]:
    """A run shorter than ``min_run`` words between two runs of one speaker joins them."""
    runs = [(key, len(list(group))) for key, group in groupby(labels)]
    out: list[str | None] = []
    for i, (key, length) in enumerate(runs):
        inner = 0 < i < len(runs) - 1
        if inner and length < min_run and runs[i - 1][0] == runs[i + 1][0]:
            key = runs[i - 1][0]
        out.extend([key] * length)
    return out


def attribute_speakers(
    segments: Iterable[Segment],
    intervals: Iterable[tuple[str | None, float, float]],
    *,
    tolerance: float = 0.5,
    min_run: int = 2,
) -> list[Segment]:
    """Label each word with the participant who spoke most during it, then regroup words into
    segments at speaker changes.

    A word that overlaps nobody takes the participant within ``tolerance`` seconds, else its
    neighbour's label. A segment without words is labelled as a whole. Where no interval is
    near, the segment keeps the speaker it had (e.g. a vendor's diarization). Finally, speakers
    that have no name (blank participants, diarization labels) are numbered "Speaker 1",
    "Speaker 2", ... in order of first appearance (see :func:`number_unknown_speakers`).
    """
    timeline = _Timeline(intervals)
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            label = timeline.best(seg.start, seg.end, tolerance)
            out.append(seg if label is None else dataclasses.replace(seg, speaker=label))
            continue
        labels = _fill_gaps([timeline.best(w.start, w.end, tolerance) for w in seg.words])
        labels = _smooth(labels, min_run)
        if len(set(labels)) == 1:
            label = labels[0]
            out.append(seg if label is None else dataclasses.replace(seg, speaker=label))
            continue
        index = 0
        for key, group in groupby(labels):
            n = len(list(group))
            words = seg.words[index : index + n]
            index += n
            out.append(segment_from_words(words, seg.speaker if key is None else key))
    named = {key for key in timeline.spans if key != _UNNAMED}
    return number_unknown_speakers(out, named)


def number_unknown_speakers(
    segments: Sequence[Segment], known: Iterable[str] = ()
) -> list[Segment]:
    """Replace every speaker label that is not a ``known`` name (blank participants, raw
    diarization labels) with "Speaker N", numbered in order of first appearance. Segments
    without a speaker stay without one."""
    names = set(known)
    mapping: dict[str, str] = {}
    taken = names.copy()
    out: list[Segment] = []
    for seg in segments:
        if seg.speaker is None or seg.speaker in names:
            out.append(seg)
            continue
        if seg.speaker not in mapping:
            n = len(mapping) + 1
            while f"Speaker {n}" in taken:
                n += 1
            mapping[seg.speaker] = f"Speaker {n}"
            taken.add(mapping[seg.speaker])
        out.append(dataclasses.replace(seg, speaker=mapping[seg.speaker]))
    return out


def speakers_in_order(segments: Iterable[Segment]) -> list[str]:
    """Distinct speakers in order of first appearance."""
    seen: dict[str, None] = {}
    for seg in segments:
        if seg.speaker is not None:
            seen.setdefault(seg.speaker, None)
    return list(seen)


def relabel(segments: Iterable[Segment], mapping: Mapping[str, str]) -> list[Segment]:
    """Rename speakers (e.g. after a user edits names); unmapped labels are kept."""
    return [
        dataclasses.replace(s, speaker=mapping.get(s.speaker, s.speaker)) if s.speaker else s
        for s in segments
    ]

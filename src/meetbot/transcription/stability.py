"""Pure decisions for live transcription: which decoded segments are final, where to cut.

faster-whisper has no streaming API, so :class:`~meetbot.transcription.streaming.LiveTranscriber`
re-decodes an open window of recent audio. Each decode is a *hypothesis*; its last words change
as more audio arrives. A segment is committed (final, emitted once) when it is *stable*:

- it ended at least ``commit_lag`` seconds before the window end (the speaker moved on or went
  quiet, so more audio will not change it), or
- it is not the window's last segment and the previous decode had the same text at the same
  place (local agreement of two consecutive decodes).

Only a prefix of the window is committed, so segments are emitted in order. When the window
grows past ``max_window`` without a commit (a long run of speech without pauses), the words that
ended ``commit_lag`` before the window end are committed anyway, bounding both latency and the
cost of each decode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from meetbot.contract.models import Segment, Word
from meetbot.transcription.segments import segment_from_words
from meetbot.transcription.wer import normalize_words


@dataclass(frozen=True, slots=True)
class LivePolicy:
    """Latency/accuracy knobs. Latency of a committed segment ≈ ``min(commit_lag, interval x
    2)`` after it ends, plus one decode. Longer ``commit_lag`` gives Whisper more right context
    (fewer errors at segment ends) but later results and longer windows to re-decode."""

    interval: float = 1.0
    """Seconds of new audio between decodes. tiny.en keeps up at 1 s on 2 cores, base at 2 s."""
    commit_lag: float = 2.0
    max_window: float = 20.0
    """Keep below Whisper's 30 s context: longer windows are decoded in two passes."""
    agree_tolerance: float = 0.3
    """Seconds by which a segment's start and end may move between two agreeing decodes."""
    adaptive: bool = True
    """Stretch the interval to 1.25 x the last decode's wall time when decoding falls behind."""

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.commit_lag < 0 or self.max_window <= self.commit_lag:
            raise ValueError("need interval > 0, commit_lag >= 0 and max_window > commit_lag")


@dataclass(frozen=True, slots=True)
class Decision:
    commit: tuple[Segment, ...]
    """Final segments, in order; emit them now."""
    pending: tuple[Segment, ...]
    """The rest of the hypothesis (show as partial results; compared with the next decode)."""
    committed_until: float
    """Words that end (by their midpoint) before this time were already emitted."""
    trim_to: float
    """New window start: audio before it will not be decoded again."""


def drop_before(segments: Sequence[Segment], t: float, *, epsilon: float = 0.05) -> list[Segment]:
    """Remove what lies before ``t``: words whose midpoint is earlier, and segments without
    words that end by ``t + epsilon``; nothing kept starts before ``t``. Decodes overlap the
    committed tail; this drops it."""
    out: list[Segment] = []
    for seg in segments:
        if seg.words:
            # A kept word may start a little before t (the window starts before the cut).
            words = tuple(
                Word(max(w.start, t), w.end, w.text)
                for w in seg.words
                if (w.start + w.end) / 2 >= t
            )
            if len(words) == len(seg.words):
                out.append(dataclasses.replace(seg, start=max(seg.start, t), words=words))
            elif words:
                out.append(segment_from_words(words, seg.speaker))
        elif seg.end > t + epsilon:
            out.append(dataclasses.replace(seg, start=max(seg.start, t)))
    return out


_TRIM_MARGIN = 0.2
"""Seconds of committed audio kept before the cut, so a late word time does not clip the next
word's onset; :func:`drop_before` removes the re-decoded committed tail."""


def end_of(seg: Segment) -> float:
    """Where speech in ``seg`` ends: its last word's end (Whisper's segment end can overshoot)."""
    return seg.words[-1].end if seg.words else seg.end


def _key(seg: Segment) -> tuple[str, ...]:
    return tuple(normalize_words(seg.text))


def agrees(seg: Segment, previous: Sequence[Segment], tolerance: float) -> bool:
    key = _key(seg)
    return any(
        _key(p) == key
        and abs(p.start - seg.start) <= tolerance
        and abs(p.end - seg.end) <= tolerance
        for p in previous
    )


def _forced(seg: Segment, cutoff: float) -> tuple[Segment | None, Segment | None]:
    """Split ``seg`` at ``cutoff``: the words that ended before it, and the rest."""
    done = tuple(w for w in seg.words if w.end <= cutoff)
    rest = seg.words[len(done) :]
    head = segment_from_words(done, seg.speaker) if done else None
    tail = segment_from_words(rest, seg.speaker) if rest else None
    return head, tail


def decide(
    decoded: Sequence[Segment],
    previous: Sequence[Segment],
    *,
    window_start: float,
    window_end: float,
    committed_until: float,
    policy: LivePolicy,
) -> Decision:
    """Split a fresh decode of ``[window_start, window_end)`` into committed and pending parts.

    ``decoded`` has absolute times; ``previous`` is the last decision's ``pending``.
    """
    current = drop_before(sorted(decoded, key=lambda s: s.start), committed_until)
    cutoff = window_end - policy.commit_lag
    commit: list[Segment] = []
    for i, seg in enumerate(current):
        is_last = i == len(current) - 1
        settled = end_of(seg) <= cutoff
        agreed = not is_last and agrees(seg, previous, policy.agree_tolerance)
        if not (settled or agreed):
            break
        commit.append(seg)
    pending = current[len(commit) :]

    if not commit and pending and window_end - window_start > policy.max_window:
        if len(pending) > 1:
            commit, pending = pending[:-1], pending[-1:]
        else:
            head, tail = _forced(pending[0], cutoff)
            if head is not None:
                commit, pending = [head], [tail] if tail is not None else []

    if commit:
        until = max(committed_until, end_of(commit[-1]))
        trim = min([until - _TRIM_MARGIN, *(p.start - _TRIM_MARGIN for p in pending)])
    else:
        until = committed_until
        trim = window_start if pending else max(window_start, cutoff)
    return Decision(tuple(commit), tuple(pending), until, max(window_start, trim))


def finalize(decoded: Sequence[Segment], *, committed_until: float, window_end: float) -> Decision:
    """Commit everything in the last decode (the call has ended)."""
    current = drop_before(sorted(decoded, key=lambda s: s.start), committed_until)
    until = max([committed_until, *(end_of(s) for s in current)])
    return Decision(tuple(current), (), until, window_end)

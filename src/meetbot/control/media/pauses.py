"""The gaps ``pause_recording`` leaves in a recording, and how the transcript marks them (pure).

While paused the runner writes silence, so nothing is transcribed there; the transcript says
so with one segment per gap, :data:`GAP_TEXT`, no speaker and no words, from the offset of
the ``recording_paused`` observation to that of the next ``recording_resumed`` (or the end of
the recording). A segment a decoder made inside a gap anyway (a hallucination on silence) is
dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from meetbot.contract.models import Segment
from meetbot.contract.reports import BaseReport, RecordingPaused, RecordingResumed

PAUSE_TYPES: Final = ("recording_paused", "recording_resumed")
GAP_TEXT: Final = "[recording paused]"


def pause_gaps(observations: Sequence[BaseReport], total_s: float) -> list[tuple[float, float]]:
    """``(start, end)`` offsets of each pause, in order; an open pause ends at ``total_s``."""
    gaps: list[tuple[float, float]] = []
    since: float | None = None
    for report in observations:
        if isinstance(report, RecordingPaused) and since is None:
            since = report.offset_s
        elif isinstance(report, RecordingResumed) and since is not None:
            if report.offset_s > since:
                gaps.append((since, report.offset_s))
            since = None
    if since is not None and total_s > since:
        gaps.append((since, total_s))
    return gaps


def mark_gaps(segments: Sequence[Segment], gaps: Sequence[tuple[float, float]]) -> list[Segment]:
    """``segments`` without those inside a gap, with one :data:`GAP_TEXT` segment per gap, in
    time order."""
    kept = [s for s in segments if not any(a <= s.start and s.end <= b for a, b in gaps)]
    marks = [Segment(start=round(a, 3), end=round(b, 3), text=GAP_TEXT) for a, b in gaps]
    return sorted([*kept, *marks], key=lambda s: (s.start, s.end))

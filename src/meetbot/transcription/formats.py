"""Render a transcript (a list of :class:`~meetbot.contract.models.Segment`) as txt, SRT,
WebVTT or JSON.

Times are clamped at zero and rounded to the millisecond once, so a cue never reads
``00:00:60,000``. Text is whitespace-collapsed: a blank line inside a cue would end it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Literal

from meetbot.contract.models import Segment

Format = Literal["txt", "srt", "vtt", "json"]
FORMATS: Final[tuple[str, ...]] = ("txt", "srt", "vtt", "json")
CONTENT_TYPES: Final[dict[str, str]] = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
}


def _millis(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _hms(ms: int) -> tuple[int, int, int, int]:
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return hours, minutes, seconds, ms


def clock(seconds: float) -> str:
    """``hh:mm:ss`` (truncated to the second), as in the txt format."""
    h, m, s, _ = _hms(_millis(seconds))
    return f"{h:02d}:{m:02d}:{s:02d}"


def srt_time(seconds: float) -> str:
    """``hh:mm:ss,mmm``."""
    h, m, s, ms = _hms(_millis(seconds))
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def vtt_time(seconds: float) -> str:
    """``hh:mm:ss.mmm``."""
    h, m, s, ms = _hms(_millis(seconds))
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cue_times(seg: Segment) -> tuple[float, float]:
    """A cue must not end before it starts."""
    return seg.start, max(seg.end, seg.start)


def _spoken(segments: Iterable[Segment]) -> list[Segment]:
    return [s for s in segments if _one_line(s.text)]


def to_txt(segments: Sequence[Segment]) -> str:
    """One line per segment: ``[hh:mm:ss] Speaker: text`` (no ``Speaker:`` when unknown)."""
    lines = []
    for seg in _spoken(segments):
        who = f"{_one_line(seg.speaker)}: " if seg.speaker else ""
        lines.append(f"[{clock(seg.start)}] {who}{_one_line(seg.text)}")
    return "".join(f"{line}\n" for line in lines)


def _srt_text(text: str) -> str:
    # SRT has no escaping; an arrow in the text could be read as a timing line by lax parsers.
    return _one_line(text).replace("-->", "->")


def to_srt(segments: Sequence[Segment]) -> str:
    """SubRip: numbered from 1, ``hh:mm:ss,mmm --> hh:mm:ss,mmm``, blank line between cues."""
    cues = []
    for index, seg in enumerate(_spoken(segments), start=1):
        start, end = _cue_times(seg)
        who = f"{_srt_text(seg.speaker)}: " if seg.speaker else ""
        cues.append(f"{index}\n{srt_time(start)} --> {srt_time(end)}\n{who}{_srt_text(seg.text)}\n")
    return "\n".join(cues)


def vtt_escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` (which also breaks any ``-->`` in the text)."""
    return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT: ``WEBVTT`` header, numbered cues, ``hh:mm:ss.mmm`` times, speaker as a voice span
    (``<v Name>text``)."""
    parts = ["WEBVTT\n"]
    for index, seg in enumerate(_spoken(segments), start=1):
        start, end = _cue_times(seg)
        voice = f"<v {vtt_escape(seg.speaker)}>" if seg.speaker else ""
        parts.append(
            f"{index}\n{vtt_time(start)} --> {vtt_time(end)}\n{voice}{vtt_escape(seg.text)}\n"
        )
    return "\n".join(parts)


def _seconds(value: float) -> float:
    return round(max(0.0, value), 3)


def to_json(segments: Sequence[Segment]) -> list[dict[str, Any]]:
    """JSON-able dicts: ``start``, ``end``, ``text``, ``speaker``, ``words: [{start,end,text}]``."""
    return [
        {
            "start": _seconds(seg.start),
            "end": _seconds(seg.end),
            "text": _one_line(seg.text),
            "speaker": seg.speaker,
            "words": [
                {"start": _seconds(w.start), "end": _seconds(w.end), "text": w.text}
                for w in seg.words
            ],
        }
        for seg in segments
    ]


_TEXT_RENDERERS: Final[dict[str, Callable[[Sequence[Segment]], str]]] = {
    "txt": to_txt,
    "srt": to_srt,
    "vtt": to_vtt,
}


def render(segments: Sequence[Segment], fmt: str) -> str | list[dict[str, Any]]:
    """Dispatch on a format name from :data:`FORMATS`."""
    if fmt == "json":
        return to_json(segments)
    try:
        return _TEXT_RENDERERS[fmt](segments)
    except KeyError:
        raise ValueError(f"unknown transcript format {fmt!r}; expected one of {FORMATS}") from None

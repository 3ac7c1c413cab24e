"""Pure derivations from a bot's observations: participants, speaking intervals, time origin.

Observation times are the runner's wall clock. The recording's timeline is seconds of audio
since the capture started; :func:`recording_origin` maps one onto the other, so speaking
intervals can be matched to transcript words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from meetbot.contract.reports import (
    AudioChunk,
    BaseReport,
    Caption,
    ParticipantJoined,
    ParticipantLeft,
    Speaking,
)
from meetbot.timefmt import iso
from meetbot.transcription.segments import SpeakingInterval

OBSERVATION_TYPES = ("participant_joined", "participant_left", "speaking")
"""The observation types :func:`participants` reads."""
TIMELINE_TYPES = ("audio_chunk", "speaking", "caption")
"""The observation types :func:`speaker_intervals` and :func:`recording_origin` read."""
CAPTION_SECONDS_PER_WORD = 0.35
"""A caption is assumed to cover this much speech per word, ending when it was seen."""


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    name: str
    first_join: datetime | None
    last_leave: datetime | None
    speaking_seconds: float

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "first_join": iso(self.first_join) if self.first_join else None,
            "last_leave": iso(self.last_leave) if self.last_leave else None,
            "speaking_time_s": round(self.speaking_seconds, 3),
        }


@dataclass
class _Acc:
    name: str
    order: int
    first_join: datetime | None = None
    last_leave: datetime | None = None
    present: bool = False
    speaking_since: datetime | None = None
    speaking: float = 0.0

    def stop_speaking(self, at: datetime) -> None:
        if self.speaking_since is not None:
            self.speaking += max(0.0, (at - self.speaking_since).total_seconds())
            self.speaking_since = None


def participants(
    observations: Iterable[BaseReport], *, until: datetime | None = None
) -> list[Participant]:
    """Every participant seen, in order of first appearance.

    ``first_join``: the first ``participant_joined``; ``last_leave``: the last
    ``participant_left`` unless they joined again after it (then ``None``: still there when the
    observations end). Speaking time sums ``speaking`` on→off intervals; an interval still open
    closes at the participant's leave, else at ``until`` (default: the last observation's time).
    """
    acc: dict[str, _Acc] = {}
    last: datetime | None = None

    def get(pid: str, name: str) -> _Acc:
        if pid not in acc:
            acc[pid] = _Acc(name=name, order=len(acc))
        entry = acc[pid]
        entry.name = name or entry.name
        return entry

    for report in observations:
        last = report.at if last is None else max(last, report.at)
        match report:
            case ParticipantJoined(participant_id=pid, name=name, at=at):
                entry = get(pid, name)
                entry.first_join = entry.first_join or at
                entry.present = True
            case ParticipantLeft(participant_id=pid, name=name, at=at):
                entry = get(pid, name)
                entry.stop_speaking(at)
                entry.last_leave = at
                entry.present = False
            case Speaking(participant_id=pid, name=name, speaking=on, at=at):
                entry = get(pid, name)
                if on and entry.speaking_since is None:
                    entry.speaking_since = at
                elif not on:
                    entry.stop_speaking(at)
    end = until or last
    out: list[Participant] = []
    for pid, entry in sorted(acc.items(), key=lambda item: item[1].order):
        if end is not None:
            entry.stop_speaking(max(end, entry.speaking_since or end))
        leave = None if entry.present else entry.last_leave
        out.append(Participant(pid, entry.name, entry.first_join, leave, entry.speaking))
    return out


def recording_origin(
    observations: Iterable[BaseReport], fallback: datetime | None = None
) -> datetime | None:
    """The wall time of the recording's second 0.

    A runner reports a chunk after writing it, so ``at - offset_s - duration_s`` of every chunk
    is at or after the true start; the smallest is the closest. ``fallback`` (e.g. the time the
    bot entered ``recording``) when no chunk was reported.
    """
    starts = [
        r.at - timedelta(seconds=r.offset_s + r.duration_s)
        for r in observations
        if isinstance(r, AudioChunk)
    ]
    return min(starts) if starts else fallback


def speaker_intervals(
    observations: Sequence[BaseReport], origin: datetime, *, until: datetime | None = None
) -> list[SpeakingInterval]:
    """Who spoke when, in seconds on the recording's timeline.

    From ``speaking`` observations (an open interval ends at ``until``, default the last
    observation). Platforms without speaking indicators may report captions: only when no
    ``speaking`` observation exists, each caption becomes an interval ending when it was seen,
    :data:`CAPTION_SECONDS_PER_WORD` per word long.
    """

    def seconds(at: datetime) -> float:
        return (at - origin).total_seconds()

    speaking = [r for r in observations if isinstance(r, Speaking)]
    if not speaking:
        return [
            SpeakingInterval(
                c.speaker,
                seconds(c.at) - CAPTION_SECONDS_PER_WORD * max(1, len(c.text.split())),
                seconds(c.at),
            )
            for c in observations
            if isinstance(c, Caption)
        ]
    end = until or max(r.at for r in observations)
    open_since: dict[str, tuple[str, datetime]] = {}
    out: list[SpeakingInterval] = []
    for report in speaking:
        pid = report.participant_id
        if report.speaking:
            open_since.setdefault(pid, (report.name, report.at))
        elif pid in open_since:
            name, since = open_since.pop(pid)
            out.append(SpeakingInterval(name or report.name, seconds(since), seconds(report.at)))
    for name, since in open_since.values():
        out.append(SpeakingInterval(name, seconds(since), seconds(max(end, since))))
    return sorted(out, key=lambda i: (i.start, i.end))

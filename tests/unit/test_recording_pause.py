"""Pause and resume: the lifecycle step, the wish in the runner's answers, the recorder's
silence, the runner's reports and the gap the transcript marks (all pure or in memory)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pytest

from meetbot.contract import lifecycle as lc
from meetbot.contract.lifecycle import BotState, Status, SubStatus
from meetbot.contract.models import Segment
from meetbot.contract.reports import (
    AudioChunk,
    Command,
    Commands,
    RecordingPaused,
    RecordingResumed,
    Report,
)
from meetbot.control.media.pauses import GAP_TEXT, mark_gaps, pause_gaps
from meetbot.runner.capture import AudioRecorder
from meetbot.runner.pause import RecordingPause
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import MemoryStorage

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_pause_and_resume_are_recording_steps_with_a_sub_status() -> None:
    recording = BotState(Status.RECORDING)
    paused = lc.advance(recording, lc.Pause()).new
    assert (paused.status, paused.sub_status) == (Status.RECORDING, SubStatus.PAUSED)
    resumed = lc.advance(paused, lc.Resume()).new
    assert (resumed.status, resumed.sub_status) == (Status.RECORDING, None)
    with pytest.raises(lc.IllegalTransition):
        lc.advance(paused, lc.Pause())
    with pytest.raises(lc.IllegalTransition):
        lc.advance(recording, lc.Resume())
    with pytest.raises(lc.IllegalTransition):
        lc.advance(BotState(Status.JOINING), lc.Pause())
    left = lc.advance(paused, lc.Leave(lc.StopReason.MANUALLY_STOPPED)).new
    assert (left.status, left.sub_status) == (Status.LEAVING, None)


def test_the_paused_wish_comes_as_a_command_after_the_others() -> None:
    assert Commands().all() == []
    assert Commands(paused=True).all() == [Command(type="pause")]
    wish = Commands(commands=[Command(type="leave")], paused=False)
    assert wish.all() == [Command(type="leave"), Command(type="resume")]
    assert Commands.model_validate_json('{"commands": []}').paused is None  # older answers


class _Audio:
    def __init__(self) -> None:
        self.paused = False
        self.recorded_seconds = 12.5


class _Video:
    paused = False


def test_the_runner_reports_each_change_once_with_the_recordings_offset() -> None:
    audio, video, reports = _Audio(), _Video(), list[Report]()
    pause = RecordingPause(audio, lambda: video, reports.append, FixedClock(T0))
    pause.set(False)  # not paused: nothing happens
    pause.set(True)
    pause.set(True)  # the same wish in the next answer
    assert (audio.paused, video.paused) == (True, True)
    audio.recorded_seconds = 20.0
    pause.set(False)
    assert (audio.paused, video.paused) == (False, False)
    assert reports == [
        RecordingPaused(at=T0, offset_s=12.5),
        RecordingResumed(at=T0, offset_s=20.0),
    ]


def _tone(seconds: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2").tobytes()


async def test_a_paused_recorder_keeps_silence_of_the_same_length() -> None:
    storage, emitted = MemoryStorage(), list[Report]()
    recorder = AudioRecorder(storage, "b1", emitted.append, FixedClock(T0), group_pieces=2)
    writer = asyncio.create_task(recorder.run())
    recorder.start()
    recorder.feed(_tone(0.25))
    recorder.feed(_tone(0.25))
    speech = recorder.speech_seconds
    recorder.paused = True
    recorder.feed(_tone(0.25))
    recorder.feed(_tone(0.25))
    assert recorder.speech_seconds == speech  # nothing measured while paused
    recorder.paused = False
    recorder.feed(_tone(0.25))
    recorder.feed(_tone(0.25))
    await recorder.close()
    await writer
    chunks = [c for c in emitted if isinstance(c, AudioChunk)]
    assert [c.offset_s for c in chunks] == [0.0, 0.5, 1.0]  # the clock ran on
    middle = storage.objects[chunks[1].key]
    assert middle == bytes(len(middle))
    assert storage.objects[chunks[2].key] == storage.objects[chunks[0].key]


def _paused(offset: float) -> RecordingPaused:
    return RecordingPaused(at=T0, offset_s=offset)


def _resumed(offset: float) -> RecordingResumed:
    return RecordingResumed(at=T0, offset_s=offset)


@pytest.mark.parametrize(
    ("observations", "gaps"),
    [
        ([], []),
        ([_paused(10), _resumed(25)], [(10, 25)]),
        ([_paused(10), _paused(12), _resumed(25), _resumed(30)], [(10, 25)]),
        ([_paused(10), _resumed(25), _paused(50)], [(10, 25), (50, 60)]),
        ([_resumed(5)], []),
        ([_paused(60)], []),  # paused as the recording ended: no gap
    ],
)
def test_pause_gaps(observations: list[Report], gaps: list[tuple[float, float]]) -> None:
    assert pause_gaps(observations, total_s=60) == gaps


def test_the_transcript_marks_each_gap_and_drops_what_was_decoded_inside() -> None:
    segments = [
        Segment(0, 4, "before", speaker="Ann"),
        Segment(12, 13, "thank you."),  # decoded from silence
        Segment(26, 30, "after", speaker="Bob"),
    ]
    marked = mark_gaps(segments, [(10.0, 25.0)])
    assert [(s.start, s.end, s.text, s.speaker) for s in marked] == [
        (0, 4, "before", "Ann"),
        (10.0, 25.0, GAP_TEXT, None),
        (26, 30, "after", "Bob"),
    ]

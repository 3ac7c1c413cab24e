"""The live copy of the mixed audio on the runner (issue 16 §1): taken with a short holdback of
its own, in pieces with their place on the recording's clock; a run later than that is missing
from the live copy but still in the recording."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from meetbot.contract.live_audio import LIVE_HOLDBACK, PIECE_SECONDS
from meetbot.contract.reports import AudioChunk, Report
from meetbot.runner.capture import AudioRecorder
from meetbot.runner.live_audio import QUEUE_SECONDS, LiveSlicer
from meetbot.runner.timeline import HOLDBACK
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import MemoryStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RATE = 16_000


def tone(seconds: float, level: float = 0.3) -> bytes:
    n = int(RATE * seconds)
    return (level * np.sin(np.arange(n) * 0.17) * 32767).astype("<i2").tobytes()


def recorder(
    tmp_path: Path, clock: FixedClock, reports: list[Report], storage: MemoryStorage | None = None
) -> AudioRecorder:
    storage = storage or MemoryStorage()
    rec = AudioRecorder(storage, "b1", reports.append, clock, spool_dir=tmp_path)
    rec.live = LiveSlicer(queue_seconds=100.0)
    rec.start()
    return rec


def joined(pieces: list[tuple[int, bytes]]) -> np.ndarray:
    """The pieces laid out on the recording's clock (checking they follow each other)."""
    position = pieces[0][0]
    for offset, pcm in pieces:
        assert offset == position
        position += len(pcm) // 2
    return np.frombuffer(b"".join(pcm for _, pcm in pieces), dtype="<i2")


async def test_the_live_copy_trails_real_time_by_its_own_holdback_only(tmp_path: Path) -> None:
    clock, reports = FixedClock(T0), list[Report]()
    rec = recorder(tmp_path, clock, reports)
    assert rec.live is not None
    t0 = T0.timestamp()
    rec.place("r1:1", 48_000, t0 + 1.0, tone(0.5))  # said at 1.0 s, on time
    clock.advance(1.5 + LIVE_HOLDBACK)
    rec.take_live()  # what the live ticker does every 50 ms
    rec.take_timeline()
    assert rec.recorded_seconds == 0.0  # the recording still holds back (2 s)
    pieces = list(rec.live.pieces)
    samples = joined(pieces)
    assert pieces[0][0] == 0
    assert len(samples) == round(1.5 * RATE)  # all of it up to now - the live holdback
    assert all(len(pcm) <= PIECE_SECONDS * RATE * 2 for _, pcm in pieces)
    assert not samples[:RATE].any()
    assert np.count_nonzero(samples[RATE:]) > RATE // 3  # the speech, where it was said
    await rec.close(timeout=5)


async def test_a_run_later_than_the_live_holdback_is_in_the_recording_only(
    tmp_path: Path,
) -> None:
    clock, reports, storage = FixedClock(T0), list[Report](), MemoryStorage()
    rec = recorder(tmp_path, clock, reports, storage)
    assert rec.live is not None
    writer = asyncio.create_task(rec.run())
    t0 = T0.timestamp()
    rec.place("r1:1", 0, t0, tone(0.02))  # the stream's anchor: on time
    clock.advance(2.0)
    rec.take_live()  # the live copy is given out to 2.0 - 0.2 = 1.8 s
    rec.place("r1:1", 48_000, t0 + 1.0, tone(0.5))  # said at 1.0 s, handed over 1 s late
    clock.advance(3.0)
    rec.take_live()
    await rec.close(timeout=5)
    await writer

    live = joined(list(rec.live.pieces))
    assert rec.live.late_samples == RATE // 2
    assert not live[RATE // 50 :].any()  # the late speech is not in the live copy
    chunks = [r for r in reports if isinstance(r, AudioChunk)]
    stored = b"".join(storage.objects[c.key] for c in chunks)
    recorded = np.frombuffer(stored, dtype="<i2")
    assert rec.timeline is not None
    assert rec.timeline.late_samples == 0
    assert np.count_nonzero(recorded[RATE : RATE + RATE // 2]) > RATE // 3  # but recorded
    assert HOLDBACK > 1.0 > LIVE_HOLDBACK


async def test_the_webaudio_path_passes_pieces_on_as_they_come(tmp_path: Path) -> None:
    clock, reports = FixedClock(T0), list[Report]()
    rec = recorder(tmp_path, clock, reports)
    assert rec.live is not None
    rec.feed(tone(0.25))
    rec.feed(tone(0.25))
    assert [offset for offset, _ in rec.live.pieces] == [0, RATE // 4]
    rec.paused = True  # pause_recording: silence, in place
    rec.feed(tone(0.25))
    offset, pcm = rec.live.pieces[-1]
    assert offset == RATE // 2
    assert not any(pcm)
    await rec.close(timeout=5)


def test_the_slicer_keeps_the_newest_pieces_when_nothing_takes_them() -> None:
    slicer = LiveSlicer()
    kept = round(QUEUE_SECONDS / 0.25)
    for _ in range(kept + 3):
        slicer.feed(tone(0.25))
    assert len(slicer.pieces) == kept
    assert slicer.dropped_pieces == 3
    assert slicer.pieces[0][0] == 3 * RATE // 4  # the oldest went


def test_a_long_take_is_cut_into_pieces_of_at_most_a_quarter_second() -> None:
    slicer = LiveSlicer(queue_seconds=100.0)
    slicer.start(T0.timestamp())
    slicer.place("r1:1", 0, T0.timestamp(), tone(1.0))
    slicer.take(T0.timestamp() + 1.0 + LIVE_HOLDBACK)
    assert [len(pcm) // 2 for _, pcm in slicer.pieces] == [RATE // 4] * 4
    assert [offset for offset, _ in slicer.pieces] == [0, 4000, 8000, 12000]
    assert pytest.approx(slicer.late_samples) == 0


async def test_while_paused_the_rtp_paths_live_copy_is_silence_in_place(tmp_path: Path) -> None:
    clock, reports = FixedClock(T0), list[Report]()
    rec = recorder(tmp_path, clock, reports)
    assert rec.live is not None
    rec.place("r1:1", 0, T0.timestamp(), tone(1.0))
    rec.paused = True
    clock.advance(1.0 + LIVE_HOLDBACK)
    rec.take_live()
    samples = joined(list(rec.live.pieces))
    assert len(samples) == RATE
    assert not samples.any()
    await rec.close(timeout=5)

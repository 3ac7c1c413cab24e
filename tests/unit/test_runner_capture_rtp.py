"""The recorder on the RTP path: runs placed by timestamp become chunks aligned with the wall
clock, the speech where it was said and silence around it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from meetbot.contract.reports import AudioChunk, Report
from meetbot.runner.capture import AudioRecorder, speech_seconds
from meetbot.runner.timeline import HOLDBACK
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import MemoryStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RATE = 16_000


def tone(seconds: float, level: float = 0.3) -> bytes:
    n = int(RATE * seconds)
    return (level * np.sin(np.arange(n) * 0.17) * 32767).astype("<i2").tobytes()


async def test_runs_placed_by_timestamp_are_recorded_where_they_were_said(
    tmp_path: Path,
) -> None:
    storage, reports = MemoryStorage(), list[Report]()
    clock = FixedClock(T0)
    rec = AudioRecorder(storage, "b1", reports.append, clock, group_pieces=4, spool_dir=tmp_path)
    rec.start()
    writer = asyncio.create_task(rec.run())
    t0 = T0.timestamp()
    # 0.5 s of speech said at 1.0 s, then (after a 1 s pause, DTX) 0.5 s more said at 2.5 s,
    # delivered 1.5 s late by a starved renderer
    rec.place("r1:42", 48_000, t0 + 1.0, tone(0.5))
    rec.place("r1:42", 48_000 + 72_000, t0 + 4.0, tone(0.5))
    clock.advance(5.0)
    await rec.close(timeout=5)
    await writer

    assert rec.timeline is not None
    assert rec.timeline.late_samples == 0
    chunks = [r for r in reports if isinstance(r, AudioChunk)]
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert sum(c.duration_s for c in chunks) == pytest.approx(5.0)  # the wall time, all of it
    pcm = b"".join(storage.objects[c.key] for c in chunks)
    samples = np.frombuffer(pcm, dtype="<i2")
    assert not samples[:RATE].any()
    assert samples[RATE : RATE + RATE // 2].any()
    assert not samples[RATE * 3 // 2 : RATE * 5 // 2].any()  # the pause, in place
    assert samples[RATE * 5 // 2 : RATE * 3].any()
    assert not samples[RATE * 3 :].any()
    assert speech_seconds(pcm) == pytest.approx(1.0, abs=0.05)
    assert rec.lag_seconds <= 0.0


async def test_the_rtp_path_trails_real_time_by_the_holdback_only(tmp_path: Path) -> None:
    storage, reports = MemoryStorage(), list[Report]()
    clock = FixedClock(T0)
    rec = AudioRecorder(storage, "b1", reports.append, clock, spool_dir=tmp_path)
    rec.start()
    rec.place("r1:1", 0, T0.timestamp(), tone(0.02))
    clock.advance(10.0)
    rec.take_timeline()  # what the writer's ticker does every 250 ms
    assert rec.recorded_seconds == pytest.approx(10.0 - HOLDBACK)
    await rec.close(timeout=5)


async def test_a_late_tick_still_cuts_chunk_files_of_the_usual_length(tmp_path: Path) -> None:
    storage, reports = MemoryStorage(), list[Report]()
    clock = FixedClock(T0)
    rec = AudioRecorder(storage, "b1", reports.append, clock, spool_dir=tmp_path)
    rec.start()
    writer = asyncio.create_task(rec.run())
    rec.place("r1:1", 0, T0.timestamp(), tone(0.02))
    clock.advance(9.0 + HOLDBACK)
    rec.take_timeline()  # a starved runner: 9 s at once
    await rec.close(timeout=5)
    await writer
    chunks = [r for r in reports if isinstance(r, AudioChunk)]
    assert [c.duration_s for c in chunks] == [1.5] * 7 + [pytest.approx(HOLDBACK - 1.5)]


async def test_an_empty_room_is_recorded_as_silence_from_the_start(tmp_path: Path) -> None:
    storage, reports = MemoryStorage(), list[Report]()
    clock = FixedClock(T0)
    rec = AudioRecorder(storage, "b1", reports.append, clock, spool_dir=tmp_path)
    rec.start()
    rec.place("", 0, T0.timestamp(), b"")  # the page's capture started: nobody has spoken
    clock.advance(4.0 + HOLDBACK)
    rec.take_timeline()
    assert rec.recorded_seconds == pytest.approx(4.0)
    await rec.close(timeout=5)

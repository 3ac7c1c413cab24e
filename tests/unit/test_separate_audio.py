"""Participants' own audio (``?audio=separate``): the runner keeps each stream apart before the
mix, names its owner, stores its chunks with sound; the stream's binary frame format."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from meetbot.client import ParticipantAudio
from meetbot.contract.reports import AudioChunk, ParticipantAudioChunk, Report
from meetbot.control.service.stream import parse_separate_frame, separate_frame
from meetbot.runner.capture import AudioRecorder
from meetbot.runner.separate_audio import SeparateTracks, has_sound, owner_of
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import MemoryStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RATE = 16_000


def tone(seconds: float, level: float = 0.3, step: float = 0.17) -> bytes:
    n = int(RATE * seconds)
    return (level * np.sin(np.arange(n) * step) * 32767).astype("<i2").tobytes()


def test_a_separate_frame_says_whose_and_when() -> None:
    pcm = tone(0.1)
    frame = separate_frame("1234567", 12.345, pcm)
    assert frame[:2] == (7).to_bytes(2, "big")
    assert frame[2:9] == b"1234567"
    assert int.from_bytes(frame[9:13], "big") == 12345
    assert frame[13:] == pcm
    assert parse_separate_frame(frame) == ("1234567", 12.345, pcm)
    assert parse_separate_frame(separate_frame("Zoë", 0.0, b"")) == ("Zoë", 0.0, b"")


def test_owners_come_from_the_ssrc_of_the_stream_key() -> None:
    owners = {42: "p1"}
    assert owner_of("r1:42", owners) == "p1"
    assert owner_of("r2:43", owners) == "r2:43"  # nobody says whose: the key itself
    assert owner_of("odd", owners) == "odd"
    assert not has_sound(bytes(3200))
    assert has_sound(tone(0.01))


async def test_each_participant_is_kept_apart_and_silence_is_not_stored(tmp_path: Path) -> None:
    storage, reports = MemoryStorage(), list[Report]()
    clock = FixedClock(T0)
    rec = AudioRecorder(storage, "b1", reports.append, clock, spool_dir=tmp_path)
    rec.separate = SeparateTracks(storage, "b1", reports.append, clock, spool_dir=tmp_path)
    rec.start()
    rec.separate.set_owners([(42, "ann"), (43, "bob")])
    writer = asyncio.create_task(rec.run())
    t0 = T0.timestamp()
    ann, bob = tone(1.0, step=0.17), tone(0.5, step=0.31)
    rec.place("r1:42", 48_000, t0 + 1.0, ann)  # Ann speaks from 1.0 s to 2.0 s
    rec.place("r2:43", 0, t0 + 3.0, bob)  # Bob from 3.0 s to 3.5 s
    clock.advance(6.0)
    await rec.close(timeout=5)
    await writer

    own = [r for r in reports if isinstance(r, ParticipantAudioChunk)]
    assert {c.participant_id for c in own} == {"ann", "bob"}
    assert [c.seq for c in own] == list(range(len(own)))
    for who, pcm, start in (("ann", ann, 1.0), ("bob", bob, 3.0)):
        chunks = sorted((c for c in own if c.participant_id == who), key=lambda c: c.offset_s)
        assert chunks[0].offset_s == pytest.approx(int(start))  # 1 s chunks on the mix's clock
        got = b"".join(storage.objects[c.key] for c in chunks)
        samples = np.frombuffer(got, dtype="<i2")
        lead = round((start - chunks[0].offset_s) * RATE)
        assert not samples[:lead].any()
        assert samples[lead : lead + len(pcm) // 2].tobytes() == pcm  # alone, not mixed
        assert all(c.key.startswith("bots/b1/participant_audio/") for c in chunks)
    assert sum(c.duration_s for c in own) <= 3.0  # only the seconds with sound: 2 + 1
    mixed = [r for r in reports if isinstance(r, AudioChunk)]
    assert sum(c.duration_s for c in mixed) == pytest.approx(6.0)  # the mix is unchanged


async def test_nothing_is_kept_while_paused(tmp_path: Path) -> None:
    storage, reports = MemoryStorage(), list[Report]()
    clock = FixedClock(T0)
    tracks = SeparateTracks(
        storage, "b1", reports.append, clock, paused=lambda: True, spool_dir=tmp_path
    )
    tracks.start(T0.timestamp())
    tracks.place("r1:1", 0, T0.timestamp(), tone(1.0))
    clock.advance(4.0)
    writer = asyncio.create_task(tracks.run())
    await tracks.close(timeout=5)
    await writer
    assert not [r for r in reports if isinstance(r, ParticipantAudioChunk)]


def test_the_sdk_reads_a_separate_frame_as_the_server_writes_it() -> None:
    pcm = tone(0.05)
    got = ParticipantAudio.parse(separate_frame("p-9", 3.5, pcm))
    assert (got.participant_id, got.offset_s, got.pcm) == ("p-9", 3.5, pcm)

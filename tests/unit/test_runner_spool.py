"""No audio (or video) lost to a storage outage: the runner's spool on local disk.

Storage is :class:`~meetbot.testing.fakes_runner.MemoryStorage` with an outage switch
(``down``); the recorders are the real ones. Until the spool, a chunk was dropped after 5
refused attempts (~4 s): these outages last until storage has refused far more than that.
"""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from harness.waiting import until
from meetbot.contract.media_format import Frame, unpack_frames, video_chunk_key
from meetbot.contract.reports import AudioChunk, MediaLost, Report
from meetbot.runner.capture import AudioRecorder
from meetbot.runner.spool import Spool
from meetbot.runner.video import VideoRecorder
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import MemoryStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 16_000 * 2  # one 1 s chunk of s16le (group_pieces=4)


def tone(seconds: float, level: float = 0.3) -> bytes:
    n = int(16_000 * seconds)
    return bytes((level * np.sin(np.arange(n) * 0.17) * 32767).astype("<i2").tobytes())


def recorder(
    storage: MemoryStorage, reports: list[Report], tmp_path: Path, *, spool_bytes: int = 10 * CHUNK
) -> AudioRecorder:
    rec = AudioRecorder(storage, "b1", reports.append, FixedClock(T0), group_pieces=4,
                        spool_bytes=spool_bytes, spool_dir=tmp_path)  # fmt: skip
    rec.spool.retry_max = 0.02  # retry fast: the test counts refusals, not seconds
    rec.spool.retry_start = 0.01
    rec.start()
    return rec


def feed_seconds(rec: AudioRecorder, seconds: int) -> None:
    for _ in range(4 * seconds):
        rec.feed(tone(0.25))


def chunks(reports: list[Report]) -> list[AudioChunk]:
    return [r for r in reports if isinstance(r, AudioChunk)]


async def test_chunks_wait_on_disk_through_an_outage_and_are_stored_then_reported_in_order(
    tmp_path: Path,
) -> None:
    storage = MemoryStorage()
    reports: list[Report] = []
    rec = recorder(storage, reports, tmp_path)
    writer = asyncio.create_task(rec.run())
    feed_seconds(rec, 2)
    await until(lambda: len(chunks(reports)) == 2, what="two chunks stored")
    storage.down = True
    feed_seconds(rec, 5)
    await until(lambda: storage.refused >= 20, what="storage to refuse 20 puts")
    assert len(chunks(reports)) == 2  # nothing reported before it is stored
    spool = rec.spool.directory
    assert spool is not None
    assert spool.parent == tmp_path
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700  # the runner's own
    assert len(list(spool.iterdir())) == 5  # the outage's chunks, on disk
    storage.down = False
    await until(lambda: len(chunks(reports)) == 7, what="the spooled chunks stored")
    assert list(spool.iterdir()) == []  # removed once stored
    feed_seconds(rec, 1)
    await rec.close()
    await writer
    keys = [f"bots/b1/chunks/{i:08d}.pcm" for i in range(8)]
    assert storage.puts == keys  # in order, no gap
    assert [(c.seq, c.key, c.offset_s) for c in chunks(reports)] == [
        (i, keys[i], float(i)) for i in range(8)
    ]
    assert all(len(storage.objects[k]) == CHUNK for k in keys)
    assert not any(isinstance(r, MediaLost) for r in reports)
    assert not spool.exists()  # removed at exit


async def test_a_full_spool_keeps_the_oldest_and_reports_what_it_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = MemoryStorage(down=True)
    reports: list[Report] = []
    rec = recorder(storage, reports, tmp_path, spool_bytes=3 * CHUNK)
    writer = asyncio.create_task(rec.run())
    feed_seconds(rec, 6)  # 3 chunks fit, 3 do not
    assert rec.spool.bytes == 3 * CHUNK
    assert "the spool is full" in caplog.text
    assert not reports  # the run of dropped chunks is reported when it ends
    storage.down = False
    await until(lambda: len(chunks(reports)) == 3, what="the spooled chunks stored")
    feed_seconds(rec, 1)  # fits again: the drops end
    await rec.close()
    await writer
    lost = [r for r in reports if isinstance(r, MediaLost)]
    assert [(r.media, r.reason, r.first_seq, r.last_seq, r.offset_s, r.duration_s)
            for r in lost] == [("audio", "spool_full", 3, 5, 3.0, 3.0)]  # fmt: skip
    assert [c.seq for c in chunks(reports)] == [0, 1, 2, 6]  # the oldest kept
    assert sorted(storage.objects) == [f"bots/b1/chunks/{i:08d}.pcm" for i in (0, 1, 2, 6)]


async def test_storage_still_down_at_exit_reports_the_unstored_audio_lost(tmp_path: Path) -> None:
    storage = MemoryStorage(down=True)
    reports: list[Report] = []
    rec = recorder(storage, reports, tmp_path)
    writer = asyncio.create_task(rec.run())
    feed_seconds(rec, 2)
    rec.feed(tone(0.5))
    await rec.close(timeout=0.2)
    await writer
    assert storage.objects == {}
    lost = MediaLost(at=T0, media="audio", reason="storage_unreachable",
                     first_seq=0, last_seq=2, offset_s=0.0, duration_s=2.5)  # fmt: skip
    assert reports == [lost]
    assert rec.spool.directory is not None
    assert not rec.spool.directory.exists()


async def test_an_outage_while_leaving_is_waited_out(tmp_path: Path) -> None:
    storage = MemoryStorage()
    reports: list[Report] = []
    rec = recorder(storage, reports, tmp_path)
    writer = asyncio.create_task(rec.run())
    outage = asyncio.create_task(storage.down_for(0.5))
    await asyncio.sleep(0)  # the outage begins
    feed_seconds(rec, 3)
    rec.feed(tone(0.25))
    await rec.close()
    await writer
    await outage
    assert storage.refused > 5
    assert [c.seq for c in chunks(reports)] == [0, 1, 2, 3]
    assert [c.duration_s for c in chunks(reports)] == [1.0, 1.0, 1.0, 0.25]


async def test_video_chunks_wait_out_an_outage_too(tmp_path: Path) -> None:
    storage = MemoryStorage(down=True)
    reports: list[Report] = []
    origin = T0.timestamp()
    rec = VideoRecorder(storage, "bv", chunk_seconds=1.0, emit=reports.append,
                        spool_dir=tmp_path, wall=lambda: origin)  # fmt: skip
    rec.spool.retry_start = rec.spool.retry_max = 0.01
    writer = asyncio.create_task(rec.run())
    for i in range(5):
        rec.keep(Frame(i * 0.5, b"jpeg%d" % i))
    await until(lambda: storage.refused >= 20, what="storage to refuse 20 puts")
    storage.down = False
    await until(lambda: rec.chunks_written == 1, what="the spooled video chunk stored")
    await rec.close()  # cuts the second chunk
    await writer
    assert storage.puts == [video_chunk_key("bv", i) for i in range(2)]
    assert unpack_frames(storage.objects[video_chunk_key("bv", 1)]) == [
        Frame(1.5, b"jpeg3"), Frame(2.0, b"jpeg4")
    ]  # fmt: skip
    assert reports == []


async def test_a_full_video_spool_reports_lost_video(tmp_path: Path) -> None:
    storage = MemoryStorage(down=True)
    reports: list[Report] = []
    origin = T0.timestamp()
    rec = VideoRecorder(storage, "bv", chunk_seconds=0.0, emit=reports.append, spool_bytes=1,
                        spool_dir=tmp_path, wall=lambda: origin)  # fmt: skip
    writer = asyncio.create_task(rec.run())
    rec.keep(Frame(1.0, b"a"))
    rec.keep(Frame(2.0, b"b"))
    rec.keep(Frame(3.0, b"c"))  # the spool holds one chunk, whatever its bound: 2 do not fit
    await rec.close(timeout=0.1)
    await writer
    assert reports == [
        MediaLost(at=T0, media="video", reason="spool_full", first_seq=1, last_seq=2,
                  offset_s=2.0, duration_s=1.0),
        MediaLost(at=T0, media="video", reason="storage_unreachable", first_seq=0, last_seq=0,
                  offset_s=1.0, duration_s=0.0),
    ]  # fmt: skip


async def test_a_spooled_file_that_went_missing_is_reported_lost_and_the_rest_stored(
    tmp_path: Path,
) -> None:
    storage = MemoryStorage(down=True)
    reports: list[Report] = []
    rec = recorder(storage, reports, tmp_path)
    writer = asyncio.create_task(rec.run())
    feed_seconds(rec, 3)
    await until(lambda: storage.refused >= 1, what="a refused put")
    spool = rec.spool.directory
    assert spool is not None
    sorted(spool.iterdir())[1].unlink()  # not the one being retried
    storage.down = False
    await rec.close()
    await writer
    assert [c.seq for c in chunks(reports)] == [0, 2]
    assert [r for r in reports if isinstance(r, MediaLost)] == [
        MediaLost(at=T0, media="audio", reason="spool_full", first_seq=1, last_seq=1,
                  offset_s=1.0, duration_s=1.0)
    ]  # fmt: skip


async def test_a_spool_that_cannot_write_to_disk_drops_and_reports(tmp_path: Path) -> None:
    lost: list[tuple[list[int], str]] = []
    spool: Spool[int] = Spool(MemoryStorage(), "test", limit_bytes=100, content_type="x",
                              on_stored=lambda _: None, on_lost=lambda m, r: lost.append((m, r)),
                              directory=tmp_path / "missing")  # fmt: skip
    assert not spool.add("bots/b1/chunks/00000000.pcm", b"data", 0)
    await spool.close(0.1)
    assert lost == [([0], "spool_full")]

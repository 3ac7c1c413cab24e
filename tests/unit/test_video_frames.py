"""The video frame chunks, the frame clock, and the runner's video recorder (both sources)."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.waiting import until
from meetbot.contract.assignment import Assignment
from meetbot.contract.media_format import (
    MAGIC,
    Frame,
    pack_frames,
    unpack_frames,
    video_chunk_key,
    video_key,
    video_prefix,
)
from meetbot.control.media.video_file import Resampler
from meetbot.runner.video import VideoRecorder
from meetbot.testing.fakes_runner import MemoryStorage

BOT = "bot_v1"


def test_keys() -> None:
    assert video_prefix(BOT) == "bots/bot_v1/video/"
    assert video_chunk_key(BOT, 12) == "bots/bot_v1/video/00000012.frames"
    assert video_key(BOT) == "bots/bot_v1/recording.mp4"
    with pytest.raises(ValueError, match="start at 0"):
        video_chunk_key(BOT, -1)
    with pytest.raises(ValueError, match="bot id"):
        video_prefix("a/b")


def test_chunk_round_trip() -> None:
    frames = [Frame(-0.05, b"\xff\xd8one"), Frame(0.2, b""), Frame(1.25, b"\xff\xd8three" * 50)]
    data = pack_frames(frames)
    assert data.startswith(MAGIC)
    assert unpack_frames(data) == frames
    assert unpack_frames(pack_frames([])) == []


def test_a_cut_off_chunk_keeps_its_whole_frames_and_a_foreign_one_gives_none() -> None:
    frames = [Frame(0.0, b"a" * 10), Frame(0.5, b"b" * 10)]
    data = pack_frames(frames)
    assert unpack_frames(data[:-1]) == frames[:1]
    assert unpack_frames(data[: len(MAGIC) + 3]) == []
    assert unpack_frames(b"RIFF....") == []


def test_resampler_shows_the_latest_frame_by_each_tick() -> None:
    r = Resampler(fps=4)  # ticks at 0, .25, .5, .75, 1.0, ...
    assert r.push(Frame(0.1, b"A")) == [b"A"]  # tick 0 is before any frame: the first one
    assert r.push(Frame(0.2, b"B")) == []  # replaces A before tick .25
    assert r.push(Frame(0.9, b"C")) == [b"B", b"B", b"B"]  # .25 .5 .75
    assert r.finish(1.6) == [b"C", b"C", b"C"]  # 1.0 1.25 1.5
    assert r.emitted == 7


def test_resampler_stops_at_until_and_without_frames_shows_nothing() -> None:
    r = Resampler(fps=2, until=1.0)  # ticks 0, .5 only
    assert r.push(Frame(-0.3, b"A")) == []
    assert r.push(Frame(3.0, b"B")) == [b"A", b"A"]
    assert r.finish(5.0) == []
    assert Resampler(fps=2).finish(10.0) == []
    with pytest.raises(ValueError, match="fps"):
        Resampler(fps=0)


class FakeCdp:
    def __init__(self, fail_start: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any] | None]] = []
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self.fail_start = fail_start
        self.detached = False
        self.shots = 0

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.sent.append((method, params))
        if method == "Page.startScreencast" and self.fail_start:
            raise RuntimeError("no screencast here")
        if method == "Page.captureScreenshot":
            self.shots += 1
            if self.shots == 2:
                raise RuntimeError("page busy")
            return {"data": base64.b64encode(b"shot%d" % self.shots).decode()}
        return {}

    def on(self, event: str, f: Callable[[Any], Any]) -> None:
        self.handlers[event] = f

    async def detach(self) -> None:
        self.detached = True

    def frame(self, timestamp: float | None, data: bytes, session_id: int) -> None:
        metadata = {"timestamp": timestamp} if timestamp is not None else {}
        params = {"data": base64.b64encode(data).decode(), "metadata": metadata}
        self.handlers["Page.screencastFrame"]({**params, "sessionId": session_id})

    def methods(self, name: str) -> list[dict[str, Any] | None]:
        return [p for m, p in self.sent if m == name]


ORIGIN = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


async def test_recorder_times_frames_from_the_origin_and_writes_chunks() -> None:
    storage = MemoryStorage()
    now = [100.0]
    rec = VideoRecorder(
        storage, BOT, fps=1000, chunk_seconds=1.0, source="screencast", monotonic=lambda: now[0]
    )
    cdp = FakeCdp()
    assert await rec.start(cdp, ORIGIN)
    (start,) = cdp.methods("Page.startScreencast")
    assert start == {"format": "jpeg", "quality": 60, "maxWidth": 1280, "maxHeight": 720}
    base = ORIGIN.timestamp()
    for i, t in enumerate([0.1, 0.6, 1.2, 1.5, 2.0]):
        cdp.frame(base + t, f"jpeg{i}".encode(), session_id=i)
    await until(lambda: len(cdp.methods("Page.screencastFrameAck")) == 5, what="five acks")
    assert [p and p["sessionId"] for p in cdp.methods("Page.screencastFrameAck")] == [0, 1, 2, 3, 4]
    await rec.close()
    assert cdp.methods("Page.stopScreencast") == [None]
    assert cdp.detached
    keys = sorted(k for k in storage.objects if k.startswith(video_prefix(BOT)))
    assert keys == [video_chunk_key(BOT, 0), video_chunk_key(BOT, 1)]
    first, second = (unpack_frames(storage.objects[k]) for k in keys)
    assert [round(f.t, 3) for f in first] == [0.1, 0.6, 1.2]  # cut once it spans 1 s
    assert [(round(f.t, 3), f.jpeg) for f in second] == [(1.5, b"jpeg3"), (2.0, b"jpeg4")]
    assert rec.chunks_written == 2


async def test_recorder_acks_no_faster_than_its_frame_rate() -> None:
    now = [0.0]
    rec = VideoRecorder(MemoryStorage(), BOT, fps=20, source="screencast", monotonic=lambda: now[0])
    cdp = FakeCdp()
    await rec.start(cdp, ORIGIN)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for i in range(3):  # three frames at once: acks at 0, 50 and 100 ms, never sooner
        cdp.frame(None, b"x", session_id=i)
    acks = cdp.methods  # a loaded machine may ack later, never earlier
    await until(lambda: len(acks("Page.screencastFrameAck")) >= 2, what="the second ack")
    assert loop.time() - began >= 0.049
    await until(lambda: len(acks("Page.screencastFrameAck")) >= 3, what="the third ack")
    assert loop.time() - began >= 0.099
    await rec.close()


async def test_a_failed_screencast_start_records_nothing_and_closes_cleanly() -> None:
    storage = MemoryStorage()
    rec = VideoRecorder(storage, BOT, source="screencast")
    assert not await rec.start(FakeCdp(fail_start=True), ORIGIN)
    await rec.close()
    assert storage.objects == {}


async def test_storage_errors_are_retried() -> None:
    storage = MemoryStorage(fail_puts=2)
    rec = VideoRecorder(storage, BOT, chunk_seconds=0.0, source="screencast")
    cdp = FakeCdp()
    await rec.start(cdp, ORIGIN)
    cdp.frame(ORIGIN.timestamp() + 0.5, b"frame", session_id=1)
    await rec.close()
    assert unpack_frames(storage.objects[video_chunk_key(BOT, 0)]) == [Frame(0.5, b"frame")]


def assignment(recording: dict[str, Any]) -> Assignment:
    return Assignment(
        bot_id=BOT,
        meeting_url="http://meet.example/room",
        platform="fake",
        bot_name="Note Taker",
        stop_options={},
        join_at=None,
        token="secret",
        control_url="http://127.0.0.1:1",
        recording=recording,
    )


def test_only_an_assignment_asking_for_video_gets_a_recorder() -> None:
    storage = MemoryStorage()
    assert VideoRecorder.for_assignment(storage, assignment({})) is None
    off = assignment({"audio_format": "ogg", "video": False})
    assert VideoRecorder.for_assignment(storage, off) is None
    on = assignment({"audio_format": "ogg", "video": True})
    assert isinstance(VideoRecorder.for_assignment(storage, on), VideoRecorder)


async def test_screenshots_are_taken_at_the_frame_rate_and_timed_from_the_origin() -> None:
    storage = MemoryStorage()
    wall = [ORIGIN.timestamp() + 2.0]

    def clock() -> float:
        wall[0] += 0.01  # each reading 10 ms later
        return wall[0]

    rec = VideoRecorder(storage, BOT, fps=50, chunk_seconds=60.0, wall=clock)
    cdp = FakeCdp()
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await rec.start(cdp, ORIGIN)
    await until(lambda: cdp.shots >= 4, what="four screenshots")  # one fails
    await rec.close()
    assert cdp.shots <= (loop.time() - began) * 50 + 2  # never faster than 50 fps
    assert cdp.methods("Page.startScreencast") == []
    (params, *_) = cdp.methods("Page.captureScreenshot")
    assert params == {"format": "jpeg", "quality": 60, "optimizeForSpeed": True}
    assert cdp.detached
    (frames,) = [unpack_frames(d) for k, d in storage.objects.items() if k.endswith(".frames")]
    assert len(frames) >= 3
    assert rec.frames_received == len(frames) == cdp.shots - 1  # the failed one is skipped
    assert [f.jpeg for f in frames[:2]] == [b"shot1", b"shot3"]
    assert frames[0].t == pytest.approx(2.015)  # midway between asking and getting it
    assert all(a.t < b.t for a, b in itertools.pairwise(frames))

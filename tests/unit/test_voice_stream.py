"""Streamed-in voice (issue 16 §2) on the runner's side: the bounded buffer drops the oldest
beyond its capacity and counts it; the player keeps the page a little ahead, no more, holds
the microphone unmuted while it plays (shared with the clips) and mutes after."""

from __future__ import annotations

import asyncio

import pytest

from meetbot.contract.voice_in import BYTES_PER_SECOND, MAX_BUFFER_S, check_frame
from meetbot.runner.pcm_buffer import PcmBuffer, skip_silence
from meetbot.runner.voice import Voice
from meetbot.runner.voice_stream import BUFFER_S, CATCH_UP, HANGOVER, StreamPlayer
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import FakeReports

MS = BYTES_PER_SECOND // 1000  # bytes per millisecond (32)


def frame(ms: int, fill: int = 1) -> bytes:
    return bytes([fill]) * (ms * MS)


def test_the_buffer_keeps_what_fits_in_order() -> None:
    buffer = PcmBuffer(0.1)
    buffer.push(frame(20, 1))
    buffer.push(frame(20, 2))
    assert buffer.seconds == pytest.approx(0.04)
    assert buffer.take(30 * MS) == frame(20, 1) + frame(10, 2)
    assert buffer.take(1000 * MS) == frame(10, 2)
    assert (len(buffer), buffer.drops, buffer.dropped_bytes) == (0, 0, 0)


def test_beyond_its_capacity_the_oldest_is_dropped_and_counted() -> None:
    buffer = PcmBuffer(0.1)
    for fill in range(1, 8):  # 7 x 20 ms into 100 ms
        buffer.push(frame(20, fill))
    assert buffer.seconds == pytest.approx(0.1)
    assert buffer.dropped_bytes == 40 * MS
    assert buffer.drops == 2
    assert buffer.take(10_000) == b"".join(frame(20, f) for f in range(3, 8))
    assert buffer.received_bytes == 140 * MS


def test_a_frame_longer_than_the_buffer_keeps_its_newest_part() -> None:
    buffer = PcmBuffer(0.1)
    buffer.push(frame(20, 9))
    buffer.push(frame(50, 1) + frame(100, 2))
    assert buffer.take(10_000) == frame(100, 2)
    assert buffer.dropped_bytes == 70 * MS


def test_half_samples_are_cut_and_clear_counts_what_was_left() -> None:
    buffer = PcmBuffer(0.1)
    buffer.push(b"\x01\x02\x03")
    assert len(buffer) == 2
    assert buffer.take(3) == b"\x01\x02"
    buffer.push(frame(20))
    buffer.clear()
    assert (len(buffer), buffer.dropped_bytes) == (0, 20 * MS)


def test_trim_keeps_the_newest() -> None:
    buffer = PcmBuffer(1.0)
    buffer.push(frame(20, 1) + frame(20, 2))
    buffer.trim(30 * MS)
    assert buffer.take(10_000) == frame(10, 1) + frame(20, 2)
    assert buffer.dropped_bytes == 10 * MS
    buffer.trim(-5)
    assert buffer.drops == 1


def test_skip_silence_takes_silent_blocks_only_within_its_budget() -> None:
    quiet, loud = bytes(10 * MS), frame(10, 1)  # 0x0101 = 257: over the silence peak
    pcm = loud + quiet + loud + quiet + quiet
    assert skip_silence(pcm, 20 * MS) == loud + loud + quiet
    assert skip_silence(pcm, 100 * MS) == loud + loud
    assert skip_silence(pcm, 5 * MS) == pcm
    assert skip_silence(loud * 3, 100 * MS) == loud * 3


@pytest.mark.parametrize(
    ("data", "why"),
    [(b"", "empty"), (b"\x00" * 3, "even"), (b"\x00" * (BYTES_PER_SECOND + 2), "at most")],
)
def test_frames_that_are_not_pcm_are_refused(data: bytes, why: str) -> None:
    reason = check_frame(data)
    assert reason is not None
    assert why in reason
    assert check_frame(frame(20)) is None


class Page:
    """The page's microphone: what was fed, and the time scheduled ahead (a fake clock)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.next = 0.0
        self.fed: list[bytes] = []
        self.ends = 0
        self.calls: list[str] = []

    def monotonic(self) -> float:
        return self.now

    async def feed(self, pcm: bytes) -> float:
        self.fed.append(pcm)
        self.next = max(self.next, self.now) + len(pcm) / BYTES_PER_SECOND
        return self.next - self.now

    async def end(self) -> None:
        self.ends += 1

    async def unmute(self) -> None:
        self.calls.append("unmute")

    async def mute(self) -> None:
        self.calls.append("mute")


def player() -> tuple[StreamPlayer, PcmBuffer, Voice, Page]:
    page = Page()
    buffer = PcmBuffer(BUFFER_S)
    reports = FakeReports()
    voice = Voice(reports.clip, reports.emit, FixedClock())
    return StreamPlayer(buffer, voice, page.monotonic), buffer, voice, page


async def test_what_arrives_goes_to_the_page_at_once_up_to_300_ms_in_all() -> None:
    stream, buffer, voice, page = player()
    assert MAX_BUFFER_S == 0.3
    for _ in range(10):
        buffer.push(frame(20))  # 200 ms at once
    await stream.step(page, page.unmute, page.mute)
    assert page.fed == [frame(200)]  # fed at once, unmuted beside
    await asyncio.sleep(0)
    assert page.calls == ["unmute"]
    assert voice.unmuted
    assert stream.active
    page.now += 0.05  # 150 ms still ahead
    buffer.push(frame(100, 2) + frame(100, 3))
    await stream.step(page, page.unmute, page.mute)
    assert page.fed[1] == frame(50, 2) + frame(100, 3)  # 300 ms in all: the oldest went
    assert buffer.dropped_bytes == 50 * MS
    assert stream.ahead() == pytest.approx(0.3)
    assert page.calls == ["unmute"]


async def test_it_mutes_once_the_stream_has_played_and_gone_quiet() -> None:
    stream, buffer, voice, page = player()
    buffer.push(frame(20))
    await stream.step(page, page.unmute, page.mute)
    await asyncio.sleep(0)
    page.now += 0.02 + HANGOVER - 0.01
    await stream.step(page, page.unmute, page.mute)
    assert page.calls == ["unmute"]
    page.now += 0.02
    await stream.step(page, page.unmute, page.mute)
    assert page.calls == ["unmute", "mute"]
    assert (page.ends, stream.active, voice.unmuted) == (1, False, False)


async def test_a_clip_and_the_stream_share_the_microphone() -> None:
    stream, buffer, voice, page = player()
    voice.stream = (None, stream)  # type: ignore[assignment]
    buffer.push(frame(20))
    await stream.step(page, page.unmute, page.mute)
    await asyncio.sleep(0)
    # the clip queue is empty: the voice does not mute what the stream holds
    await voice.step([], _NoSpeaker(), page.unmute, page.mute)
    assert page.calls == ["unmute"]
    # a clip plays when the stream ends: still unmuted
    voice.current = "clip"
    page.now += 1.0
    await stream.step(page, page.unmute, page.mute)
    assert page.calls == ["unmute"]
    assert voice.unmuted
    voice.current = None
    await voice.step([], _NoSpeaker(), page.unmute, page.mute)
    assert page.calls == ["unmute", "mute"]


class _NoSpeaker:
    async def play(self, clip_id: str, pcm: bytes) -> None:
        raise AssertionError("nothing to play")

    async def stop(self) -> None:
        pass

    async def ended(self) -> list[str]:
        return []


async def test_a_page_that_got_ahead_catches_up_on_silence() -> None:
    stream, buffer, _, page = player()
    buffer.push(frame(250))  # a burst after a stall: 250 ms ahead
    await stream.step(page, page.unmute, page.mute)
    for _ in range(20):  # then live: 20 ms a tick, speech and silence
        page.now += 0.02
        buffer.push(bytes(20 * MS))
        await stream.step(page, page.unmute, page.mute)
    assert stream.ahead() < CATCH_UP + 0.03  # caught up (it was 250 ms)
    assert stream.skipped_bytes >= 100 * MS
    page.now += 0.02
    buffer.push(frame(20))  # a word is never skipped
    await stream.step(page, page.unmute, page.mute)
    assert page.fed[-1] == frame(20)

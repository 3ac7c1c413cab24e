"""The runner's control-plane client over httpx.MockTransport, and the audio recorder."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from meetbot.contract.reports import AudioChunk, InCall, Joining
from meetbot.runner.capture import AudioRecorder, speech_seconds
from meetbot.runner.reporter import Reporter
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import MemoryStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


def reporter(handler: Handler, **options: float) -> Reporter:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Reporter(
        client,
        control_url="http://cp.test/",
        bot_id="b1",
        token="tok",
        heartbeat_interval=options.get("heartbeat", 0.05),
        control_plane_grace=options.get("grace", 60.0),
        command_wait=0,
    )


async def run_until(r: Reporter, check: Callable[[], bool], timeout: float = 3.0) -> None:
    task = asyncio.create_task(r.send_loop())
    try:
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110 - the loop under test runs meanwhile
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_reports_go_in_order_with_the_token_then_heartbeats() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/internal/bots/b1/events"
        assert request.headers["authorization"] == "Bearer tok"
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200, json={"commands": [{"type": "leave"}]} if len(bodies) == 1 else {}
        )

    r = reporter(handler)
    r.emit(Joining(at=T0))
    r.emit(InCall(at=T0))
    await run_until(r, lambda: len(bodies) >= 3)
    events = bodies[0]["events"]
    assert isinstance(events, list)
    assert [e["type"] for e in events] == ["joining", "in_call"]
    assert bodies[1] == {"events": []}  # heartbeat
    assert r.pending == 0
    assert r.sent == 2
    assert (await r.commands.get()).type == "leave"


async def test_failures_keep_the_reports_and_retry() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(len(json.loads(request.content)["events"]))
        if len(calls) < 3:
            return httpx.Response(503)
        return httpx.Response(200, json={"commands": []})

    r = reporter(handler)
    r.emit(Joining(at=T0))
    await run_until(r, lambda: r.sent == 1)
    assert calls[:3] == [1, 1, 1]
    assert not r.lost.is_set()


async def test_unreachable_past_the_grace_is_lost() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    r = reporter(handler, grace=0.3)
    r.emit(Joining(at=T0))
    await run_until(r, r.lost.is_set)
    assert r.lost_reason == "unreachable"
    assert r.pending == 1


@pytest.mark.parametrize("status", [401, 404])
async def test_an_unknown_bot_is_lost_at_once(status: int) -> None:
    r = reporter(lambda request: httpx.Response(status))
    await run_until(r, r.lost.is_set)
    assert r.lost_reason == f"http_{status}"


async def test_a_refused_batch_is_dropped_not_retried_forever() -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(len(json.loads(request.content)["events"]))
        return httpx.Response(400 if len(seen) == 1 else 200, json={})

    r = reporter(handler)
    r.emit(Joining(at=T0))
    await run_until(r, lambda: len(seen) >= 2)
    assert seen[:2] == [1, 0]


async def test_commands_long_poll_and_drain() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.params["wait"] == "0"
            return httpx.Response(200, json={"commands": [{"type": "stop"}]})
        return httpx.Response(200, json={})

    r = reporter(handler, heartbeat=10)
    poll = asyncio.create_task(r.command_loop())
    send = asyncio.create_task(r.send_loop())
    try:
        async with asyncio.timeout(3):
            assert (await r.commands.get()).type == "stop"
        r.emit(Joining(at=T0))
        assert await r.drain(3)
    finally:
        for task in (poll, send):
            task.cancel()
        await asyncio.gather(poll, send, return_exceptions=True)


# --- the recorder ---------------------------------------------------------------------------


class _Clock:
    def now(self) -> datetime:
        return T0


def tone(seconds: float) -> bytes:
    n = int(16_000 * seconds)
    return bytes((0.3 * np.sin(np.arange(n) * 0.17) * 32767).astype("<i2").tobytes())


async def test_start_joining_is_retried_until_answered_with_the_bots_values() -> None:
    calls: list[dict[str, object]] = []
    briefing = {"meeting_url": "https://meet.google.com/abc-defg-hij", "platform": "google_meet",
                "bot_name": "Renamed", "stop_options": {"time_limit": 5}}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/internal/bots/b1/join"
        assert request.headers["authorization"] == "Bearer tok"
        calls.append(json.loads(request.content))
        return httpx.Response(503 if len(calls) == 1 else 200, json={"briefing": briefing})

    answer = await reporter(handler).start_joining(T0)
    assert answer is not None
    assert answer.briefing is not None
    assert answer.briefing.bot_name == "Renamed"
    assert answer.commands == []
    assert calls == [{"at": "2026-01-01T00:00:00Z"}] * 2


async def test_start_joining_with_a_revoked_token_is_lost() -> None:
    r = reporter(lambda request: httpx.Response(401, json={"code": "unauthorized"}))
    assert await r.start_joining(T0) is None
    assert r.lost.is_set()


def test_speech_seconds_counts_loud_frames_only() -> None:
    silence = bytes(16_000 * 2)
    assert speech_seconds(silence) == 0
    assert speech_seconds(tone(1.0)) == pytest.approx(1.0)
    assert speech_seconds(silence + tone(0.5) + silence) == pytest.approx(0.5, abs=0.02)


async def test_recorder_groups_pieces_offsets_and_retries_storage() -> None:
    storage = MemoryStorage(fail_puts=1)
    emitted: list[object] = []
    recorder = AudioRecorder(storage, "b1", emitted.append, _Clock(), group_pieces=4)
    writer = asyncio.create_task(recorder.run())
    recorder.feed(tone(0.25))  # before start: dropped
    recorder.start()
    for _ in range(9):
        recorder.feed(tone(0.25))
    await recorder.close()
    await writer
    chunks = [c for c in emitted if isinstance(c, AudioChunk)]
    assert [(c.seq, c.offset_s, c.duration_s) for c in chunks] == [
        (0, 0.0, 1.0),
        (1, 1.0, 1.0),
        (2, 2.0, 0.25),
    ]
    assert sorted(storage.objects) == [f"bots/b1/chunks/{i:08d}.pcm" for i in range(3)]
    assert recorder.speech_seconds == pytest.approx(2.25, abs=0.02)  # whole 20 ms frames
    assert recorder.last_speech_at == T0
    recorder.feed(tone(0.25))  # after close: dropped
    assert recorder.recorded_seconds == pytest.approx(2.25)


async def test_recorder_warns_when_the_recording_falls_behind_real_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FixedClock(T0)
    recorder = AudioRecorder(MemoryStorage(), "b1", [].append, clock)
    writer = asyncio.create_task(recorder.run())
    recorder.start()
    with caplog.at_level(logging.WARNING, logger="meetbot.runner.capture"):
        for _ in range(8):  # 2 s of audio in 2 s: on time
            clock.advance(0.25)
            recorder.feed(tone(0.25))
        assert recorder.lag_seconds == pytest.approx(0.0)
        for _ in range(40):  # a starved renderer: 10 s of audio while 30 s pass
            clock.advance(0.75)
            recorder.feed(tone(0.25))
    await recorder.close()
    await writer
    assert recorder.lag_seconds == pytest.approx(20.0)
    warned = [r.getMessage() for r in caplog.records if "behind real time" in r.getMessage()]
    assert len(warned) == 3  # at 5 s behind, then 10 and 20: each time the lag doubled
    assert warned[0].startswith("bot b1: the recording is 5.0 s behind real time")


def test_page_text_in_reports_is_cleaned_not_refused() -> None:
    from meetbot.contract.reports import ReportBatch

    batch = ReportBatch.model_validate_json(
        '{"events": [{"type": "participant_joined", "at": "2026-01-01T00:00:00Z",'
        ' "participant_id": "p\\u0000", "name": "Ann\\u0000e"},'
        ' {"type": "caption", "at": "2026-01-01T00:00:00Z", "speaker": "x", "text": "hi\\u0000"}]}'
    )
    joined, caption = batch.events
    assert (joined.participant_id, joined.name) == ("p", "Anne")  # type: ignore[union-attr]
    assert caption.text == "hi"  # type: ignore[union-attr]

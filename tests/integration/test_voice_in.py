"""Streamed-in voice over real WebSockets (issue 16 §2): binary PCM a client sends on a bot's
stream reaches its runner's voice socket (the runner's own :class:`VoiceSocket`, with its
per-bot token) in order, at once; a frame that cannot be played is answered by one
``stream.error`` frame and the stream goes on; a wrong token is refused like any route."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from harness.live_server import serving
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.reports import InCall, Joining, ReportBatch
from meetbot.control.ports import Store
from meetbot.control.service.runners import handle_reports
from meetbot.control.voice_relay import VoiceRelay
from meetbot.runner.pcm_buffer import PcmBuffer
from meetbot.runner.voice_stream import VoiceSocket

JANUS = "http://janus.example.com:8000/videoroomtest.html?room=7"
MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    return await build_test_plane(any_store, self_hosted_meeting_hosts="janus.example.com:8000")


async def _bot(plane: TestPlane, url: str = JANUS) -> tuple[str, str]:
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": url})
        assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    t = plane.clock.now()
    batch = ReportBatch(events=[Joining(at=t), InCall(at=t)])
    await handle_reports(plane.services, bot_id, assigned.token, batch)
    return bot_id, assigned.token


def _relay(plane: TestPlane) -> VoiceRelay:
    relay: VoiceRelay = plane.app.state.voice_relay
    return relay


@contextlib.asynccontextmanager
async def _runner(plane: TestPlane, host: str, bot_id: str, token: str) -> AsyncIterator[PcmBuffer]:
    """The runner's voice socket, connected."""
    buffer = PcmBuffer(10.0)
    socket = VoiceSocket(lambda: f"http://{host}", bot_id, token, buffer)
    task = asyncio.create_task(socket.run(lambda: True))
    try:
        await _eventually(lambda: _relay(plane).connected(bot_id))
        yield buffer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _eventually(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 10 s")


async def _errors(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """The next ``n`` stream.error frames (events in between are skipped)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while len(out) < n:
            frame = json.loads(await ws.recv())
            if frame["type"] == "stream.error":
                out.append(frame)
    return out


async def test_pcm_sent_on_the_stream_reaches_the_runner_in_order(plane: TestPlane) -> None:
    bot_id, token = await _bot(plane)
    frames = [bytes([i]) * 640 for i in range(1, 26)]  # 25 x 20 ms
    async with serving(plane.app) as host:
        stream = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        async with (
            _runner(plane, host, bot_id, token) as buffer,
            connect(stream, additional_headers={"Authorization": f"Token {plane.key}"}) as ws,
        ):
            for f in frames:
                await ws.send(f)
            await _eventually(lambda: len(buffer) == 640 * len(frames))
            assert buffer.take(10**6) == b"".join(frames)
    assert _relay(plane).relayed_bytes == 640 * 25
    assert _relay(plane).dropped_frames == 0


async def test_frames_that_cannot_play_are_answered_once_and_the_stream_goes_on(
    plane: TestPlane,
) -> None:
    bot_id, token = await _bot(plane)
    headers = {"Authorization": f"Token {plane.key}"}
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(b"\x00" * 640)  # no runner listens yet
            await ws.send(b"\x00" * 640)  # the same refusal: not answered again
            await ws.send(b"\x00" * 3)  # half a sample
            await ws.send("text frames are ignored")
            first, second = await _errors(ws, 2)
            assert (first["code"], second["code"]) == ("bot_not_in_call", "invalid_audio")
            assert "16 kHz mono s16le" in second["detail"]
            async with _runner(plane, host, bot_id, token) as buffer:
                await ws.send(b"\x01" * 640)
                await _eventually(lambda: len(buffer) > 0)
        meet_id, _ = await _bot(plane, MEET)
        url = f"ws://{host}/api/v1/bot/{meet_id}/stream"
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(b"\x00" * 640)
            (refused,) = await _errors(ws, 1)
            # Every platform's adapter has a voice now (Meet, Teams, Zoom, Webex against their
            # fixtures): a Meet bot is refused only for not being in a call.
            assert refused["code"] == "bot_not_in_call"


async def test_the_voice_socket_wants_the_bots_runner_token(plane: TestPlane) -> None:
    bot_id, _ = await _bot(plane)
    other_id, other_token = await _bot(plane)
    async with serving(plane.app) as host:
        url = f"ws://{host}/internal/bots/{bot_id}/voice"
        for headers in ({}, {"Authorization": f"Bearer {other_token}"}):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401
            assert json.loads(refused.value.response.body or b"{}")["code"] == "unauthorized"
    assert not _relay(plane).connected(bot_id)
    assert other_id


async def test_a_runner_whose_token_is_refused_stops_asking(plane: TestPlane) -> None:
    bot_id, _ = await _bot(plane)
    async with serving(plane.app) as host:
        socket = VoiceSocket(lambda: f"http://{host}", bot_id, "not-its-token", PcmBuffer(0.3))
        async with asyncio.timeout(10):
            await socket.run(lambda: True)  # returns: no retry loop against a 401
    assert not socket.connected

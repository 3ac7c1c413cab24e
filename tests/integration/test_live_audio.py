"""The live copy of a bot's mixed audio over real WebSockets (issue 16 §1): the runner's own
:class:`LiveSocket` (its per-bot token) → the control plane → a client's stream with
``?audio=mixed``, as binary frames, before any chunk is stored; the stored chunks fill in
only what the live copy did not send, once, in order; a wrong token is refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from media_helpers import Call, create_bot, media_storage, tone
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from harness.live_server import serving
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.live_audio import LIVE_PATH, live_frame
from meetbot.contract.media_format import chunk_key
from meetbot.contract.reports import AudioChunk
from meetbot.control.live_audio import LiveAudioHub
from meetbot.runner.live_audio import LiveSlicer, LiveSocket

RATE = 16_000


def _hub(plane: TestPlane) -> LiveAudioHub:
    hub: LiveAudioHub = plane.app.state.live_audio
    return hub


async def _eventually(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 10 s")


@contextlib.asynccontextmanager
async def _runner(plane: TestPlane, host: str, c: Call) -> AsyncIterator[LiveSlicer]:
    """The runner's live socket, connected; feed its slicer to send."""
    slicer = LiveSlicer(queue_seconds=100.0)
    socket = LiveSocket(lambda: f"http://{host}", c.bot_id, c.token, slicer)
    task = asyncio.create_task(socket.run(lambda: True))
    try:
        await _eventually(lambda: _hub(plane).connected(c.bot_id))
        yield slicer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _pcm(ws: ClientConnection, n: int) -> bytes:
    """The next ``n`` bytes of binary frames (text frames skipped)."""
    pcm = b""
    async with asyncio.timeout(10):
        while len(pcm) < n:
            message = await ws.recv()
            if isinstance(message, bytes):
                pcm += message
    return pcm


async def _stored(c: Call, seq: int, offset_s: float, pcm: bytes) -> None:
    key = chunk_key(c.bot_id, seq)
    await c.storage.put(key, pcm)
    at = c.plane.clock.now()
    await c.report(
        AudioChunk(at=at, seq=seq, key=key, offset_s=offset_s, duration_s=len(pcm) / 2 / RATE)
    )


def _auth(plane: TestPlane) -> dict[str, str]:
    return {"Authorization": f"Token {plane.key}"}


async def test_live_pieces_reach_the_stream_before_any_chunk_is_stored(
    any_store: Any, tmp_path: Path
) -> None:
    plane = await build_test_plane(any_store)
    c = Call(plane, media_storage(plane, tmp_path / "media"), await create_bot(plane))
    await c.join()
    said = tone(3.0, 500.0)
    async with serving(plane.app) as host, _runner(plane, host, c) as slicer:
        url = f"ws://{host}/api/v1/bot/{c.bot_id}/stream?audio=mixed"
        async with connect(url, additional_headers=_auth(plane)) as ws:
            await _eventually(lambda: _hub(plane).listening(c.bot_id) == 1)
            slicer.feed(said[: RATE * 2])  # the first second, live (nothing stored yet)
            live = await _pcm(ws, RATE * 2)
            assert live == said[: RATE * 2]
            # then the runner stores chunks 0-1.5 s and 1.5-3 s: only 1-3 s is new
            await _stored(c, 0, 0.0, said[: RATE * 3])
            await _stored(c, 1, 1.5, said[RATE * 3 :])
            rest = await _pcm(ws, len(said) - RATE * 2)
            assert rest == said[RATE * 2 :]
            slicer.feed(said[: RATE // 2])  # a live piece the stored chunks sent: dropped
            await _stored(c, 2, 3.0, tone(0.5, 300.0))
            assert await _pcm(ws, RATE) == tone(0.5, 300.0)
    assert _hub(plane).listening(c.bot_id) == 0


async def test_the_live_socket_takes_the_runners_token_only(any_store: Any, tmp_path: Path) -> None:
    plane = await build_test_plane(any_store)
    c = Call(plane, media_storage(plane, tmp_path / "media"), await create_bot(plane))
    await c.join()
    async with serving(plane.app) as host:
        url = f"ws://{host}{LIVE_PATH.format(bot_id=c.bot_id)}"
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers={"Authorization": "Bearer wrong"})
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=_auth(plane))  # an API key is no runner
        assert refused.value.response.status_code == 401
        seen: list[tuple[str, int, bytes]] = []
        _hub(plane).listeners.append(lambda *piece: seen.append(piece))
        async with connect(url, additional_headers={"Authorization": f"Bearer {c.token}"}) as ws:
            await ws.send(b"\x00\x01")  # not a frame: dropped, the socket goes on
            await ws.send(live_frame(4000, tone(0.25)))
            await _eventually(lambda: len(seen) == 1)
    assert seen == [(c.bot_id, 4000, tone(0.25))]

"""The live copy of the bot's mixed audio (:mod:`meetbot.contract.live_audio`), on the runner.

:class:`LiveSlicer` sits beside the :class:`~meetbot.runner.capture.AudioRecorder`: on the RTP
path it places the same runs on a timeline of its own whose holdback is
:data:`~meetbot.contract.live_audio.LIVE_HOLDBACK` (0.25 s, the recording's is 2 s), so a
packet later than that is missing from the live copy but still in the recording; on the
WebAudio path it takes the page's 250 ms pieces as they come. Either way it queues pieces
(at most :data:`~meetbot.contract.live_audio.PIECE_SECONDS` each) with their offset on the
recording's clock, at most :data:`QUEUE_SECONDS` of them (the oldest are dropped, counted).
While the recording is paused the recorder hands it silence.

:class:`LiveSocket` sends them on the live socket, ``GET /internal/bots/{id}/live``, opened
with the bot's token while the recording runs, and reconnects as the voice socket does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from meetbot.contract.live_audio import (
    LIVE_HOLDBACK,
    LIVE_PATH,
    MAX_PIECE_BYTES,
    PIECE_SECONDS,
    live_frame,
)
from meetbot.contract.media_format import SAMPLE_RATE, SAMPLE_WIDTH
from meetbot.runner.timeline import Timeline

log = logging.getLogger(__name__)

PIECE_BYTES: Final = int(PIECE_SECONDS * SAMPLE_RATE) * SAMPLE_WIDTH
QUEUE_SECONDS: Final = 5.0
"""Audio waiting for the socket at most (it connects, or reconnects): for a stream client it
is late, but live transcription still decodes it rather than silence."""
BACKOFF_MAX: Final = 5.0


@dataclass(eq=False)
class LiveSlicer:
    """Pieces of the live copy, from :meth:`place` + :meth:`take` (RTP) or :meth:`feed`."""

    holdback: float = LIVE_HOLDBACK
    queue_seconds: float = QUEUE_SECONDS
    timeline: Timeline | None = None
    pieces: deque[tuple[int, bytes]] = field(default_factory=deque)
    """``(offset in samples, PCM)`` waiting to be sent, oldest first."""
    dropped_pieces: int = 0
    _queued_samples: int = 0
    _position: int = 0
    """Samples sliced so far (the WebAudio path's clock)."""
    arrived: asyncio.Event | None = None
    """Set when a piece is queued (the socket's wake)."""

    def start(self, origin: float) -> None:
        """The recording starts at wall clock ``origin`` (its sample 0)."""
        self.timeline = Timeline(origin=origin, holdback=self.holdback)
        self._position = 0

    def place(self, stream: str, rtp: int, arrived: float, pcm: bytes) -> None:
        """The same run the recorder places (see :meth:`Timeline.place`)."""
        if self.timeline is not None:
            self.timeline.place(stream, rtp, arrived, pcm)

    def take(self, now: float, *, silent: bool = False) -> None:
        """Queue the timeline's audio up to ``now - holdback`` (as silence: ``silent``)."""
        if self.timeline is not None:
            start = self.timeline.cursor
            pcm = self.timeline.take(now)
            self._queue(start, bytes(len(pcm)) if silent else pcm)

    def feed(self, pcm: bytes) -> None:
        """A piece of the page's WebAudio mix (no timeline: pieces are live as they come)."""
        self._queue(self._position, pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH])

    def pop(self) -> tuple[int, bytes] | None:
        """The oldest piece waiting, taken; ``None`` when none is."""
        if not self.pieces:
            return None
        piece = self.pieces.popleft()
        self._queued_samples -= len(piece[1]) // SAMPLE_WIDTH
        return piece

    @property
    def late_samples(self) -> int:
        """Samples that came after the live copy's holdback (missing from it only)."""
        return self.timeline.late_samples if self.timeline is not None else 0

    def _queue(self, offset: int, pcm: bytes) -> None:
        self._position = offset + len(pcm) // SAMPLE_WIDTH
        for i in range(0, len(pcm), PIECE_BYTES):
            piece = pcm[i : i + PIECE_BYTES]
            self.pieces.append((offset + i // SAMPLE_WIDTH, piece))
            self._queued_samples += len(piece) // SAMPLE_WIDTH
        while self._queued_samples > self.queue_seconds * SAMPLE_RATE:
            _, dropped = self.pieces.popleft()
            self._queued_samples -= len(dropped) // SAMPLE_WIDTH
            self.dropped_pieces += 1
        if pcm and self.arrived is not None:
            self.arrived.set()


class LiveSocket:
    """The runner's live socket: sends the slicer's pieces while ``wanted()``."""

    def __init__(
        self, control_url: Callable[[], str], bot_id: str, token: str, slicer: LiveSlicer
    ) -> None:
        self._control_url = control_url
        self._path = LIVE_PATH.format(bot_id=bot_id)
        self._headers = {"Authorization": f"Bearer {token}"}
        self.slicer = slicer
        self.slicer.arrived = asyncio.Event()
        self.connected = False
        self.sent_pieces = 0

    def url(self) -> str:
        base = self._control_url().rstrip("/")
        scheme, _, rest = base.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{self._path}"

    async def run(self, wanted: Callable[[], bool]) -> None:
        """Stay connected while ``wanted()`` (the recording runs), until cancelled."""
        from websockets.asyncio.client import connect  # the runner's one WebSocket client
        from websockets.exceptions import InvalidStatus

        arrived = self.slicer.arrived
        assert arrived is not None
        backoff = 0.25
        while True:
            if not wanted():
                while self.slicer.pop() is not None:
                    pass
                await asyncio.sleep(0.25)
                continue
            try:
                async with connect(
                    self.url(),
                    additional_headers=self._headers,
                    max_size=MAX_PIECE_BYTES + 64,
                    open_timeout=10,
                    proxy=None,
                ) as ws:
                    self.connected = True
                    backoff = 0.25
                    log.info("live audio socket connected")
                    while wanted():
                        arrived.clear()
                        while (piece := self.slicer.pop()) is not None:
                            await ws.send(live_frame(*piece))
                            self.sent_pieces += 1
                        await arrived.wait()
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403, 404):  # the bot is gone; an old plane
                    log.warning(
                        "live audio socket refused (%d): no live audio", exc.response.status_code
                    )
                    return
                log.debug("live audio socket: %r", exc)
            except Exception as exc:  # refused, reset, the control plane failed over
                log.debug("live audio socket: %r", exc)
            self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

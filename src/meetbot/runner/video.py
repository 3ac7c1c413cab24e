"""The meeting view for ``recording.video``: JPEG frames of the bot's page in storage.

Two DevTools sources (``source``): ``screenshots`` (the default) asks for a
``Page.captureScreenshot`` every ``1 / fps`` s; ``screencast`` runs ``Page.startScreencast``
(a frame when the page changes, at most ``max_size``; the recorder acks no sooner than ``1 / fps``
after the previous one, so Chromium sends about ``fps`` frames a second). Measured on 2 cores
with a participant's video on the page, the screencast costs ~+20 % of a core per bot whatever
its rate or size (the page is composited continuously while it runs), the screenshots ~+11 %
at 5 fps and ~+7 % at 2 fps (``bench/recording_video.py``), hence the default. Either way the
runner only base64-decodes: frames are grouped into chunks of ``chunk_seconds``
(:func:`meetbot.control.media.video_file.pack_frames`, ``bots/<id>/video/<seq>.frames``) written in
order by a writer task, so a crash loses at most the chunk in progress; processing makes the
MP4 (:func:`meetbot.control.media.video_file.build_video`). Like audio, the chunks go through a
:class:`~meetbot.runner.spool.Spool` on local disk while storage is unreachable, with a bound of
their own (``spool_bytes``, default :data:`SPOOL_BYTES`; a 720p frame is tens of KB, so at 5 fps
that is several minutes of a busy view, far more of a still one): a video spool that fills
drops video only, never audio.

Frame times are wall-clock capture times minus the recording's origin (when the audio recorder
started), so the picture lines up with the audio.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from meetbot.contract.assignment import Assignment
from meetbot.contract.media_format import (
    DEFAULT_FPS,
    DEFAULT_SIZE,
    Frame,
    pack_frames,
    video_chunk_key,
)
from meetbot.contract.media_format import FRAMES_CONTENT_TYPE as CONTENT_TYPE
from meetbot.contract.reports import MediaLost, Report
from meetbot.ports import Storage
from meetbot.runner.spool import MB, LostReason, Spool

if TYPE_CHECKING:
    from playwright.async_api import Page

log = logging.getLogger(__name__)

SPOOL_BYTES: Final = 256 * MB
"""Video chunks kept on disk while storage is unreachable. Setting:
``MEETBOT_RUNNER_VIDEO_SPOOL_MB``."""
FLUSH_TIMEOUT: Final = 120.0
CHUNK_SECONDS: Final = 4.0
JPEG_QUALITY: Final = 60


Source = Literal["screenshots", "screencast"]


class CdpSession(Protocol):
    """What the recorder needs of a Playwright ``CDPSession``."""

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any: ...

    def on(self, event: str, f: Callable[[Any], Any]) -> Any: ...

    async def detach(self) -> None: ...


async def cdp_session(page: Page) -> CdpSession:
    """A DevTools session on the bot's page."""
    return await page.context.new_cdp_session(page)


class VideoRecorder:
    """Use: :meth:`start` when the audio recording starts (it starts the writer task),
    :meth:`close` when leaving (stops the screencast, writes the partial chunk, waits)."""

    @classmethod
    def for_assignment(
        cls,
        storage: Storage,
        assignment: Assignment,
        *,
        emit: Callable[[Report], None] | None = None,
        spool_bytes: int = SPOOL_BYTES,
    ) -> VideoRecorder | None:
        """A recorder if the bot's ``recording.video`` is on, else ``None`` (no cost)."""
        if not assignment.recording.get("video"):
            return None
        return cls(storage, assignment.bot_id, emit=emit, spool_bytes=spool_bytes)

    def __init__(
        self,
        storage: Storage,
        bot_id: str,
        *,
        fps: float = DEFAULT_FPS,
        max_size: tuple[int, int] = DEFAULT_SIZE,
        chunk_seconds: float = CHUNK_SECONDS,
        quality: int = JPEG_QUALITY,
        source: Source = "screenshots",
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        emit: Callable[[Report], None] | None = None,
        spool_bytes: int = SPOOL_BYTES,
        spool_dir: Path | None = None,
    ) -> None:
        """``emit``: where a :class:`~meetbot.contract.reports.MediaLost` goes (``None``: the
        log only)."""
        self._bot_id = bot_id
        self._emit = emit
        self._interval = 1 / fps
        self._max_size = max_size
        self._chunk_seconds = chunk_seconds
        self._quality = quality
        self._source = source
        self._poller: asyncio.Task[None] | None = None
        self._monotonic = monotonic
        self._wall = wall
        self._cdp: CdpSession | None = None
        self._origin = 0.0
        self._frames: list[Frame] = []
        self.spool: Spool[tuple[int, float, float]] = Spool(
            storage,
            f"bot {bot_id} video",
            limit_bytes=spool_bytes,
            content_type=CONTENT_TYPE,
            on_stored=self._stored,
            on_lost=self._lost,
            directory=spool_dir,
        )
        self._acks: set[asyncio.Task[None]] = set()
        self._next_ack = 0.0
        self._seq = 0
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self.frames_received = 0
        self.frames_kept = 0
        self.paused = False
        self.chunks_written = 0

    @property
    def started(self) -> bool:
        """:meth:`start` was called (the screencast runs, or failed to start)."""
        return self._writer is not None

    async def start(self, cdp: CdpSession, origin: datetime) -> bool:
        """Start capturing; frame times count from ``origin``. ``False`` if it failed."""
        if self._cdp is not None or self._closed:
            return self._cdp is not None
        if self._writer is None:
            self._writer = asyncio.create_task(self.run(), name="video.writer")
        self._origin = origin.timestamp()
        if self._source == "screenshots":
            self._cdp = cdp
            self._poller = asyncio.create_task(self._poll(cdp), name="video.screenshots")
            return True
        cdp.on("Page.screencastFrame", self._on_frame)
        width, height = self._max_size
        params = {"format": "jpeg", "quality": self._quality}
        try:
            await cdp.send(
                "Page.startScreencast", {**params, "maxWidth": width, "maxHeight": height}
            )
        except Exception as exc:
            log.error("the screencast did not start: %r", exc)
            return False
        self._cdp = cdp
        return True

    async def _poll(self, cdp: CdpSession) -> None:
        params = {"format": "jpeg", "quality": self._quality, "optimizeForSpeed": True}
        failures = 0
        while not self._closed:
            began, asked = self._monotonic(), self._wall()
            try:
                shot = await cdp.send("Page.captureScreenshot", params)
                jpeg = base64.b64decode(shot["data"])
            except Exception as exc:  # the page is navigating, busy or gone
                failures += 1
                if failures in (1, 10, 100):
                    log.warning("screenshot failed (%d in a row): %r", failures, exc)
            else:
                failures = 0
                self.frames_received += 1
                self.keep(Frame((asked + self._wall()) / 2 - self._origin, jpeg))
            await asyncio.sleep(max(0.0, self._interval - (self._monotonic() - began)))

    def _on_frame(self, params: dict[str, Any]) -> None:
        self.frames_received += 1
        cdp = self._cdp
        if cdp is not None and not self._closed:
            now = self._monotonic()
            delay = max(0.0, self._next_ack - now)
            self._next_ack = max(now, self._next_ack) + self._interval
            ack = asyncio.create_task(self._ack(cdp, params.get("sessionId"), delay))
            self._acks.add(ack)
            ack.add_done_callback(self._acks.discard)
        if self._closed:
            return
        stamp = (params.get("metadata") or {}).get("timestamp")
        t = (float(stamp) if stamp else self._wall()) - self._origin
        try:
            jpeg = base64.b64decode(params["data"])
        except (KeyError, ValueError):
            return
        self.keep(Frame(t, jpeg))

    def keep(self, frame: Frame) -> None:
        """Add a frame (in time order); a chunk is cut once it spans ``chunk_seconds``.
        Dropped while :attr:`paused` (``pause_recording``)."""
        if self.paused or (self._frames and frame.t < self._frames[-1].t):
            return
        self.frames_kept += 1
        self._frames.append(frame)
        if frame.t - self._frames[0].t >= self._chunk_seconds:
            self._cut()

    def _cut(self) -> None:
        if self._frames:
            meta = (self._seq, max(0.0, self._frames[0].t), max(0.0, self._frames[-1].t))
            data = pack_frames(self._frames)
            self.spool.add(video_chunk_key(self._bot_id, self._seq), data, meta)
            self._seq += 1
            self._frames = []

    async def _ack(self, cdp: CdpSession, session_id: Any, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if not self._closed:
            with contextlib.suppress(Exception):  # the page or session is gone
                await cdp.send("Page.screencastFrameAck", {"sessionId": session_id})

    async def run(self) -> None:
        """The writer: store each chunk in order. Ends after :meth:`close`."""
        await self.spool.run()

    def _stored(self, meta: tuple[int, float, float]) -> None:
        self.chunks_written += 1

    def _lost(self, metas: list[tuple[int, float, float]], reason: LostReason) -> None:
        (first, start, _), (last, _, end) = metas[0], metas[-1]
        log.warning("bot %s: video from %.1f s to %.1f s of the recording is lost (%s)",
                    self._bot_id, start, end, reason)  # fmt: skip
        if self._emit is not None:
            self._emit(
                MediaLost(
                    at=datetime.fromtimestamp(self._wall(), UTC),
                    media="video",
                    reason=reason,
                    first_seq=first,
                    last_seq=last,
                    offset_s=start,
                    duration_s=max(0.0, end - start),
                )
            )

    async def close(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Stop capturing, queue the partial chunk, wait (bounded) for the writer."""
        if self._closed:
            return
        self._closed = True
        for task in [*self._acks, *([self._poller] if self._poller else [])]:
            task.cancel()
        if self._poller is not None:
            await asyncio.gather(self._poller, return_exceptions=True)
        if self._cdp is not None and self._source == "screencast":
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._cdp.send("Page.stopScreencast")
        if self._cdp is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._cdp.detach()
        self._cut()
        await self.spool.close(timeout)
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        log.info(
            "video: %d frames received, %d kept, %d chunks written",
            self.frames_received,
            self.frames_kept,
            self.chunks_written,
        )

"""The bot's recorders: the audio always, the video when the bot asked for it.

:class:`Recording` starts them once (when remote audio flows, or at the in-call report if none
was seen flowing before it), pauses them for ``pause_recording`` (:mod:`.pause`) and closes them
once: both at once, since each may wait for storage to take what it spooled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from meetbot.contract.assignment import Assignment
from meetbot.contract.reports import Report
from meetbot.ports import Clock, Storage
from meetbot.runner.capture import AudioRecorder
from meetbot.runner.live_audio import LiveSlicer
from meetbot.runner.pause import RecordingPause
from meetbot.runner.separate_audio import SeparateTracks
from meetbot.runner.session_ports import Browser, SessionConfig
from meetbot.runner.video import VideoRecorder, cdp_session

log = logging.getLogger("meetbot.runner.session")


class Recording:
    def __init__(
        self,
        storage: Storage,
        assignment: Assignment,
        emit: Callable[[Report], None],
        clock: Clock,
        config: SessionConfig,
    ) -> None:
        self.storage = storage
        self.emit = emit
        self.config = config
        self.audio = AudioRecorder(
            storage, assignment.bot_id, emit, clock, spool_bytes=config.spool_bytes
        )
        self.audio.live = LiveSlicer()
        self.audio.separate = SeparateTracks(
            storage, assignment.bot_id, emit, clock, paused=lambda: self.audio.paused
        )
        self.video = self.video_for(assignment)
        self.pausing = RecordingPause(self.audio, lambda: self.video, emit, clock)

    def video_for(self, assignment: Assignment) -> VideoRecorder | None:
        """The video recorder ``assignment`` asks for (``None``: audio only)."""
        return VideoRecorder.for_assignment(
            self.storage, assignment, emit=self.emit, spool_bytes=self.config.video_spool_bytes
        )

    async def start(self, browser: Browser) -> None:
        """Start recording (idempotent)."""
        if self.audio.started_at is not None:
            return
        self.audio.start()
        if not await browser.start_capture():
            log.error("in the call, but the audio capture is not running")
        if self.video is not None and not self.video.started and self.audio.started_at:
            try:
                await self.video.start(await cdp_session(browser.page), self.audio.started_at)
            except Exception as exc:
                log.error("no video: %r", exc)

    def owners(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Whose each remote audio track is (``Snapshot.audio_owners``): separate audio."""
        if self.audio.separate is not None and pairs:
            self.audio.separate.set_owners(pairs)

    async def stop(self, browser: Browser) -> None:
        await browser.stop_capture()
        await self.close()

    async def close(self) -> None:
        await asyncio.gather(self.audio.close(), *([self.video.close()] if self.video else []))

"""Pausing the recording (``pause_recording`` / ``resume_recording``) on the runner's side.

The control plane says in every answer whether the bot's recording should be paused
(:attr:`meetbot.contract.reports.Commands.paused`, turned into ``pause``/``resume`` commands).
:class:`RecordingPause` applies the wish to the recorders (audio becomes silence of the same
length, video frames are dropped) and reports each change once, with the recording's offset:
:class:`~meetbot.contract.reports.RecordingPaused` / :class:`~.RecordingResumed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from meetbot.contract.reports import RecordingPaused, RecordingResumed, Report
from meetbot.ports import Clock

log = logging.getLogger(__name__)


class Pausable(Protocol):
    paused: bool


class AudioClock(Pausable, Protocol):
    @property
    def recorded_seconds(self) -> float: ...


class RecordingPause:
    """Applies pause/resume wishes to the audio recorder and the video recorder (if any)."""

    def __init__(
        self,
        audio: AudioClock,
        video: Callable[[], Pausable | None],
        emit: Callable[[Report], None],
        clock: Clock,
    ) -> None:
        self._audio = audio
        self._video = video
        self._emit = emit
        self._clock = clock
        self.paused = False

    def set(self, paused: bool) -> None:
        """Pause or resume; a wish that is already so changes and reports nothing."""
        video = self._video()
        if video is not None:
            video.paused = paused
        if paused == self.paused:
            return
        self.paused = self._audio.paused = paused
        offset = self._audio.recorded_seconds
        log.info("recording %s at %.1f s", "paused" if paused else "resumed", offset)
        at = self._clock.now()
        report = RecordingPaused if paused else RecordingResumed
        self._emit(report(at=at, offset_s=offset))

"""What a runner's session needs of the world, as Protocols and settings: the browser it
drives (:class:`meetbot.runner.browser.ChromiumBrowser`), the channel to the control plane
(:class:`meetbot.runner.reporter.Reporter`), and its timings. Fakes:
:mod:`meetbot.testing.fakes_runner`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from meetbot.contract.reports import AudioOut, Command, JoinAnswer, Report
from meetbot.runner.capture import SPOOL_BYTES
from meetbot.runner.egress import Blocked
from meetbot.runner.video import SPOOL_BYTES as VIDEO_SPOOL_BYTES

if TYPE_CHECKING:
    from playwright.async_api import Page


class Browser(Protocol):
    """What the session needs of a launched browser (:class:`runner.browser.ChromiumBrowser`)."""

    page: Page
    on_audio: Callable[[bytes], None] | None
    on_frames: Callable[[str, int, float, bytes], None] | None
    crashed: bool

    @property
    def blocked_navigation(self) -> Blocked | None: ...

    async def add_init_scripts(self, scripts: Sequence[str]) -> None: ...

    async def start_capture(self) -> bool: ...

    async def audio_flowing(self) -> bool: ...

    async def stop_capture(self) -> None: ...

    async def screenshot(self) -> bytes: ...

    async def html(self) -> str: ...

    async def close(self) -> None: ...


class ReportChannel(Protocol):
    """What the session needs of the control plane client (:class:`runner.reporter.Reporter`)."""

    commands: asyncio.Queue[Command]
    lost: asyncio.Event
    camera: str | None
    """The picture the control plane wants shown (``Commands.camera``), as last answered."""

    output_audio: list[AudioOut]
    """The clips to say (``Commands.output_audio``), as last answered."""

    def emit(self, report: Report) -> None: ...

    async def drain(self, timeout: float) -> bool: ...

    async def send_loop(self) -> None: ...

    async def command_loop(self) -> None: ...

    async def start_joining(self, at: datetime) -> JoinAnswer | None: ...

    async def picture(self, key: str) -> bytes:
        """The bot's picture ``key``, read through the control plane."""
        ...

    async def clip(self, key: str) -> bytes:
        """A clip to say ``key`` (48 kHz mono s16le PCM), read through the control plane."""
        ...


@dataclass(frozen=True, slots=True)
class SessionConfig:
    poll_interval: float = 0.25
    warm_lead: float = 20.0
    join_timeout: float = 60.0
    poll_timeout: float = 10.0
    poll_failures: int = 3
    leave_timeout: float = 10.0
    drain_timeout: float = 15.0
    spool_bytes: int = SPOOL_BYTES  # kept on disk while storage is unreachable (:mod:`.spool`)
    video_spool_bytes: int = VIDEO_SPOOL_BYTES

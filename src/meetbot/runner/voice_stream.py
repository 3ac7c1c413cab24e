"""Streamed-in voice (issue 16 §2), on the runner's side: PCM a client sends on the bot's
stream, played into the meeting as it arrives.

:class:`VoiceSocket` is the runner's voice socket (``GET /internal/bots/{id}/voice``, a
WebSocket to the control plane it reports to, with its per-bot token; see
:mod:`meetbot.contract.voice_in`): each binary frame goes into a :class:`PcmBuffer`.
:class:`StreamPlayer` feeds the page's microphone (``js/microphone.js``, ``feed``) with each
frame as it arrives; what the page has scheduled ahead and what waits in the buffer are kept
to :data:`~meetbot.contract.voice_in.MAX_BUFFER_S` in all (the oldest dropped, counted). It
holds the microphone unmuted (shared with :class:`~meetbot.runner.voice.Voice`'s clips) while
it plays, the unmute beside the feeding (a first unmute may take seconds: the voice stays
live, not delayed), and lets it go :data:`HANGOVER` seconds after the last frame played. A
page that got ahead (a burst after a stall) catches up on silence (:data:`CATCH_UP`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from meetbot.contract.assignment import Assignment
from meetbot.contract.platforms import info
from meetbot.contract.voice_in import BYTES_PER_SECOND, MAX_BUFFER_S, MAX_FRAME_BYTES, VOICE_PATH
from meetbot.runner.pcm_buffer import PcmBuffer, skip_silence

if TYPE_CHECKING:
    from playwright.async_api import Page

    from meetbot.runner.reporter import Reporter
    from meetbot.runner.voice import Voice

log = logging.getLogger(__name__)

TICK: Final = 0.02
"""How often the player looks at the page while it plays (a 20 ms frame's length); a frame
that arrives wakes it at once."""
BUFFER_S: Final = MAX_BUFFER_S
"""The runner's buffer; with what the page has scheduled ahead, it is trimmed to
``MAX_BUFFER_S`` in all before the page is fed."""
CATCH_UP: Final = 0.1
"""While the page is more than this ahead (frames that piled up during a stall came in a
burst), silent 10 ms blocks are skipped, so the voice gets back to live without cutting a
word."""
HANGOVER: Final = 0.3
"""The microphone goes muted this long after the last streamed frame played."""
BACKOFF_MAX: Final = 5.0


class Feeder(Protocol):
    """Where streamed PCM plays (the page's microphone)."""

    async def feed(self, pcm: bytes) -> float:
        """Play ``pcm`` after what was fed before; answer the seconds scheduled ahead."""
        ...

    async def end(self) -> None: ...


class PageFeeder:
    """``window.__meetbotMic.feed`` / ``feedEnd`` (``js/microphone.js``)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    async def feed(self, pcm: bytes) -> float:
        ahead = await self.page.evaluate(
            "(b64) => window.__meetbotMic.feed(b64)", base64.b64encode(pcm).decode()
        )
        return float(ahead)

    async def end(self) -> None:
        await self.page.evaluate("() => window.__meetbotMic && window.__meetbotMic.feedEnd()")


class StreamPlayer:
    """Feeds the page from the buffer, and holds the microphone while it does."""

    def __init__(
        self, buffer: PcmBuffer, voice: Voice, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.buffer = buffer
        self.voice = voice
        self._now = monotonic
        self.active = False
        """Streamed voice plays (the microphone is held for it)."""
        self._ahead = 0.0
        self._fed_at = 0.0
        self.fed_bytes = 0
        self.skipped_bytes = 0
        self._feeds = 0
        self._ahead_sum = 0.0
        """Silence skipped to catch up (:data:`CATCH_UP`)."""
        self._holding: asyncio.Task[None] | None = None
        """The unmute under way (a first one may publish the bot's feed: seconds on Janus)."""

    def ahead(self) -> float:
        """Seconds the page still has to play of what was fed."""
        return max(0.0, self._ahead - (self._now() - self._fed_at))

    async def step(
        self,
        feeder: Feeder,
        unmute: Callable[[], Awaitable[Any]],
        mute: Callable[[], Awaitable[Any]],
    ) -> None:
        ahead = self.ahead()
        if not len(self.buffer):
            if self.active and self._now() - self._fed_at - self._ahead >= HANGOVER:
                self.active = False
                await feeder.end()
                if self._holding is not None:
                    await self._holding
                    self._holding = None
                await self.voice.release(mute)
                log.info(
                    "streamed voice: ends (%.1f s played in all, %.2f s dropped, %.2f s of"
                    " silence skipped; the page was %.0f ms ahead on average when fed)",
                    self.fed_bytes / BYTES_PER_SECOND,
                    self.buffer.dropped_bytes / BYTES_PER_SECOND,
                    self.skipped_bytes / BYTES_PER_SECOND,
                    1000 * self._ahead_sum / max(1, self._feeds),
                )
            return
        self.buffer.trim(round((MAX_BUFFER_S - ahead) * BYTES_PER_SECOND))
        if not len(self.buffer):
            return
        if not self.active:  # unmuted beside the feeding: the voice stays live meanwhile
            self.active = True
            self._holding = asyncio.create_task(self.voice.hold(unmute), name="voice.unmute")
            log.info("streamed voice: starts")
        pcm = self.buffer.take(len(self.buffer))
        if ahead > CATCH_UP:
            kept = skip_silence(pcm, round((ahead - CATCH_UP) * BYTES_PER_SECOND))
            self.skipped_bytes += len(pcm) - len(kept)
            pcm = kept
            if not pcm:
                return
        self._feeds += 1
        self._ahead_sum += ahead
        self._ahead = await feeder.feed(pcm)
        self._fed_at = self._now()
        self.fed_bytes += len(pcm)

    async def follow(
        self,
        arrived: asyncio.Event,
        page: Callable[[], Page | None],
        steps: Callable[[Page], tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]],
    ) -> None:
        """Play what the voice socket brings, until cancelled."""
        while True:
            arrived.clear()
            if not len(self.buffer):  # wake on the next frame (or a tick, to end the stream)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK if self.active else None):
                        await arrived.wait()
            current = page()
            if current is None:
                self.buffer.clear()
                continue
            unmute, mute = steps(current)
            try:
                await self.step(PageFeeder(current), unmute, mute)
            except Exception as exc:
                log.warning("streamed voice: %r", exc)
                self.buffer.clear()
                await asyncio.sleep(0.5)


class VoiceSocket:
    """The runner's voice socket: frames from the control plane into the buffer."""

    def __init__(
        self,
        control_url: Callable[[], str],
        bot_id: str,
        token: str,
        buffer: PcmBuffer,
    ) -> None:
        self._control_url = control_url
        self._path = VOICE_PATH.format(bot_id=bot_id)
        self._headers = {"Authorization": f"Bearer {token}"}
        self.buffer = buffer
        self.arrived = asyncio.Event()
        self.connected = False

    def url(self) -> str:
        base = self._control_url().rstrip("/")
        scheme, _, rest = base.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{self._path}"

    def take(self, frame: bytes | str) -> None:
        if isinstance(frame, bytes):
            self.buffer.push(frame)
            self.arrived.set()

    async def run(self, wanted: Callable[[], bool]) -> None:
        """Stay connected while ``wanted()`` (the bot has a page), until cancelled."""
        from websockets.asyncio.client import connect  # the runner's one WebSocket client
        from websockets.exceptions import InvalidStatus

        backoff = 0.25
        while True:
            if not wanted():
                await asyncio.sleep(0.5)
                continue
            try:
                async with connect(
                    self.url(),
                    additional_headers=self._headers,
                    max_size=MAX_FRAME_BYTES + 64,
                    open_timeout=10,
                    proxy=None,
                ) as ws:
                    self.connected = True
                    backoff = 0.25
                    log.info("voice socket connected")
                    async for frame in ws:
                        self.take(frame)
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 404):  # the bot is gone: as the reporter
                    log.warning(
                        "voice socket refused (%d): no streamed voice", exc.response.status_code
                    )
                    return
                log.debug("voice socket: %r", exc)
            except Exception as exc:  # refused, reset, the control plane failed over
                log.debug("voice socket: %r", exc)
            self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)


def voice_stream(
    reporter: Reporter, assignment: Assignment, voice: Voice
) -> tuple[VoiceSocket, StreamPlayer] | None:
    """The voice socket and player of a bot whose platform can speak (the ``voice`` column
    of :mod:`meetbot.contract.platforms`), else ``None``."""
    if not info(assignment.platform).voice:
        return None
    buffer = PcmBuffer(BUFFER_S)
    socket = VoiceSocket(lambda: reporter.control_url, assignment.bot_id, assignment.token, buffer)
    return socket, StreamPlayer(buffer, voice)

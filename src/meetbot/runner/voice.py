"""The bot's voice (issue 16 §2, ``output_audio``), on the runner's side.

Every answer from the control plane carries the clips to say, in order
(:attr:`meetbot.contract.reports.Commands.output_audio`, a state: the queue as it stands).
:class:`Voice` follows it: it plays the first clip it has not finished (the bytes read through
the control plane, ``GET /internal/bots/{id}/output_audio``, with the runner's token), unmuted
through the page's adapter (its ``unmute(page)``/``mute(page)``, where it has them), and
reports ``output_audio_started`` and ``output_audio_finished``. A clip playing that the queue
no longer lists (``DELETE``, an ``interrupt``) is stopped and reported ``stopped``. The page
side is ``js/microphone.js`` (:class:`PageSpeaker`): the bot's microphone is a WebAudio track,
local, never a remote one, so the bot's recorder (remote tracks only) does not hear it.

Streamed-in voice (:mod:`.voice_stream`, set as :attr:`Voice.stream`) plays through the same
microphone: both hold it unmuted (:meth:`Voice.hold`, :meth:`Voice.release`) and it is muted
when neither plays.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, Protocol

from meetbot.contract.reports import AudioOut, OutputAudioFinished, OutputAudioStarted, Report
from meetbot.ports import Clock

if TYPE_CHECKING:
    from playwright.async_api import Page

    from meetbot.runner.voice_stream import StreamPlayer, VoiceSocket

log = logging.getLogger(__name__)

FOLLOW_INTERVAL: Final = 0.1
MUTE_TAIL: Final = 0.3
"""Seconds a clip that ended by itself stays unmuted: the page reports a clip ended when its
last samples enter the audio graph, and the microphone track carries them a little later
(muting at once cut them off, or, in the platform fixtures, left them on a muted track)."""


def microphone_script() -> str:
    """``js/microphone.js``: the getUserMedia replacement whose audio track the bot speaks in."""
    return (resources.files("meetbot.runner") / "js" / "microphone.js").read_text(encoding="utf-8")


class Speaker(Protocol):
    """Where clips play (the page's microphone)."""

    async def play(self, clip_id: str, pcm: bytes) -> None: ...

    async def stop(self) -> None: ...

    async def ended(self) -> list[str]:
        """The clips that played to their end since the last call."""
        ...


class PageSpeaker:
    """The page's ``window.__meetbotMic`` (``js/microphone.js``)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    async def play(self, clip_id: str, pcm: bytes) -> None:
        data = base64.b64encode(pcm).decode()
        await self.page.evaluate(
            "([id, b64]) => window.__meetbotMic.play(id, b64)", [clip_id, data]
        )

    async def stop(self) -> None:
        await self.page.evaluate("() => window.__meetbotMic && window.__meetbotMic.stop()")

    async def ended(self) -> list[str]:
        state: dict[str, Any] = await self.page.evaluate(
            "() => window.__meetbotMic ? window.__meetbotMic.state() : {ended: []}"
        )
        return [str(i) for i in state.get("ended", [])]


class Voice:
    """Which clip plays, and the reports that say so."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[bytes]],
        emit: Callable[[Report], None],
        clock: Clock,
        *,
        mute_tail: float = MUTE_TAIL,
    ) -> None:
        self._read = read
        self._mute_tail = mute_tail
        self._emit = emit
        self._clock = clock
        self.current: str | None = None
        """The clip playing now."""
        self.unmuted = False
        self._done: set[str] = set()
        """Clips reported finished (the queue may list them until the next answer)."""
        self.stream: tuple[VoiceSocket, StreamPlayer] | None = None
        """Streamed-in voice (:mod:`.voice_stream`), where the runner takes it."""
        self._ended_at: float | None = None
        """When the last clip ended by itself (monotonic): the mute waits :data:`MUTE_TAIL`."""

    def streaming(self) -> bool:
        return self.stream is not None and self.stream[1].active

    async def hold(self, unmute: Callable[[], Awaitable[Any]]) -> None:
        """Something plays: unmuted (once)."""
        if not self.unmuted:
            self.unmuted = True
            await unmute()

    async def release(self, mute: Callable[[], Awaitable[Any]]) -> None:
        """Streamed voice is over: muted, unless a clip plays."""
        if self.unmuted and self.current is None:
            self.unmuted = False
            await mute()

    async def step(
        self,
        wanted: Sequence[AudioOut],
        speaker: Speaker,
        unmute: Callable[[], Awaitable[Any]],
        mute: Callable[[], Awaitable[Any]],
    ) -> None:
        """One look at the queue: finish what ended, stop what was dropped, play the next."""
        if self.current is not None and self.current in await speaker.ended():
            self._finish(self.current, stopped=False)
        left = [c for c in wanted if c.id not in self._done]
        if self.current is not None and self.current not in {c.id for c in left}:
            await speaker.stop()
            self._finish(self.current, stopped=True)
        if self.current is None and left:
            await self._play(left[0], speaker, unmute)
        if self.current is None and not self.streaming() and not self._tail_playing():
            await self.release(mute)

    def _tail_playing(self) -> bool:
        """A clip ended by itself less than :data:`MUTE_TAIL` ago: its last samples are still
        on their way through the page's audio graph and the microphone track."""
        ended = self._ended_at
        return ended is not None and time.monotonic() - ended < self._mute_tail

    async def _play(
        self, clip: AudioOut, speaker: Speaker, unmute: Callable[[], Awaitable[Any]]
    ) -> None:
        try:
            pcm = await self._read(clip.key)
        except Exception as exc:
            log.warning("clip %s could not be read: %r", clip.id, exc)
            self._finish(clip.id, stopped=True)  # dropped: the queue goes on
            return
        await self.hold(unmute)
        await speaker.play(clip.id, pcm)
        self.current = clip.id
        self._emit(OutputAudioStarted(at=self._clock.now(), id=clip.id))
        log.info("voice: saying %s (%.1f s)", clip.id, clip.duration_s)

    def _finish(self, clip_id: str, *, stopped: bool) -> None:
        self._ended_at = None if stopped else time.monotonic()  # a stopped one: mute at once
        self._done.add(clip_id)
        if self.current == clip_id:
            self.current = None
        self._emit(OutputAudioFinished(at=self._clock.now(), id=clip_id, stopped=stopped))

    async def follow(
        self,
        wanted: Callable[[], Sequence[AudioOut]],
        page: Callable[[], Page | None],
        platform: Callable[[], object],
    ) -> None:
        """Say each clip the control plane queues (and play streamed-in voice), until
        cancelled."""
        if self.stream is not None:
            await asyncio.gather(
                self._follow_clips(wanted, page, platform), self._follow_stream(page, platform)
            )
        else:
            await self._follow_clips(wanted, page, platform)

    async def _follow_stream(
        self, page: Callable[[], Page | None], platform: Callable[[], object]
    ) -> None:
        assert self.stream is not None
        socket, player = self.stream

        def steps(
            current: Page,
        ) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]:
            adapter = platform()
            return _adapter_step(adapter, "unmute", current), _adapter_step(
                adapter, "mute", current
            )

        await asyncio.gather(
            socket.run(lambda: page() is not None), player.follow(socket.arrived, page, steps)
        )

    async def _follow_clips(
        self,
        wanted: Callable[[], Sequence[AudioOut]],
        page: Callable[[], Page | None],
        platform: Callable[[], object],
    ) -> None:
        while True:
            await asyncio.sleep(FOLLOW_INTERVAL)
            current, queue = page(), wanted()
            if current is None or (not queue and self.current is None and not self.unmuted):
                continue
            adapter = platform()
            try:
                await self.step(
                    queue, PageSpeaker(current), _adapter_step(adapter, "unmute", current),
                    _adapter_step(adapter, "mute", current),
                )  # fmt: skip
            except Exception as exc:
                log.warning("voice: %r", exc)
                await asyncio.sleep(1.0)


def _adapter_step(adapter: object, name: str, page: Page) -> Callable[[], Awaitable[Any]]:
    """The adapter's ``unmute(page)`` / ``mute(page)``, or nothing where it has none (the
    microphone track is enabled and disabled by ``js/microphone.js`` either way)."""
    method: Callable[[Page], Awaitable[Any]] | None = getattr(adapter, name, None)

    async def run() -> None:
        if method is not None:
            await method(page)

    return run

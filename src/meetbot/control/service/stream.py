"""A bot's real-time stream: its events, in order, to a WebSocket client (issue 16).

The stream is the events feed narrowed to one bot: every event a use case emits for the bot
(status changes, participants joining, leaving and speaking, transcript data, ...) is already
in the outbox in the transaction that made the change, with its feed ``seq``. A stream reads
the bot's events after a cursor, sends them, and waits: for a wake from this process (a use
case committed events) or for its poll interval (an event committed on another replica). So
it works across replicas with nothing but the database, and a client that reconnects with its
last cursor misses nothing.

Cursors are the feed's (:class:`~meetbot.control.cursors.CursorCodec`), sealed for the list
``stream:<bot id>`` of the bot's workspace. Browsers cannot set headers on a WebSocket, so a
key holder may ask for a **stream token**: the token's expiry, sealed by the same codec for
the list ``stream_token:<bot id>``; it opens that bot's stream only, until it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field
from datetime import datetime

from meetbot import errors
from meetbot.contract.lifecycle import TERMINAL
from meetbot.contract.media_format import SAMPLE_RATE, SAMPLE_WIDTH
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.contract.platforms import PLATFORMS, Platform, info
from meetbot.contract.reports import AudioChunk, ParticipantAudioChunk
from meetbot.control.cursors import CursorCodec
from meetbot.control.service.chat import UnsupportedForPlatform
from meetbot.control.service.core import Services
from meetbot.errors import InvalidCursor
from meetbot.ports import Storage

STREAM_PAGE = 200
"""Events read per database round trip."""
AUDIO_PAGE = 20
"""Audio chunks read per database round trip (30 s of audio)."""
AUDIO_MODES = ("mixed", "separate")
AUDIO_REPORTS = ("audio_chunk", "participant_audio_chunk")
"""The reports of stored audio chunks a stream or a push reads: the mix, participants' own."""
REPORT_OF_MODE = {"mixed": "audio_chunk", "separate": "participant_audio_chunk"}
_ID_LENGTH = struct.Struct(">H")
_OFFSET_MS = struct.Struct(">I")


def separate_frame(participant_id: str, offset_s: float, pcm: bytes) -> bytes:
    """A binary frame of ``?audio=separate``: the participant's id (a big-endian uint16 byte
    length, then UTF-8), where the PCM starts on the recording's clock (big-endian uint32
    milliseconds), then 16 kHz mono s16le PCM."""
    who = participant_id.encode()
    offset_ms = min(max(round(offset_s * 1000), 0), 0xFFFFFFFF)
    return _ID_LENGTH.pack(len(who)) + who + _OFFSET_MS.pack(offset_ms) + pcm


def parse_separate_frame(frame: bytes) -> tuple[str, float, bytes]:
    """``(participant id, offset seconds, PCM)`` of a :func:`separate_frame`."""
    (n,) = _ID_LENGTH.unpack_from(frame)
    who = frame[2 : 2 + n].decode()
    (offset_ms,) = _OFFSET_MS.unpack_from(frame, 2 + n)
    return who, offset_ms / 1000, frame[6 + n :]


def stream_kind(bot_id: str) -> str:
    return f"stream:{bot_id}"


def token_kind(bot_id: str) -> str:
    return f"stream_token:{bot_id}"


@dataclass(eq=False)
class Pulse:
    """Wakes every stream of this process when events committed (subscribe :meth:`wake` to
    ``events_committed``). A missed wake costs one poll interval, never an event."""

    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            pass


@dataclass(frozen=True, slots=True)
class StreamToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Frame:
    """One event of the stream and the cursor that resumes after it."""

    event: OutboxEvent
    cursor: str

    def payload(self) -> dict[str, object]:
        return {**self.event.payload(), "cursor": self.cursor}


async def bot_of(svc: Services, workspace_id: str, bot_id: str) -> Bot:
    async with svc.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id)
    if bot is None or bot.workspace_id != workspace_id:
        raise errors.NotFound(f"No bot {bot_id} in this workspace.")
    return bot


async def issue_token(
    svc: Services, cursors: CursorCodec, workspace_id: str, bot_id: str
) -> StreamToken:
    """A token that opens ``bot_id``'s stream (only) for ``stream_token_ttl`` seconds."""
    await bot_of(svc, workspace_id, bot_id)
    expires = int(svc.clock.now().timestamp() + svc.settings.stream_token_ttl)
    token = cursors.encode(token_kind(bot_id), workspace_id, expires)
    return StreamToken(token, datetime.fromtimestamp(expires, svc.clock.now().tzinfo))


async def workspace_of_token(svc: Services, cursors: CursorCodec, bot_id: str, token: str) -> str:
    """The workspace a stream token was issued in, if it is ``bot_id``'s and not expired."""
    async with svc.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id)
    if bot is None:
        raise errors.Unauthorized("Invalid or expired stream token.")
    try:
        expires = cursors.decode(token_kind(bot_id), bot.workspace_id, token)
    except InvalidCursor as exc:
        raise errors.Unauthorized("Invalid or expired stream token.") from exc
    if expires <= svc.clock.now().timestamp():
        raise errors.Unauthorized("Invalid or expired stream token.")
    return bot.workspace_id


@dataclass(eq=False)
class BotStream:
    """The frames of one bot's stream after a cursor; :meth:`next_frames` waits for more."""

    svc: Services
    cursors: CursorCodec
    pulse: Pulse
    workspace_id: str
    bot_id: str
    after_seq: int = 0
    ended: bool = False
    """The bot's terminal status was sent: nothing more will come."""

    @classmethod
    async def open(
        cls,
        svc: Services,
        cursors: CursorCodec,
        pulse: Pulse,
        workspace_id: str,
        bot_id: str,
        after: str | None,
    ) -> BotStream:
        """404 for another workspace's bot; 400 ``invalid_cursor`` for a foreign cursor."""
        await bot_of(svc, workspace_id, bot_id)
        seq = cursors.decode(stream_kind(bot_id), workspace_id, after) if after else 0
        return cls(svc, cursors, pulse, workspace_id, bot_id, seq)

    async def read(self) -> list[Frame]:
        """The frames committed after the cursor (at most a page), moving the cursor."""
        async with self.svc.store.transaction(write=False) as tx:
            found = await tx.events.list_after(
                self.workspace_id, self.after_seq, STREAM_PAGE, bot_id=self.bot_id
            )
        frames = []
        for event in found:
            assert event.seq is not None
            self.after_seq = event.seq
            cursor = self.cursors.encode(stream_kind(self.bot_id), self.workspace_id, event.seq)
            frames.append(Frame(event, cursor))
            self.ended |= _is_terminal(event)
        return frames

    async def next_frames(self) -> list[Frame]:
        """The next frames: at once if some are committed, else after a wake or a poll."""
        while True:
            frames = await self.read()
            if frames or self.ended:
                return frames
            await self.pulse.wait(self.svc.settings.stream_poll_interval)


def check_audio(mode: str | None, storage: Storage | None) -> None:
    """``?audio=``: ``mixed`` or ``separate`` where the server has media storage (whether the
    bot's platform gives separate tracks is :meth:`AudioFeed.open`'s check)."""
    if mode is None:
        return
    if mode not in AUDIO_MODES:
        raise errors.InvalidRequest("audio: 'mixed' or 'separate'.")
    if storage is None:
        raise errors.InvalidRequest("audio: this server has no media storage.")


def check_separate(platform: Platform) -> None:
    """400 ``unsupported_for_platform`` unless the platform gives separate tracks."""
    if not info(platform).separate_audio:
        separate = ", ".join(p.title for p in PLATFORMS if p.separate_audio)
        raise UnsupportedForPlatform(
            f"Separate audio is not available on {info(platform).title}: its runner gets the"
            f" call's audio mixed (separate tracks: {separate}); use 'mixed'."
        )


@dataclass(eq=False)
class AudioFeed:
    """The bot's audio from now on (16 kHz mono s16le PCM). ``mixed``: the call's audio, raw
    PCM frames; ``separate``: each participant's own (``participant_audio_chunk``, 1 s chunks
    with sound only, :func:`separate_frame`), read from media storage as soon as its report
    is committed (the runner's chunk length plus its holdback and report interval late).

    ``mixed`` takes the live copy (:mod:`meetbot.contract.live_audio`) where this process has
    it (``live``: the queue of the bot's pieces, while its runner's live socket is on this
    replica: about the live holdback late) and the stored chunks (``audio_chunk``, 1.5 s each)
    otherwise: whichever brings a stretch of the recording first sends it, once, in order (a
    position on the recording's clock, :attr:`sent_until`, is never sent twice)."""

    svc: Services
    storage: Storage
    pulse: Pulse
    bot_id: str
    after_seq: int = 0
    mode: str = "mixed"
    live: asyncio.Queue[tuple[int, bytes]] | None = None
    sent_until: int = 0
    """Samples of the recording sent so far (``mixed``)."""
    _held: list[tuple[int, bytes]] = field(default_factory=list)
    _stored_due: bool = True

    @classmethod
    async def open(
        cls, svc: Services, storage: Storage, pulse: Pulse, bot_id: str, mode: str = "mixed"
    ) -> AudioFeed:
        async with svc.store.transaction(write=False) as tx:
            after = await tx.observations.last_seq(bot_id)
            bot = await tx.bots.get(bot_id)
        if mode == "separate" and bot is not None:
            check_separate(bot.meeting.platform)
        return cls(svc, storage, pulse, bot_id, after, mode)

    async def read(self) -> list[bytes]:
        """The stored chunks reported since the last read (what the live copy sent of them is
        left out)."""
        async with self.svc.store.transaction(write=False) as tx:
            found = await tx.observations.list_after(
                self.bot_id, (REPORT_OF_MODE[self.mode],), self.after_seq, AUDIO_PAGE
            )
        out = []
        for seq, report in found:
            self.after_seq = seq
            key = getattr(report, "key", None)
            if not isinstance(key, str):
                continue
            if isinstance(report, ParticipantAudioChunk):
                pcm = await self.storage.get(key)
                out.append(separate_frame(report.participant_id, report.offset_s, pcm))
                continue
            if isinstance(report, AudioChunk):
                begin = round(report.offset_s * SAMPLE_RATE)
                if begin + round(report.duration_s * SAMPLE_RATE) <= self.sent_until:
                    continue  # the live copy sent it
                pcm = self._unsent(begin, await self.storage.get(key))
                if pcm:
                    out.append(pcm)
        return out

    def take_live(self) -> list[bytes]:
        """The live pieces that came, less what was sent already."""
        pieces, self._held = self._held, []
        while self.live is not None and not self.live.empty():
            pieces.append(self.live.get_nowait())
        out = []
        for offset, pcm in pieces:
            if unsent := self._unsent(offset, pcm):
                out.append(unsent)
        return out

    def _unsent(self, begin: int, pcm: bytes) -> bytes:
        """``pcm`` starting at sample ``begin``, less what precedes :attr:`sent_until`."""
        end = begin + len(pcm) // SAMPLE_WIDTH
        if end <= self.sent_until:
            return b""
        cut = max(0, self.sent_until - begin)
        self.sent_until = end
        return pcm[cut * SAMPLE_WIDTH : end * SAMPLE_WIDTH - begin * SAMPLE_WIDTH]

    async def next_pcm(self) -> list[bytes]:
        """The next frames: live pieces as they come; stored chunks once their reports are
        committed (after a wake or a poll)."""
        while True:
            if self._stored_due:
                self._stored_due = False
                pcm = self.take_live() + await self.read()
            else:
                pcm = self.take_live()
            if pcm:
                return pcm
            self._stored_due = await self._wait()

    async def _wait(self) -> bool:
        """Wait for a live piece (``False``), or a wake or the poll interval (``True``)."""
        interval = self.svc.settings.stream_poll_interval
        if self.live is None:
            await self.pulse.wait(interval)
            return True
        getting = asyncio.ensure_future(self.live.get())
        polling = asyncio.ensure_future(self.pulse.wait(interval))
        await asyncio.wait({getting, polling}, return_when=asyncio.FIRST_COMPLETED)
        for task in (getting, polling):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if getting.done() and not getting.cancelled():
            self._held.append(getting.result())
        return polling.done() and not polling.cancelled()


def _is_terminal(event: OutboxEvent) -> bool:
    if event.type == "bot.deleted":
        return True
    if event.type != "status_update":
        return False
    return str(event.data.get("new_status")) in {s.value for s in TERMINAL}

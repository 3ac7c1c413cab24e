"""The recording encoded during the call: each completed segment of a bot's chunks, in the
background (see :mod:`meetbot.control.media.recording_segments` for the segments and how the
final pass reuses them).

:class:`SegmentRecorder` is fed the ``chunk_stored`` reaction, like live transcription. A
segment (chunks ``seq`` ``k·n … (k+1)·n - 1``) is encoded once all its chunks were reported,
from storage, by one ffmpeg reading them on its stdin; its audio and then its manifest are
stored. A chunk reported again for a segment already made queues it again; a chunk missing
from storage leaves the segment to the final pass. WAV bots, and bots no longer in the call,
get no segments.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from meetbot.contract.lifecycle import DISPATCHED
from meetbot.contract.media_format import SAMPLE_WIDTH, chunk_prefix, chunk_seq
from meetbot.control.media.drain import drain
from meetbot.control.media.ffmpeg import audio_codec_args, piped
from meetbot.control.media.recording_segments import (
    PCM_INPUT,
    SEGMENT_CHUNKS,
    ChunkRef,
    Manifest,
    segment_audio_key,
    segment_format,
    segment_manifest_key,
)
from meetbot.control.service import Services
from meetbot.ports import Storage
from meetbot.storage import ObjectNotFound

log = logging.getLogger("meetbot.control.media.segment_recorder")

_CONTENT_TYPES: Final = {"ogg": "audio/ogg", "mp3": "audio/mpeg", "wav": "audio/wav"}


@dataclass
class _BotSegments:
    codec: tuple[str, ...] | None = None
    """The bot's segment codec, once read (``()``: no segments, e.g. WAV)."""
    seen: dict[int, set[int]] = field(default_factory=dict)
    """Segment number → the ``seq`` of its chunks reported so far (until it is queued)."""
    queued: deque[int] = field(default_factory=deque)
    done: set[int] = field(default_factory=set)
    encoding: int | None = None
    again: set[int] = field(default_factory=set)
    """Segments that got a chunk while they were being encoded: encoded once more."""
    task: asyncio.Task[None] | None = None
    closed: bool = False


class SegmentRecorder:
    """Encodes each completed segment of a recording bot's chunks in the background."""

    def __init__(
        self,
        services: Services,
        storage: Storage,
        *,
        segment_chunks: int = SEGMENT_CHUNKS,
        ffmpeg: str = "ffmpeg",
        encoders: int = 1,
    ) -> None:
        """``segment_chunks``: chunks per segment; ``encoders``: segments encoded at once, all
        bots together (each encode is one ffmpeg on one core)."""
        if segment_chunks < 1:
            raise ValueError("A segment holds at least one chunk.")
        self.services = services
        self.storage = storage
        self.segment_chunks = segment_chunks
        self.ffmpeg = ffmpeg
        self._slots = asyncio.Semaphore(encoders)
        self._bots: dict[str, _BotSegments] = {}
        self._closed: set[str] = set()
        self._stopped = False
        self.encoded = 0
        """Segments stored so far (all bots)."""

    def on_chunk(self, bot_id: str, key: str, offset_s: float) -> None:
        """A chunk of ``bot_id`` was stored at ``key``; call on the event loop, never blocks."""
        if self._stopped or bot_id in self._closed:
            return
        seq = chunk_seq(key)
        if seq is None or not key.startswith(chunk_prefix(bot_id)):
            return
        state = self._bots.setdefault(bot_id, _BotSegments())
        if state.codec == ():
            return
        number = seq // self.segment_chunks
        if number in state.done or number in state.queued:
            # a late or rewritten chunk: encode its segment again (the final pass would see
            # the change anyway; this keeps it fast)
            state.done.discard(number)
            if number not in state.queued:
                state.queued.append(number)
        elif number == state.encoding:
            state.again.add(number)
        else:
            seen = state.seen.setdefault(number, set())
            seen.add(seq)
            if len(seen) == self.segment_chunks:
                del state.seen[number]
                state.queued.append(number)
        if state.queued and (state.task is None or state.task.done()):
            state.task = asyncio.create_task(self._drain(bot_id, state), name=f"segments:{bot_id}")

    async def idle(self, bot_id: str) -> None:
        """Wait until the bot's queued segments are encoded (tests, benchmarks)."""
        state = self._bots.get(bot_id)
        while state is not None and state.task is not None and not state.task.done():
            await asyncio.wait({state.task})

    async def close_bot(self, bot_id: str) -> None:
        """The call is over: drop queued segments (the final pass encodes them), let the one
        being encoded be stored, forget the bot."""
        self._closed.add(bot_id)
        if len(self._closed) > 10_000:
            self._closed = {bot_id}
        state = self._bots.pop(bot_id, None)
        if state is None:
            return
        state.closed = True
        state.queued.clear()
        if state.task is not None:
            await asyncio.gather(state.task, return_exceptions=True)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopped = True
        tasks = []
        for state in self._bots.values():
            state.closed = True
            state.queued.clear()
            if state.task is not None:
                tasks.append(state.task)
        await drain(tasks, timeout)
        self._bots.clear()

    # --- internals ------------------------------------------------------------------------

    async def _drain(self, bot_id: str, state: _BotSegments) -> None:
        if state.codec is None:
            try:
                state.codec = await self._codec(bot_id)
            except Exception:
                log.exception("bot %s: reading its recording format failed", bot_id)
                return  # the next completed segment tries again
        while state.queued and not state.closed and state.codec:
            number = state.queued.popleft()
            state.encoding = number
            try:
                async with self._slots:
                    await self._encode(bot_id, number, state.codec)
            except _ChunkGone:
                continue  # a gap: the final pass encodes this segment
            except Exception:
                log.exception("bot %s: encoding recording segment %d failed", bot_id, number)
                continue
            finally:
                state.encoding = None
            if number in state.again:
                state.again.discard(number)
                state.queued.append(number)
            else:
                state.done.add(number)
        if state.codec == ():
            state.queued.clear()
            state.seen.clear()

    async def _codec(self, bot_id: str) -> tuple[str, ...]:
        async with self.services.store.transaction(write=False) as tx:
            bot = await tx.bots.get(bot_id)
        if bot is None or bot.status not in DISPATCHED:
            return ()
        fmt = bot.recording.audio_format
        if fmt not in ("ogg", "mp3"):
            return ()
        return tuple(audio_codec_args(fmt))

    async def _encode(self, bot_id: str, number: int, codec: tuple[str, ...]) -> None:
        """Encode segment ``number`` from storage and store it (:class:`_ChunkGone`: one of
        its chunks is not there)."""
        first = number * self.segment_chunks
        prefix = chunk_prefix(bot_id)
        fmt = segment_format(codec)
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="meetbot-seg-"))
        try:
            out = workdir / f"segment.{fmt}"
            refs: list[ChunkRef] = []
            args = [*PCM_INPUT, "-i", "pipe:0", "-threads", "1", *codec, "-y", str(out)]
            async with piped(args, ffmpeg=self.ffmpeg) as feed:
                for seq in range(first, first + self.segment_chunks):
                    key = f"{prefix}{seq:08d}.pcm"
                    try:
                        data = await self.storage.get(key)
                    except ObjectNotFound:
                        raise _ChunkGone(key) from None  # ffmpeg is killed on the way out
                    data = data[: len(data) - len(data) % SAMPLE_WIDTH]
                    refs.append(ChunkRef.of(seq, key, data))
                    await feed.write(data)
            audio = await asyncio.to_thread(out.read_bytes)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        manifest = Manifest(codec, tuple(refs), len(audio), hashlib.sha256(audio).hexdigest())
        await self.storage.put(segment_audio_key(bot_id, first, fmt), audio, _CONTENT_TYPES[fmt])
        await self.storage.put(
            segment_manifest_key(bot_id, first), manifest.to_bytes(), "application/json"
        )
        self.encoded += 1


class _ChunkGone(Exception):
    """A chunk of the segment being encoded is not in storage (a gap)."""


__all__ = ["SegmentRecorder"]

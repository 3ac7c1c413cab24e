"""Each participant's own audio, where the platform gives separate tracks (``?audio=separate``).

On the RTP path (:mod:`meetbot.runner.capture`) the page hands over runs of each remote stream
apart, keyed ``<receiver>:<SSRC>``. Before they are mixed, :class:`SeparateTracks` puts each
stream's runs on a timeline of its own (:class:`~meetbot.runner.timeline.Timeline`: same
origin, same holdback as the mix, so offsets agree), cuts it into chunks of
:data:`CHUNK_SECONDS`, and stores the chunks with sound in them
(:func:`~meetbot.contract.media_format.participant_chunk_key`), each reported as a
:class:`~meetbot.contract.reports.ParticipantAudioChunk` once stored. Silence is not stored.

Whose a stream is comes from the platform adapter: ``Snapshot.audio_owners`` maps SSRCs to
participant ids (the Janus tap reads them from the subscribers' offers). A stream no adapter
names is reported under its key (``r<n>:<ssrc>``). While the recording is paused, nothing is
kept. Storage goes through a :class:`~meetbot.runner.spool.Spool` of its own (bounded: what it
cannot hold is dropped and logged, the mixed recording is never affected).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np

from meetbot.contract.media_format import SAMPLE_RATE, participant_chunk_key
from meetbot.contract.reports import ParticipantAudioChunk, Report
from meetbot.ports import Clock, Storage
from meetbot.runner.spool import MB, LostReason, Spool
from meetbot.runner.timeline import Timeline

log = logging.getLogger(__name__)

CHUNK_SECONDS: Final = 1.0
TICK_SECONDS: Final = 0.25
SOUND_LEVEL: Final = 64
"""A chunk whose every sample is within +-this (-54 dBFS) is silence: not stored."""
MAX_TRACKS: Final = 64
SPOOL_BYTES: Final = 16 * MB
CONTENT_TYPE: Final = "audio/L16; rate=16000; channels=1"


@dataclass(frozen=True, slots=True)
class _Chunk:
    seq: int
    participant_id: str
    offset_samples: int
    samples: int
    at: datetime


@dataclass(slots=True)
class _Track:
    timeline: Timeline
    buffer: bytearray
    start: int
    """Samples since the origin of the first sample in ``buffer``."""


def owner_of(stream: str, owners: dict[int, str]) -> str:
    """The participant id of a stream keyed ``<receiver>:<SSRC>``, else the key itself."""
    _, _, ssrc = stream.rpartition(":")
    return owners.get(int(ssrc), stream) if ssrc.isdigit() else stream


def has_sound(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
    return bool(len(samples)) and int(np.max(np.abs(samples.astype(np.int32)))) > SOUND_LEVEL


class SeparateTracks:
    def __init__(
        self,
        storage: Storage,
        bot_id: str,
        emit: Callable[[Report], None],
        clock: Clock,
        *,
        paused: Callable[[], bool] = lambda: False,
        chunk_seconds: float = CHUNK_SECONDS,
        spool_bytes: int = SPOOL_BYTES,
        spool_dir: Path | None = None,
    ) -> None:
        self._bot_id = bot_id
        self._emit = emit
        self._clock = clock
        self._paused = paused
        self._chunk_bytes = int(chunk_seconds * SAMPLE_RATE) * 2
        self.spool: Spool[_Chunk] = Spool(
            storage,
            f"bot {bot_id} participant audio",
            limit_bytes=spool_bytes,
            content_type=CONTENT_TYPE,
            on_stored=self._stored,
            on_lost=self._lost,
            directory=spool_dir,
        )
        self.owners: dict[int, str] = {}
        self.origin: float | None = None
        self._tracks: dict[str, _Track] = {}
        self._seq = 0
        self._closed = False
        self.chunks_stored = 0

    def start(self, origin: float) -> None:
        """The recording's origin (POSIX seconds): offsets count from it, as the mix's do."""
        if self.origin is None:
            self.origin = origin

    def set_owners(self, pairs: Iterable[tuple[int, str]]) -> None:
        self.owners.update(pairs)

    def place(self, stream: str, rtp: int, arrived: float, pcm: bytes) -> None:
        if self.origin is None or self._closed or not pcm or not stream:
            return
        track = self._tracks.get(stream)
        if track is None:
            if len(self._tracks) >= MAX_TRACKS:
                return
            track = self._tracks[stream] = _Track(Timeline(origin=self.origin), bytearray(), 0)
        track.timeline.place(stream, rtp, arrived, pcm)

    def take(self, now: float, *, final: bool = False) -> None:
        """Cut each track's audio up to the holdback (all of it: ``final``) into chunks."""
        for stream, track in self._tracks.items():
            pcm = track.timeline.take(now, final=final)
            if self._paused():
                pcm = bytes(len(pcm))
            track.buffer += pcm
            while len(track.buffer) >= self._chunk_bytes or (final and track.buffer):
                data = bytes(track.buffer[: self._chunk_bytes])
                del track.buffer[: self._chunk_bytes]
                samples = len(data) // 2
                if has_sound(data):
                    who = owner_of(stream, self.owners)
                    chunk = _Chunk(self._seq, who, track.start, samples, self._clock.now())
                    self.spool.add(participant_chunk_key(self._bot_id, self._seq), data, chunk)
                    self._seq += 1
                track.start += samples

    async def run(self) -> None:
        """Take the tracks every :data:`TICK_SECONDS` and store their chunks; ends after
        :meth:`close`."""

        async def tick() -> None:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                if not self._closed:
                    self.take(self._clock.now().timestamp())

        ticker = asyncio.create_task(tick(), name="audio.separate")
        try:
            await self.spool.run()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def close(self, timeout: float) -> None:
        if self._closed:
            return
        if self.origin is not None:
            self.take(self._clock.now().timestamp(), final=True)
        self._closed = True
        await self.spool.close(timeout)

    def _stored(self, chunk: _Chunk) -> None:
        self.chunks_stored += 1
        self._emit(
            ParticipantAudioChunk(
                at=chunk.at,
                seq=chunk.seq,
                key=participant_chunk_key(self._bot_id, chunk.seq),
                participant_id=chunk.participant_id,
                offset_s=chunk.offset_samples / SAMPLE_RATE,
                duration_s=chunk.samples / SAMPLE_RATE,
            )
        )

    def _lost(self, chunks: list[_Chunk], reason: LostReason) -> None:
        log.warning(
            "bot %s: %d chunks of participants' own audio are lost (%s)",
            self._bot_id,
            len(chunks),
            reason,
        )

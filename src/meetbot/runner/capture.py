"""The Python side of the audio capture: 250 ms pieces in, chunk files of ~1.5 s out.

The page hands over s16le mono 16 kHz pieces of 250 ms (``js/capture.js``). The recorder
groups a few of them into one chunk file in storage
(:func:`meetbot.control.media.audio_file.chunk_key`: ``bots/<id>/chunks/<seq:08d>.pcm``) and
reports an :class:`~meetbot.contract.reports.AudioChunk` per file, so a crashed runner loses at
most the group in progress. It also measures speech energy: the time of the last speech, a fallback
for platforms whose speaking indicators are missing.

Timing: the recording's clock is the sample count (the page emits silence while nobody
speaks), so ``offset_s`` of a chunk is the number of samples before it / 16 000. A renderer
starved of CPU renders fewer samples than time passes, and that audio is lost: the recorder
logs a warning once the recording is :data:`LAG_WARNING` seconds behind the wall clock, and
again each time the lag doubles (:attr:`AudioRecorder.lag_seconds`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np

from meetbot.contract.media_format import SAMPLE_RATE, chunk_key
from meetbot.contract.reports import AudioChunk, Report
from meetbot.ports import Clock, Storage

log = logging.getLogger(__name__)

BYTES_PER_SAMPLE: Final = 2
PIECE_SECONDS: Final = 0.25
GROUP_PIECES: Final = 6
"""Pieces per chunk file: 6 x 250 ms = 1.5 s."""
FRAME_SAMPLES: Final = 320
"""Speech is measured on 20 ms frames."""
SPEECH_RMS: Final = 0.01
"""A frame is speech when its RMS exceeds this (-40 dBFS of full scale)."""
PUT_ATTEMPTS: Final = 5
CONTENT_TYPE: Final = "audio/L16; rate=16000; channels=1"
LAG_WARNING: Final = 5.0
"""Seconds the recording may fall behind real time before the runner warns (pieces arrive
every 250 ms, so a healthy recording is under a second behind)."""


def speech_frames(pcm: bytes, threshold: float = SPEECH_RMS) -> np.ndarray:
    """One bool per whole 20 ms frame of s16le PCM: is its RMS above ``threshold``?"""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE], dtype="<i2")
    frames = len(samples) // FRAME_SAMPLES
    if frames == 0:
        return np.zeros(0, dtype=bool)
    blocks = samples[: frames * FRAME_SAMPLES].astype(np.float32).reshape(frames, FRAME_SAMPLES)
    rms = np.sqrt(np.mean(np.square(blocks / 32768.0), axis=1))
    result: np.ndarray = rms > threshold
    return result


def speech_seconds(pcm: bytes, threshold: float = SPEECH_RMS) -> float:
    """Seconds of s16le 16 kHz PCM whose 20 ms frames are speech (see :func:`speech_frames`)."""
    return float(np.count_nonzero(speech_frames(pcm, threshold))) * FRAME_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class _Chunk:
    seq: int
    offset_samples: int
    data: bytes


class AudioRecorder:
    """Receives pieces (:meth:`feed`, sync, from the page binding); a writer task stores them.

    Use: ``start()`` when admitted, run :meth:`run` as a task, :meth:`close` when leaving
    (writes the partial group, waits for the writer). Pieces fed outside start..close are
    dropped.
    """

    def __init__(
        self,
        storage: Storage,
        bot_id: str,
        emit: Callable[[Report], None],
        clock: Clock,
        *,
        group_pieces: int = GROUP_PIECES,
        threshold: float = SPEECH_RMS,
    ) -> None:
        self._storage = storage
        self._bot_id = bot_id
        self._emit = emit
        self._clock = clock
        self._group_bytes = int(group_pieces * PIECE_SECONDS * SAMPLE_RATE) * BYTES_PER_SAMPLE
        self._threshold = threshold
        self._queue: asyncio.Queue[_Chunk | None] = asyncio.Queue()
        self._buffer = bytearray()
        self._carry = b""
        self._samples = 0  # samples before the buffer
        self._seq = 0
        self._recording = False
        self._closed = False
        self._done = asyncio.Event()
        self.started_at: datetime | None = None
        self.last_speech_at: datetime | None = None
        self.speech_seconds = 0.0
        self.chunks_written = 0
        self.lag_seconds = 0.0
        """How far the recording fell behind the wall clock at most (audio lost)."""
        self._lag_warned = 0.0

    @property
    def recorded_seconds(self) -> float:
        return (self._samples + len(self._buffer) // BYTES_PER_SAMPLE) / SAMPLE_RATE

    def start(self) -> None:
        """Start keeping pieces: the recording's time origin."""
        if not self._recording and not self._closed:
            self._recording = True
            self.started_at = self._clock.now()

    def feed(self, pcm: bytes) -> None:
        """One piece of s16le mono 16 kHz PCM from the page."""
        if not self._recording or self._closed:
            return
        # measure whole 20 ms frames across piece boundaries (250 ms is 12.5 frames)
        measured = self._carry + pcm
        cut = len(measured) - len(measured) % (FRAME_SAMPLES * BYTES_PER_SAMPLE)
        self._carry = measured[cut:]
        seconds = speech_seconds(measured[:cut], self._threshold)
        if seconds > 0:
            self.speech_seconds += seconds
            self.last_speech_at = self._clock.now()
        self._buffer += pcm
        if len(self._buffer) >= self._group_bytes:
            self._cut()
        self._check_lag()

    def _check_lag(self) -> None:
        if self.started_at is None:
            return
        elapsed = (self._clock.now() - self.started_at).total_seconds()
        lag = elapsed - self.recorded_seconds
        self.lag_seconds = max(self.lag_seconds, lag)
        if lag >= max(LAG_WARNING, 2 * self._lag_warned):
            self._lag_warned = lag
            log.warning(
                "bot %s: the recording is %.1f s behind real time after %.0f s: audio was lost"
                " (is the machine short of CPU? lower MEETBOT_MAX_CONCURRENT_BOTS)",
                self._bot_id, lag, elapsed,
            )  # fmt: skip

    def _cut(self) -> None:
        if not self._buffer:
            return
        data = bytes(self._buffer)
        self._buffer.clear()
        self._queue.put_nowait(_Chunk(self._seq, self._samples, data))
        self._seq += 1
        self._samples += len(data) // BYTES_PER_SAMPLE

    async def run(self) -> None:
        """The writer: store each chunk in order, then report it. Ends after :meth:`close`."""
        try:
            while (chunk := await self._queue.get()) is not None:
                await self._write(chunk)
        finally:
            self._done.set()

    async def _write(self, chunk: _Chunk) -> None:
        key = chunk_key(self._bot_id, chunk.seq)
        delay = 0.25
        for attempt in range(1, PUT_ATTEMPTS + 1):
            try:
                await self._storage.put(key, chunk.data, CONTENT_TYPE)
                break
            except Exception as exc:  # any storage backend error
                if attempt == PUT_ATTEMPTS:
                    log.error("chunk %d lost after %d attempts: %s", chunk.seq, attempt, exc)
                    return
                log.warning("storing chunk %d failed (%s); retrying", chunk.seq, exc)
                await asyncio.sleep(delay)
                delay *= 2
        self.chunks_written += 1
        self._emit(
            AudioChunk(
                at=self._clock.now(),
                seq=chunk.seq,
                key=key,
                offset_s=chunk.offset_samples / SAMPLE_RATE,
                duration_s=len(chunk.data) / BYTES_PER_SAMPLE / SAMPLE_RATE,
            )
        )

    async def close(self, timeout: float = 30.0) -> None:
        """Stop keeping pieces, write the partial group, wait (bounded) for the writer."""
        if self._closed:
            return
        self._closed = True
        self._recording = False
        self._cut()
        self._queue.put_nowait(None)
        try:
            async with asyncio.timeout(timeout):
                await self._done.wait()
        except TimeoutError:
            log.error("audio writer did not finish in %.0f s", timeout)

"""The Python side of the audio capture: 250 ms pieces in, chunk files of ~1.5 s out.

The page hands over s16le mono 16 kHz pieces of 250 ms (``js/capture.js``). The recorder
groups a few of them into one chunk file in storage
(:func:`meetbot.control.media.audio_file.chunk_key`: ``bots/<id>/chunks/<seq:08d>.pcm``) and
reports an :class:`~meetbot.contract.reports.AudioChunk` per file once it is stored, so a
crashed runner loses at most the group in progress. Chunks go through a
:class:`~meetbot.runner.spool.Spool` on local disk: while storage is unreachable they wait
there (up to ``spool_bytes``, default :data:`SPOOL_BYTES`: ~35 min of audio) and are stored,
then reported, in order when it returns; what the spool cannot hold is reported as
:class:`~meetbot.contract.reports.MediaLost`.

It also measures speech energy: the time of the last speech, a fallback for platforms whose
speaking indicators are missing.

Two ways in. Where the page can read the RTP packets (``RTCRtpScriptTransform`` and
WebCodecs: secure origins of current Chromium), it decodes each remote stream itself and hands
over runs of samples with their RTP timestamps (:meth:`AudioRecorder.place`): a
:class:`~meetbot.runner.timeline.Timeline` mixes them by timestamp and the recorder takes the
mixed audio up to :data:`~meetbot.runner.timeline.HOLDBACK` seconds ago, every
:data:`PIECE_SECONDS` (:meth:`AudioRecorder.run`). No audio clock of the renderer is involved,
so a CPU-starved machine delays the audio but loses none of it (``bench/capture_under_load.py``).
Otherwise the page's WebAudio graph renders the mix and hands over 250 ms pieces
(:meth:`AudioRecorder.feed`).

Timing: the recording's clock is the sample count (silence while nobody speaks), so
``offset_s`` of a chunk is the number of samples before it / 16 000. On the WebAudio path a
renderer starved of CPU renders fewer samples than time passes, and that audio is lost: the
recorder logs a warning once the recording is :data:`LAG_WARNING` seconds behind the wall
clock, and again each time the lag doubles (:attr:`AudioRecorder.lag_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from meetbot.contract.live_audio import LIVE_TICK
from meetbot.contract.media_format import SAMPLE_RATE, chunk_key
from meetbot.contract.reports import AudioChunk, MediaLost, Report
from meetbot.ports import Clock, Storage
from meetbot.runner.spool import MB, LostReason, Spool
from meetbot.runner.timeline import HOLDBACK, Timeline

if TYPE_CHECKING:
    from meetbot.runner.live_audio import LiveSlicer
    from meetbot.runner.separate_audio import SeparateTracks

log = logging.getLogger(__name__)

BYTES_PER_SAMPLE: Final = 2
PIECE_SECONDS: Final = 0.25
GROUP_PIECES: Final = 6
"""Pieces per chunk file: 6 x 250 ms = 1.5 s."""
FRAME_SAMPLES: Final = 320
"""Speech is measured on 20 ms frames."""
SPEECH_RMS: Final = 0.01
"""A frame is speech when its RMS exceeds this (-40 dBFS of full scale)."""
SPOOL_BYTES: Final = 64 * MB
"""Audio kept on disk while storage is unreachable: 64 MB is ~35 min of 16 kHz s16le PCM
(32 000 bytes a second). Setting: ``MEETBOT_RUNNER_SPOOL_MB``."""
FLUSH_TIMEOUT: Final = 120.0
"""When leaving, how long the recorder waits for the spooled chunks to be stored."""
CONTENT_TYPE: Final = "audio/L16; rate=16000; channels=1"
LAG_WARNING: Final = 5.0
"""Seconds the recording may fall behind real time before the runner warns (pieces arrive
every 250 ms, so a healthy recording is under a second behind; :data:`HOLDBACK` more on the
RTP path)."""


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
    samples: int
    at: datetime
    """When its last sample was captured."""


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
        spool_bytes: int = SPOOL_BYTES,
        spool_dir: Path | None = None,
    ) -> None:
        """``spool_dir``: where the spool makes its directory (default ``TMPDIR``)."""
        self._bot_id = bot_id
        self._emit = emit
        self._clock = clock
        self._group_bytes = int(group_pieces * PIECE_SECONDS * SAMPLE_RATE) * BYTES_PER_SAMPLE
        self._threshold = threshold
        self.spool: Spool[_Chunk] = Spool(
            storage,
            f"bot {bot_id} audio",
            limit_bytes=spool_bytes,
            content_type=CONTENT_TYPE,
            on_stored=self._stored,
            on_lost=self._lost,
            directory=spool_dir,
        )
        self._buffer = bytearray()
        self._carry = b""
        self._samples = 0  # samples before the buffer
        self._seq = 0
        self._recording = False
        self._closed = False
        self.started_at: datetime | None = None
        self.last_speech_at: datetime | None = None
        self.speech_seconds = 0.0
        self.chunks_written = 0
        self.lag_seconds = 0.0
        """How far the recording fell behind the wall clock at most (audio lost)."""
        self._lag_warned = 0.0
        self.paused = False
        """While set, pieces are kept as silence of the same length (``pause_recording``): the
        recording's clock runs on, nothing of the meeting is kept or measured."""
        self.timeline: Timeline | None = None
        """Set by the first :meth:`place` (the RTP path)."""
        self.separate: SeparateTracks | None = None
        """Participants' own audio, from the same runs before they are mixed (the RTP path)."""
        self.live: LiveSlicer | None = None
        """The live copy (:mod:`meetbot.runner.live_audio`): the same audio, sliced with a
        short holdback of its own, sent as it is heard."""

    @property
    def running(self) -> bool:
        """Between :meth:`start` and :meth:`close`."""
        return self._recording and not self._closed

    @property
    def recorded_seconds(self) -> float:
        return (self._samples + len(self._buffer) // BYTES_PER_SAMPLE) / SAMPLE_RATE

    def start(self) -> None:
        """Start keeping pieces: the recording's time origin."""
        if not self._recording and not self._closed:
            self._recording = True
            self.started_at = self._clock.now()
            if self.live is not None:
                self.live.start(self.started_at.timestamp())
            if self.separate is not None:
                self.separate.start(self.started_at.timestamp())

    def feed(self, pcm: bytes) -> None:
        """One piece of s16le mono 16 kHz PCM from the page."""
        if not self._recording or self._closed:
            return
        if self.paused:
            pcm = bytes(len(pcm))
        if self.live is not None and self.timeline is None:  # the WebAudio path: live as is
            self.live.feed(pcm)
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

    def place(self, stream: str, rtp: int, arrived: float, pcm: bytes) -> None:
        """A run of decoded samples of one remote stream (s16le mono 16 kHz) whose first
        sample has RTP timestamp ``rtp`` (48 kHz) and arrived at ``arrived`` (POSIX seconds):
        mixed by timestamp, recorded :data:`HOLDBACK` seconds later. The page sends an empty
        run when its capture starts: from then on the timeline keeps time, runs or not."""
        if not self._recording or self._closed or self.started_at is None:
            return
        if self.timeline is None:
            self.timeline = Timeline(origin=self.started_at.timestamp())
        self.timeline.place(stream, rtp, arrived, pcm)
        if self.live is not None:
            self.live.place(stream, rtp, arrived, pcm)
        if self.separate is not None:
            self.separate.place(stream, rtp, arrived, pcm)

    def take_timeline(self, *, final: bool = False) -> None:
        """Record the timeline's audio up to :data:`HOLDBACK` s ago (all of it: ``final``)."""
        if self.timeline is not None and self._recording:
            pcm = self.timeline.take(self._clock.now().timestamp(), final=final)
            piece = int(PIECE_SECONDS * SAMPLE_RATE) * BYTES_PER_SAMPLE
            for i in range(0, len(pcm), piece):  # 250 ms pieces: chunk files stay 1.5 s
                self.feed(pcm[i : i + piece])

    def take_live(self) -> None:
        """Queue the live copy's audio up to its own (short) holdback ago (the RTP path)."""
        if self.live is not None and self.timeline is not None and self._recording:
            self.live.take(self._clock.now().timestamp(), silent=self.paused)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(PIECE_SECONDS)
            self.take_timeline()

    async def _live_tick(self) -> None:
        while True:
            await asyncio.sleep(LIVE_TICK)
            self.take_live()

    def _check_lag(self) -> None:
        if self.started_at is None:
            return
        elapsed = (self._clock.now() - self.started_at).total_seconds()
        recorded = self.recorded_seconds
        if self.timeline is not None:  # what the timeline gave out (fed piece by piece)
            elapsed -= HOLDBACK
            recorded = self.timeline.cursor / SAMPLE_RATE
        lag = elapsed - recorded
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
        samples = len(data) // BYTES_PER_SAMPLE
        chunk = _Chunk(self._seq, self._samples, samples, self._clock.now())
        self.spool.add(chunk_key(self._bot_id, self._seq), data, chunk)
        self._seq += 1
        self._samples += samples

    async def run(self) -> None:
        """The writer: store each chunk in order, then report it; and, on the RTP path, take
        the timeline's audio every :data:`PIECE_SECONDS`. Ends after :meth:`close`."""
        ticker = asyncio.create_task(self._tick(), name="audio.timeline")
        live = asyncio.create_task(self._live_tick(), name="audio.live") if self.live else None
        try:
            if self.separate is not None:
                await asyncio.gather(self.spool.run(), self.separate.run())
            else:
                await self.spool.run()
        finally:
            for task in (ticker, live):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    def _stored(self, chunk: _Chunk) -> None:
        self.chunks_written += 1
        self._emit(
            AudioChunk(
                at=chunk.at,
                seq=chunk.seq,
                key=chunk_key(self._bot_id, chunk.seq),
                offset_s=chunk.offset_samples / SAMPLE_RATE,
                duration_s=chunk.samples / SAMPLE_RATE,
            )
        )

    def _lost(self, chunks: list[_Chunk], reason: LostReason) -> None:
        first, last = chunks[0], chunks[-1]
        start = first.offset_samples / SAMPLE_RATE
        end = (last.offset_samples + last.samples) / SAMPLE_RATE
        log.warning("bot %s: audio from %.1f s to %.1f s of the recording is lost (%s)",
                    self._bot_id, start, end, reason)  # fmt: skip
        self._emit(
            MediaLost(
                at=self._clock.now(),
                media="audio",
                reason=reason,
                first_seq=first.seq,
                last_seq=last.seq,
                offset_s=start,
                duration_s=end - start,
            )
        )

    async def close(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Stop keeping pieces, write the partial group, wait (bounded) for the spooled chunks
        to be stored: what is not stored by then is lost (reported)."""
        if self._closed:
            return
        self.take_timeline(final=True)
        if self.live is not None and self.started_at is not None:
            log.info(
                "live copy: %.2f s of late audio missing from it (kept in the recording),"
                " %d pieces dropped before they were sent",
                self.live.late_samples / SAMPLE_RATE, self.live.dropped_pieces,
            )  # fmt: skip
        self._closed = True
        self._recording = False
        self._cut()
        if self.separate is not None:
            await asyncio.gather(self.spool.close(timeout), self.separate.close(timeout))
        else:
            await self.spool.close(timeout)

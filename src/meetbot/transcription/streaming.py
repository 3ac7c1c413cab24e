"""Live transcription: stream 16 kHz PCM in, get each final segment out exactly once.

faster-whisper has no streaming API, so a :class:`LiveTranscriber` keeps an *open window* of
audio that has not been committed yet and re-decodes the whole window every ``interval``
seconds of new audio. Stable segments (see :mod:`meetbot.transcription.stability`) are
committed, returned once from :meth:`~LiveTranscriber.feed` / :meth:`~LiveTranscriber.flush` /
:meth:`~LiveTranscriber.finish`, and cut off the window, so the window stays a few seconds long.

Trade-off: a segment is final ``commit_lag`` seconds after its speech ends, or after two decodes
agree on it, so the latency is about ``interval`` to ``commit_lag + interval`` plus one decode.
Shorter intervals and lags give faster results but more CPU (each decode redoes the window) and
commit words with less right-hand context (a few more errors at segment ends). Whisper pads
every decode to 30 s, so each re-decode costs about the same however short the window.
Measured on 2 cores with espeak speech (shared/notes/offline-asr.md): tiny.en at a 1 s interval
kept up (RTF 0.48, final WER 6.9 %); base needs about 2 s. On 53 s of speech on a busy 2-core
machine, tiny.en (1 s, greedy) gave WER 8-10 % at RTF 0.7-0.8 and base (2 s) 6.6 % at RTF 0.8,
segments final 2-3 s of audio after they ended. The final transcript after the call comes from
a full offline pass anyway; live segments are for real-time consumers.

The object is not thread-safe and its calls block while decoding: drive it from one worker
thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from meetbot.contract.models import Segment
from meetbot.ports import Transcriber
from meetbot.transcription.audio import SAMPLE_RATE, Samples, as_samples, int16_to_float
from meetbot.transcription.stability import Decision, LivePolicy, decide, finalize

_ADAPT = 1.25


@dataclass(frozen=True, slots=True)
class LiveStats:
    decodes: int
    decode_seconds: float
    """Wall time spent decoding."""
    audio_seconds: float
    """Audio fed so far."""
    decoded_seconds: float
    """Audio decoded, counting re-decodes of the same window."""
    max_window: float

    @property
    def rtf(self) -> float:
        """Decode time ÷ audio time: below 1 keeps up with the call."""
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else 0.0


class LiveTranscriber:
    def __init__(
        self,
        transcriber: Transcriber,
        policy: LivePolicy | None = None,
        *,
        start_time: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``start_time``: the timeline position (seconds) of the first sample fed."""
        import numpy as np  # here, not at the top: `meetbot serve` starts without numpy

        self._transcriber = transcriber
        self.policy = policy or LivePolicy()
        self._clock = clock
        self._window: Samples = np.zeros(0, dtype=np.float32)
        self._start_time = start_time
        self._dropped = 0
        self._committed_until = start_time
        self._pending: tuple[Segment, ...] = ()
        self._since_decode = 0
        self._next_decode = self.policy.interval
        self._finished = False
        self._decodes = 0
        self._decode_seconds = 0.0
        self._fed = 0
        self._decoded = 0
        self._max_window = 0.0

    # --- input ----------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[Segment]:
        """Add little-endian int16 mono 16 kHz PCM; returns newly committed segments."""
        return self.feed_samples(int16_to_float(chunk))

    def feed_samples(self, samples: Samples) -> list[Segment]:
        """Add float32 mono 16 kHz samples; returns newly committed segments."""
        if self._finished:
            raise RuntimeError("LiveTranscriber.finish() was already called")
        import numpy as np

        data = as_samples(samples)
        self._window = np.concatenate((self._window, data))
        self._since_decode += len(data)
        self._fed += len(data)
        if self._since_decode / SAMPLE_RATE + 1e-9 >= self._next_decode:
            return self._step()
        return []

    def flush(self) -> list[Segment]:
        """Decode now (if audio arrived since the last decode); returns newly committed."""
        if self._finished or self._since_decode == 0:
            return []
        return self._step()

    def finish(self) -> list[Segment]:
        """The call ended: decode the uncommitted tail once more and commit all of it."""
        if self._finished:
            return []
        self._finished = True
        decoded = self._decode() if self._since_decode else self._pending
        decision = finalize(
            decoded, committed_until=self._committed_until, window_end=self.window_end
        )
        self._apply(decision)
        self._window = as_samples(())
        return list(decision.commit)

    # --- state ----------------------------------------------------------------------------

    @property
    def window_start(self) -> float:
        return self._start_time + self._dropped / SAMPLE_RATE

    @property
    def window_end(self) -> float:
        return self.window_start + len(self._window) / SAMPLE_RATE

    @property
    def committed_until(self) -> float:
        return self._committed_until

    @property
    def partial(self) -> tuple[Segment, ...]:
        """The uncommitted hypothesis from the last decode (may still change)."""
        return self._pending

    @property
    def stats(self) -> LiveStats:
        return LiveStats(
            self._decodes,
            self._decode_seconds,
            self._fed / SAMPLE_RATE,
            self._decoded / SAMPLE_RATE,
            self._max_window,
        )

    # --- internals ------------------------------------------------------------------------

    def _decode(self) -> list[Segment]:
        began = self._clock()
        segments = self._transcriber.transcribe(self._window, offset=self.window_start)
        spent = self._clock() - began
        self._decodes += 1
        self._decode_seconds += spent
        self._decoded += len(self._window)
        self._max_window = max(self._max_window, len(self._window) / SAMPLE_RATE)
        self._since_decode = 0
        self._next_decode = self.policy.interval
        if self.policy.adaptive:
            self._next_decode = max(self.policy.interval, spent * _ADAPT)
        return segments

    def _step(self) -> list[Segment]:
        decoded = self._decode()
        decision = decide(
            decoded,
            self._pending,
            window_start=self.window_start,
            window_end=self.window_end,
            committed_until=self._committed_until,
            policy=self.policy,
        )
        self._apply(decision)
        return list(decision.commit)

    def _apply(self, decision: Decision) -> None:
        self._pending = decision.pending
        self._committed_until = decision.committed_until
        drop = round((decision.trim_to - self.window_start) * SAMPLE_RATE)
        drop = max(0, min(drop, len(self._window)))
        if drop:
            self._window = self._window[drop:]
            self._dropped += drop

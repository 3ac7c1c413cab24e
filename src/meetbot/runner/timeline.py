"""One 16 kHz timeline for the decoded audio of several remote streams, placed by timestamp.

The page decodes each remote audio stream from its RTP packets (``js/capture.js``, "rtp"
mode) and hands over runs of consecutive samples: the stream, the RTP timestamp of the run's
first sample (in 16 kHz samples), when its first packet arrived (wall clock) and the PCM. No
audio clock of the renderer is involved, so a busy machine delays the runs but does not lose
them. The timeline puts each run where its RTP timestamp says (a stream is anchored to the
wall clock by the earliest arrival seen: network and CPU delays only ever make packets late),
mixes the streams, and gives out the mixed audio up to ``now - holdback``: what nobody sent
(pauses, DTX, nobody in the room) is silence at the right place, never a shift.

Times are seconds on one wall clock (the recorder's: ``origin`` is when the recording starts);
positions are samples since ``origin``. Pure (no I/O, no clock of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from meetbot.contract.media_format import SAMPLE_RATE

HOLDBACK: Final = 2.0
"""Seconds a run may arrive late (a starved renderer, network jitter) and still be placed: the
recording trails real time by this much."""
RESYNC: Final = 10.0
"""A run whose RTP timestamp puts it this many seconds before its arrival re-anchors its stream
(the sender's clock jumped); one that puts it after its arrival always does (it arrived sooner
than any before it)."""
RTP_WRAP: Final = 1 << 32
AHEAD_LIMIT: Final = 60.0
"""A run placed this many seconds past what was given out is dropped (counted): a sane one is
at most :data:`HOLDBACK` plus a late tick ahead; the page's values are not trusted further."""
MAX_STREAMS: Final = 512
"""Streams kept apart at most (runs of further streams are dropped, counted)."""


@dataclass(slots=True)
class _Stream:
    anchor: int | None
    """Position (samples since origin) of RTP timestamp 0, unwrapped."""
    last_rtp: int
    """The last unwrapped RTP timestamp seen."""


@dataclass(slots=True)
class Timeline:
    """Place runs with :meth:`place`, take the mixed audio with :meth:`take` (s16le bytes)."""

    origin: float
    """Wall clock seconds of sample 0."""
    holdback: float = HOLDBACK
    rtp_rate: int = 48_000
    """Clock rate of the RTP timestamps handed to :meth:`place` (Opus: 48 kHz)."""
    cursor: int = 0
    """Samples given out so far (the recording's length)."""
    late_samples: int = 0
    """Samples that arrived after their place was given out (lost: counted, not shifted)."""
    dropped_samples: int = 0
    """Samples of runs refused: too far ahead (:data:`AHEAD_LIMIT`) or too many streams."""
    _mix: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _streams: dict[str, _Stream] = field(default_factory=dict)

    def position(self, at: float) -> int:
        """Samples since ``origin`` at wall clock ``at``."""
        return round((at - self.origin) * SAMPLE_RATE)

    def place(self, stream: str, rtp: int, arrived: float, pcm: bytes) -> None:
        """Mix ``pcm`` (s16le 16 kHz mono) of ``stream`` whose first sample has RTP timestamp
        ``rtp`` (modulo 2**32, at :attr:`rtp_rate`) and whose first packet arrived at
        ``arrived``."""
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        if len(samples) == 0:
            return
        at = self.position(arrived)
        s = self._streams.get(stream)
        if s is None and len(self._streams) >= MAX_STREAMS:
            self.dropped_samples += len(samples)
            return
        if s is None:
            s = self._streams[stream] = _Stream(anchor=None, last_rtp=rtp)
        else:  # unwrap against the last timestamp seen
            base = s.last_rtp - s.last_rtp % RTP_WRAP
            rtp = min((base - RTP_WRAP + rtp, base + rtp, base + RTP_WRAP + rtp),
                      key=lambda r: abs(r - s.last_rtp))  # fmt: skip
            s.last_rtp = rtp
        tick = rtp * SAMPLE_RATE // self.rtp_rate
        start = at if s.anchor is None else s.anchor + tick
        if s.anchor is None or start > at or start < at - RESYNC * SAMPLE_RATE:
            # first run, arrived sooner than ever (a better anchor) or a jump of the sender's
            # clock: trust the arrival
            s.anchor = at - tick
        start = s.anchor + tick
        if start < self.cursor:  # its beginning was given out already
            cut = min(len(samples), self.cursor - start)
            self.late_samples += cut
            samples, start = samples[cut:], self.cursor
        if len(samples) == 0:
            return
        if start - self.cursor > AHEAD_LIMIT * SAMPLE_RATE:
            self.dropped_samples += len(samples)
            return
        begin, end = start - self.cursor, start - self.cursor + len(samples)
        if end > len(self._mix):
            self._mix = np.concatenate([self._mix, np.zeros(end - len(self._mix), np.int32)])
        self._mix[begin:end] += samples

    def take(self, now: float, *, final: bool = False) -> bytes:
        """The mixed audio from :attr:`cursor` to ``now - holdback`` (to ``now`` when
        ``final``), silence where nothing was placed; advances :attr:`cursor`."""
        end = self.position(now if final else now - self.holdback)
        if final:
            end = max(end, self.cursor + len(self._mix))
        n = end - self.cursor
        if n <= 0:
            return b""
        out = np.zeros(n, np.int32)
        have = min(n, len(self._mix))
        out[:have] = self._mix[:have]
        self._mix = self._mix[have:]
        self.cursor = end
        return np.clip(out, -32768, 32767).astype("<i2").tobytes()

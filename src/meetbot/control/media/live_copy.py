"""One bot's live copy of its audio (:mod:`meetbot.contract.live_audio`) at live transcription:
the pieces queued for decoding, and the recent audio the stored chunks are checked against.

Live transcription decodes the live copy (it comes ~0.2 s after the audio was heard; the
stored chunks ~3.5 s). The live copy misses what came later than the runner's live holdback
(and whatever was lost while its socket reconnected), the recording does not. So each stored
chunk is compared with the live copy of the same stretch (:meth:`LiveCopy.check`): where they
first differ, the live copy, and the transcript decoded from it, is incomplete
(:attr:`LiveCopy.complete_until`); the transcript after the call is decoded again from there,
from the stored chunks (:class:`~meetbot.control.media.final_transcript.FinalTranscript`).
A pause marks it too (the recording goes silent from 2 s before the pause's command came, the
live copy from 0.2 s before): the final pass decodes again from there, which costs time after
the call, never a word. Pure (no I/O).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from meetbot.contract.media_format import BYTES_PER_SECOND, SAMPLE_RATE, SAMPLE_WIDTH

MAX_GAP: Final = 30.0
"""Seconds missing from the live copy that are decoded as silence; a longer gap ends live
transcription for the bot (the transcript after the call covers it)."""
KEEP_SECONDS: Final = 30.0
"""Live audio kept to check the stored chunks against (they come ~3.5 s after it; a chunk
older than this is taken as differing: the final pass decodes it again)."""


@dataclass(eq=False)
class LiveCopy:
    queued: deque[tuple[int, bytes]] = field(default_factory=deque)
    """``(offset in samples, PCM)`` not decoded yet, in order of arrival."""
    complete_until: float | None = None
    """Seconds of the recording the live copy is known to hold all of (``None``: no stored
    chunk differed from it so far)."""
    received_until: int = 0
    """Samples of the recording the live copy reached."""
    noted: float | None = None
    """The :attr:`complete_until` written to ``transcript.json``."""
    first: int | None = None
    """Where its first piece starts (samples)."""
    _kept: bytearray = field(default_factory=bytearray)
    _kept_from: int | None = None

    def add(self, offset: int, pcm: bytes) -> None:
        """A piece of the live copy: queued for decoding, kept for the checks."""
        pcm = pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]
        self.queued.append((offset, pcm))
        end = offset + len(pcm) // SAMPLE_WIDTH
        self.received_until = max(self.received_until, end)
        if self._kept_from is None:
            self._kept_from = self.first = offset
        kept_end = self._kept_from + len(self._kept) // SAMPLE_WIDTH
        if offset - kept_end > KEEP_SECONDS * SAMPLE_RATE:  # a long gap: start over
            self._kept.clear()
            self._kept_from = kept_end = offset
        if end <= kept_end:
            return
        if offset > kept_end:
            self._kept += bytes((offset - kept_end) * SAMPLE_WIDTH)
        self._kept += pcm[max(0, kept_end - offset) * SAMPLE_WIDTH :]
        extra = len(self._kept) - int(KEEP_SECONDS * BYTES_PER_SECOND)
        if extra > 0:
            extra -= extra % SAMPLE_WIDTH
            del self._kept[:extra]
            self._kept_from += extra // SAMPLE_WIDTH

    def starts_late(self) -> bool:
        """Its first piece came after the recording's start (its socket connected late, or
        this process started mid-call): what precedes it is not in the live copy."""
        return self.first is not None and self.first > SAMPLE_RATE // 20

    def take(self, from_s: float, max_seconds: float) -> bytes | None:
        """The queued audio from ``from_s`` (the decoder's window end) on, contiguous (a gap is
        silence, an overlap is cut), up to about ``max_seconds``; ``None``: a gap longer than
        :data:`MAX_GAP`."""
        position = round(from_s * SAMPLE_RATE)
        out = bytearray()
        while self.queued and len(out) < max_seconds * BYTES_PER_SECOND:
            offset, pcm = self.queued[0]
            end = offset + len(pcm) // SAMPLE_WIDTH
            if end <= position:
                self.queued.popleft()
                continue
            if offset - position > MAX_GAP * SAMPLE_RATE:
                return None
            if offset > position:
                out += bytes((offset - position) * SAMPLE_WIDTH)
                position = offset
            out += pcm[(position - offset) * SAMPLE_WIDTH :]
            position = end
            self.queued.popleft()
        return bytes(out)

    def check(self, offset_s: float, stored: bytes) -> float | None:
        """A stored chunk of the recording at ``offset_s``: the first second where the live
        copy differs from it (also kept in :attr:`complete_until`), else ``None``."""
        import numpy as np  # here, not at the top: `meetbot serve` starts without numpy

        begin = round(offset_s * SAMPLE_RATE)
        truth = np.frombuffer(stored[: len(stored) - len(stored) % SAMPLE_WIDTH], dtype="<i2")
        live = np.zeros(len(truth), dtype="<i2")  # what the live copy has of it; silence else
        if self._kept_from is not None:
            kept = np.frombuffer(bytes(self._kept), dtype="<i2")
            lo = max(begin, self._kept_from)
            hi = min(begin + len(truth), self._kept_from + len(kept))
            if hi > lo:
                live[lo - begin : hi - begin] = kept[lo - self._kept_from : hi - self._kept_from]
        differ = np.flatnonzero(live != truth)
        if not len(differ):
            return None
        at = (begin + int(differ[0])) / SAMPLE_RATE
        if self.complete_until is None or at < self.complete_until:
            self.complete_until = at
        return at

"""The runner's buffer of streamed-in voice (issue 16 §2): bounded, the oldest dropped.

Frames come in as the client sends them (:mod:`meetbot.contract.voice_in`); the player takes
what the page needs next. When more than ``capacity_s`` waits, the oldest samples go (a voice
agent's reply is only worth hearing now) and :attr:`PcmBuffer.dropped_bytes` counts them.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import numpy as np

from meetbot.contract.voice_in import BYTES_PER_SECOND, SAMPLE_WIDTH

BLOCK: Final = BYTES_PER_SECOND // 100
"""Silence is skipped in 10 ms blocks."""
SILENT_PEAK: Final = 100
"""A block whose samples all stay under this (-50 dBFS) is silence."""


def skip_silence(pcm: bytes, budget: int) -> bytes:
    """``pcm`` without up to ``budget`` bytes of its silent 10 ms blocks (the first ones):
    how a stream that fell behind catches up without cutting a word."""
    if budget < BLOCK or len(pcm) < BLOCK:
        return pcm
    kept: list[bytes] = []
    for i in range(0, len(pcm), BLOCK):
        block = pcm[i : i + BLOCK]
        samples = np.frombuffer(block[: len(block) // SAMPLE_WIDTH * SAMPLE_WIDTH], dtype="<i2")
        silent = len(block) == BLOCK and int(np.abs(samples.astype(np.int32)).max()) < SILENT_PEAK
        if silent and budget >= BLOCK:
            budget -= BLOCK
        else:
            kept.append(block)
    return b"".join(kept)


class PcmBuffer:
    def __init__(self, capacity_s: float) -> None:
        self.capacity = int(capacity_s * BYTES_PER_SECOND) // SAMPLE_WIDTH * SAMPLE_WIDTH
        self._frames: deque[bytes] = deque()
        self._size = 0
        self.received_bytes = 0
        self.dropped_bytes = 0
        """Bytes dropped because the buffer was full (the oldest ones)."""
        self.drops = 0
        """How many times something was dropped."""

    def __len__(self) -> int:
        return self._size

    @property
    def seconds(self) -> float:
        return self._size / BYTES_PER_SECOND

    def push(self, frame: bytes) -> None:
        """Add a frame (whole samples); beyond the capacity the oldest bytes are dropped."""
        frame = frame[: len(frame) // SAMPLE_WIDTH * SAMPLE_WIDTH]
        if not frame:
            return
        self.received_bytes += len(frame)
        if len(frame) > self.capacity:  # only its newest part fits
            self._drop(self._size + len(frame) - self.capacity)
            frame = frame[len(frame) - self.capacity :]
            self._frames.clear()
            self._size = 0
        else:
            over = self._size + len(frame) - self.capacity
            if over > 0:
                self._drop(over)
                self._take(over)
        self._frames.append(frame)
        self._size += len(frame)

    def take(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` (whole samples) of the oldest buffered PCM."""
        return self._take(max_bytes // SAMPLE_WIDTH * SAMPLE_WIDTH)

    def trim(self, max_bytes: int) -> None:
        """Keep at most ``max_bytes`` (the newest), the oldest dropped and counted."""
        over = self._size - max(0, max_bytes // SAMPLE_WIDTH * SAMPLE_WIDTH)
        if over > 0:
            self._drop(over)
            self._take(over)

    def clear(self) -> None:
        """Drop everything (counted: nothing was played of it)."""
        if self._size:
            self._drop(self._size)
        self._frames.clear()
        self._size = 0

    def _drop(self, n: int) -> None:
        self.dropped_bytes += n
        self.drops += 1

    def _take(self, n: int) -> bytes:
        out: list[bytes] = []
        while n > 0 and self._frames:
            head = self._frames[0]
            if len(head) <= n:
                out.append(self._frames.popleft())
            else:
                out.append(head[:n])
                self._frames[0] = head[n:]
            self._size -= len(out[-1])
            n -= len(out[-1])
        return b"".join(out)

"""Streamed-in voice (issue 16 §2) on its way through the control plane: from a client's
stream WebSocket to its bot's runner's voice socket (:mod:`meetbot.contract.voice_in`).

One relay per process: the runner's voice socket registers its bot here while it is open,
and each frame a client sends is put in that socket's queue at once (no database, no poll: a
frame's delay is a hop on loopback). The queue is short (:data:`QUEUE_FRAMES`); a runner that
cannot keep up loses the oldest frames (counted), as its own buffer does. With several
replicas, the client's stream and the runner's voice socket must be on the same replica (the
one the runner reports to); elsewhere the frames are refused ``bot_not_in_call``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

QUEUE_FRAMES: Final = 64
"""Frames waiting for one runner's socket (about 1.3 s of 20 ms frames)."""


@dataclass(eq=False)
class VoiceRelay:
    _runners: dict[str, asyncio.Queue[bytes]] = field(default_factory=dict)
    relayed_bytes: int = 0
    dropped_frames: int = 0
    """Frames lost: the runner's queue was full (the oldest went)."""

    def connected(self, bot_id: str) -> bool:
        return bot_id in self._runners

    @contextmanager
    def runner(self, bot_id: str) -> Iterator[asyncio.Queue[bytes]]:
        """The queue of the runner's voice socket, registered while the block runs (a newer
        socket of the same bot takes over from an older one)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_FRAMES)
        self._runners[bot_id] = queue
        try:
            yield queue
        finally:
            if self._runners.get(bot_id) is queue:
                del self._runners[bot_id]

    def send(self, bot_id: str, frame: bytes) -> bool:
        """Relay ``frame`` to the bot's runner; ``False`` when none is connected here."""
        queue = self._runners.get(bot_id)
        if queue is None:
            return False
        if queue.full():
            queue.get_nowait()
            self.dropped_frames += 1
        queue.put_nowait(frame)
        self.relayed_bytes += len(frame)
        return True

"""The live copy of bots' mixed audio (:mod:`meetbot.contract.live_audio`) in one control plane
process: from a runner's live socket to whoever wants it here.

One hub per process. A runner's live socket registers its bot while it is open
(:meth:`LiveAudioHub.runner`) and each piece it sends is :meth:`~LiveAudioHub.publish`\\ ed at
once (no database, no storage): into the queue of each stream client of the bot on this
process (``?audio=mixed``, :meth:`~LiveAudioHub.subscribe`; a short queue, the oldest pieces
are dropped for a client that cannot keep up, counted) and to each listener (callbacks, on the
event loop, never blocking). With several replicas a piece reaches only the replica the
runner's socket is on; a stream on another replica gets the stored chunks instead
(:class:`~meetbot.control.service.stream.AudioFeed`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

QUEUE_PIECES: Final = 64
"""Pieces waiting for one stream client (about 3 s of 50 ms pieces)."""

Piece = tuple[int, bytes]
"""``(offset in samples on the recording's clock, 16 kHz mono s16le PCM)``."""
Listener = Callable[[str, int, bytes], None]
"""``(bot_id, offset in samples, PCM)``: called for each piece, on the event loop."""


@dataclass(eq=False)
class LiveAudioHub:
    listeners: list[Listener] = field(default_factory=list)
    _runners: dict[str, object] = field(default_factory=dict)
    _clients: dict[str, list[asyncio.Queue[Piece]]] = field(default_factory=dict)
    pieces: int = 0
    dropped_pieces: int = 0
    """Pieces a stream client lost: its queue was full (the oldest went)."""

    def connected(self, bot_id: str) -> bool:
        """A runner of the bot sends its live audio to this process."""
        return bot_id in self._runners

    def listening(self, bot_id: str) -> int:
        """Stream clients of the bot subscribed here."""
        return len(self._clients.get(bot_id, ()))

    @contextmanager
    def runner(self, bot_id: str) -> Iterator[None]:
        """Register the bot's live socket while the block runs (a newer socket of the same bot
        takes over from an older one)."""
        token = object()
        self._runners[bot_id] = token
        try:
            yield
        finally:
            if self._runners.get(bot_id) is token:
                del self._runners[bot_id]

    @contextmanager
    def subscribe(self, bot_id: str) -> Iterator[asyncio.Queue[Piece]]:
        """The queue of the bot's pieces from now on, while the block runs."""
        queue: asyncio.Queue[Piece] = asyncio.Queue(QUEUE_PIECES)
        self._clients.setdefault(bot_id, []).append(queue)
        try:
            yield queue
        finally:
            queues = self._clients.get(bot_id, [])
            if queue in queues:
                queues.remove(queue)
            if not queues:
                self._clients.pop(bot_id, None)

    def publish(self, bot_id: str, offset: int, pcm: bytes) -> None:
        """A piece of the bot's live audio: to its stream clients and the listeners."""
        self.pieces += 1
        for queue in self._clients.get(bot_id, ()):
            if queue.full():
                queue.get_nowait()
                self.dropped_pieces += 1
            queue.put_nowait((offset, pcm))
        for listener in self.listeners:
            listener(bot_id, offset, pcm)

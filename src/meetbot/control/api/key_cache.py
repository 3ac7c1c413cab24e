"""Recently seen API key hashes → workspace ids, so most requests skip a database read.

An entry lives less than :data:`~meetbot.control.service.keys.REVOCATION_DELAY` from the read
that filled it: a revoked key is refused by every server in time.

Two things keep the cache from turning into bursts of reads under load, which it did: every
4 s, when the one key of a busy client expired, each request that arrived while the first
one's read was pending missed too and ran its own read — on a saturated event loop 50 or more
of them, a 40-120 ms stall of the loop every 4 s and the tail of every request in it
(``bench/api_create.py --overload 3``, docs/benchmarks.md):

- one read at a time per key: requests that miss while a read for their key is pending wait
  for that read (single flight);
- the read comes before the miss: a request that finds its entry in the last
  :data:`REFRESH_AHEAD` seconds of its life is answered from it at once and starts the read
  that renews it in the background, so a key in steady use never misses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from meetbot.control.service.keys import REVOCATION_DELAY

log = logging.getLogger(__name__)

REFRESH_AHEAD = 1.0
"""Seconds before an entry expires within which a hit renews it in the background."""

Load = Callable[[], Awaitable[str | None]]
"""Reads the workspace of one key hash (``None``: no such key, or revoked)."""


class KeyCache:
    def __init__(
        self,
        ttl: float = REVOCATION_DELAY - 1.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._size = size
        self._entries: dict[str, tuple[str, float]] = {}
        self._reads: dict[str, asyncio.Future[str | None]] = {}
        self._renewals: dict[str, asyncio.Task[None]] = {}

    def get(self, key_hash: str) -> str | None:
        hit = self._entries.get(key_hash)
        if hit and hit[1] > self._clock():
            return hit[0]
        return None

    def put(self, key_hash: str, workspace_id: str, *, read_at: float | None = None) -> None:
        """Remember a key's workspace, for ``ttl`` from the read that found it (``read_at``,
        on ``clock``: now when not given)."""
        if len(self._entries) >= self._size and key_hash not in self._entries:
            self._entries.clear()
        start = self._clock() if read_at is None else read_at
        self._entries[key_hash] = (workspace_id, start + self._ttl)

    def fresh(self, key_hash: str, load: Load) -> str | None:
        """The cached workspace, or ``None`` (then call :meth:`read`). A hit near its expiry
        starts the background read that renews it."""
        hit = self._entries.get(key_hash)
        if hit is None:
            return None
        now = self._clock()
        if hit[1] <= now:
            return None
        renewing = key_hash in self._reads or key_hash in self._renewals
        if hit[1] - now < REFRESH_AHEAD and not renewing:
            task = asyncio.create_task(self._renew(key_hash, load), name="key-cache-renew")
            self._renewals[key_hash] = task
            task.add_done_callback(lambda _: self._renewals.pop(key_hash, None))
        return hit[0]

    async def read(self, key_hash: str, load: Load) -> str | None:
        """Read the key's workspace (shared with a read for the same key already pending) and
        cache it. The read runs as its own task: a request that goes away while it waits
        (its client hung up) does not cancel it for the others. A failed read fails every
        request waiting on it and caches nothing."""
        pending = self._reads.get(key_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key_hash, load))
            self._reads[key_hash] = pending
            pending.add_done_callback(lambda done: self._read_done(key_hash, done))
        return await asyncio.shield(pending)

    async def _load(self, key_hash: str, load: Load) -> str | None:
        started = self._clock()
        workspace_id = await load()
        if workspace_id is None:
            self._entries.pop(key_hash, None)
        else:
            self.put(key_hash, workspace_id, read_at=started)
        return workspace_id

    def _read_done(self, key_hash: str, done: asyncio.Future[str | None]) -> None:
        if self._reads.get(key_hash) is done:
            del self._reads[key_hash]
        if not done.cancelled():
            done.exception()  # retrieved: no "never retrieved" warning when nobody waited

    async def _renew(self, key_hash: str, load: Load) -> None:
        try:
            await self.read(key_hash, load)
        except Exception as exc:  # the entry expires as usual; the next miss reads again
            log.warning("renewing a cached API key failed: %s", exc)

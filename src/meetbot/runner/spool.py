"""Media on its way to storage, kept on local disk until it is stored: no chunk is lost to a
storage outage the spool's bound can hold.

A recorder :meth:`Spool.add`\\ s each chunk as it is cut; the chunk is written to a file in the
spool's own directory (``tempfile.mkdtemp``: private to the runner's user, under ``TMPDIR``) and
the uploader (:meth:`Spool.run`, one task) stores the files in order, one at a time: the oldest
first, retried with backoff (:data:`RETRY_START` .. :data:`RETRY_MAX`) for as long as storage
refuses it. A file is removed once stored, and ``on_stored`` is called: only then is the chunk
reported (the control plane reads a reported chunk at once, by its key).

Bound: the bytes of every chunk not yet stored (``limit_bytes``; an empty spool takes any one
chunk). A chunk that does not fit is not written: the recording keeps going to disk as long as
the bound allows, then new chunks are dropped (the older ones are kept, to be stored in order)
with a logged warning, and each run of dropped chunks is handed to ``on_lost`` once it ends (the
next chunk fits again, or the spool closes). :meth:`Spool.close` waits (bounded) for the spool
to empty; what is still unstored then is handed to ``on_lost`` too, and the directory is removed
(also at interpreter exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Generic, Literal, TypeVar

from meetbot.ports import Storage

log = logging.getLogger(__name__)

RETRY_START: Final = 0.25
RETRY_MAX: Final = 5.0
PUT_TIMEOUT: Final = 60.0
"""One storage attempt may take this long (a storage that hangs, rather than refuses)."""
REMIND_EVERY: Final = 30.0
"""While storage stays unreachable, the backlog is logged this often."""
MB: Final = 1024 * 1024

T = TypeVar("T")
LostReason = Literal["spool_full", "storage_unreachable"]


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    key: str
    path: Path
    size: int
    meta: T


class Spool(Generic[T]):
    """A bounded, ordered queue of objects to store, on local disk (see the module's text).

    ``meta`` goes with each object to ``on_stored`` / ``on_lost`` (its seq, offset, ...).
    """

    def __init__(
        self,
        storage: Storage,
        name: str,
        *,
        limit_bytes: int,
        content_type: str,
        on_stored: Callable[[T], None],
        on_lost: Callable[[list[T], LostReason], None],
        directory: Path | None = None,
        retry_start: float = RETRY_START,
        retry_max: float = RETRY_MAX,
    ) -> None:
        """``directory``: where the spool makes its own directory (default: ``TMPDIR``)."""
        self._storage = storage
        self._name = name
        self.limit_bytes = limit_bytes
        self._content_type = content_type
        self._on_stored = on_stored
        self._on_lost = on_lost
        self._parent = directory
        self.retry_start = retry_start
        self.retry_max = retry_max
        """Backoff between attempts on one chunk (seconds)."""
        self._dir: Path | None = None
        self._entries: deque[_Entry[T]] = deque()
        self._dropped: list[T] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._finished = False
        self._abandoned = False
        self._done = asyncio.Event()
        self._uploader: asyncio.Task[None] | None = None
        self._count = 0
        self.bytes = 0
        """Bytes of the chunks not yet stored (on disk)."""
        self.peak_bytes = 0
        self.stored = 0
        self.lost = 0
        self.failures = 0

    @property
    def directory(self) -> Path | None:
        """The spool's directory (made on the first :meth:`add`; removed by :meth:`close`)."""
        return self._dir

    @property
    def pending(self) -> int:
        return len(self._entries)

    def add(self, key: str, data: bytes, meta: T) -> bool:
        """Queue ``data`` for ``key``; ``False`` if it was dropped (bound, disk error, closed)."""
        if self._finished:
            return False
        if self._entries and self.bytes + len(data) > self.limit_bytes:
            self._drop(meta, f"the spool is full ({self.bytes / MB:.1f} MB not yet stored)")
            return False
        try:
            path = self._make_dir() / f"{self._count:010d}"
            path.write_bytes(data)
        except OSError as exc:
            self._drop(meta, f"the spool cannot write to disk: {exc}")
            return False
        self._count += 1
        self._end_drops()
        self._entries.append(_Entry(key, path, len(data), meta))
        self.bytes += len(data)
        self.peak_bytes = max(self.peak_bytes, self.bytes)
        self._wake.set()
        return True

    def _make_dir(self) -> Path:
        if self._dir is None:
            made = Path(tempfile.mkdtemp(prefix=f"meetbot-spool-{self._name}-", dir=self._parent))
            self._dir = made
            weakref.finalize(self, shutil.rmtree, made, ignore_errors=True)
        return self._dir

    def _drop(self, meta: T, why: str) -> None:
        if not self._dropped:
            log.warning("%s: %s; dropping new chunks until it is not: they are lost",
                        self._name, why)  # fmt: skip
        self._dropped.append(meta)

    def _end_drops(self) -> None:
        if self._dropped:
            dropped, self._dropped = self._dropped, []
            self._lose(dropped, "spool_full")

    def _lose(self, metas: list[T], reason: LostReason) -> None:
        self.lost += len(metas)
        log.error("%s: %d chunk(s) lost (%s)", self._name, len(metas), reason)
        self._on_lost(metas, reason)

    async def run(self) -> None:
        """The uploader: store the spooled chunks in order until :meth:`close` (run it as a
        task)."""
        self._uploader = asyncio.current_task()
        try:
            while True:
                if not self._entries:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self._store(self._entries[0])
        except asyncio.CancelledError:
            if not self._abandoned:  # cancelled by its owner, not given up by close()
                raise
        finally:
            self._done.set()

    async def _store(self, entry: _Entry[T]) -> None:
        """Store ``entry`` (retrying until it is stored), then forget it."""
        try:
            data = entry.path.read_bytes()
        except OSError as exc:  # the file went missing (a TMPDIR cleaner?) or the disk failed
            log.error("%s: cannot read back %s: %s", self._name, entry.path, exc)
            self._forget(entry)
            self._lose([entry.meta], "spool_full")
            return
        delay = self.retry_start
        failing_since: float | None = None
        reminded = 0.0
        while True:
            try:
                async with asyncio.timeout(PUT_TIMEOUT):
                    await self._storage.put(entry.key, data, self._content_type)
                break
            except Exception as exc:  # any storage backend error, or a hung one
                self.failures += 1
                now = time.monotonic()
                if failing_since is None:
                    failing_since = reminded = now
                    log.warning("%s: storing %s failed (%r); keeping it and what follows on "
                                "disk, retrying", self._name, entry.key, exc)  # fmt: skip
                elif now - reminded >= REMIND_EVERY:
                    reminded = now
                    log.warning("%s: storage unreachable for %.0f s (%r); %d chunk(s), %.1f MB "
                                "spooled", self._name, now - failing_since, exc, len(self._entries),
                                self.bytes / MB)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
        if failing_since is not None:
            log.warning("%s: storage reachable again after %.1f s; storing %d spooled chunk(s)",
                        self._name, time.monotonic() - failing_since,
                        len(self._entries))  # fmt: skip
        self._forget(entry)
        self.stored += 1
        self._on_stored(entry.meta)

    def _forget(self, entry: _Entry[T]) -> None:
        self._entries.popleft()
        self.bytes -= entry.size
        with contextlib.suppress(OSError):
            entry.path.unlink()

    async def close(self, timeout: float) -> None:
        """Take no more chunks; wait up to ``timeout`` s for the spooled ones to be stored.
        What is still unstored then is lost (``on_lost``); the directory is removed."""
        self._closing = True
        self._wake.set()
        self._end_drops()
        if self._uploader is None:
            await asyncio.sleep(0)  # an uploader task created but not yet started
        try:
            if self._uploader is not None:
                async with asyncio.timeout(timeout):
                    await self._done.wait()
        except TimeoutError:
            log.error("%s: storage still unreachable after waiting %.0f s at exit",
                      self._name, timeout)  # fmt: skip
        finally:
            if self._uploader is not None and not self._uploader.done():
                self._abandoned = True
                self._uploader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(self._uploader, return_exceptions=True)
            self._finished = True
            if self._entries:
                unstored = [e.meta for e in self._entries]
                self._entries.clear()
                self.bytes = 0
                self._lose(unstored, "storage_unreachable")
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)

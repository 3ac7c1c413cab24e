"""The CPU budget for transcription: ``transcription_workers`` decodes at a time.

Final passes and single-stream live decoding run on the pool's ``workers`` threads
(:meth:`TranscriptionPool.run`). Live streams that share a batching model
(:class:`meetbot.transcription.batching.StreamBatcher`) wait on threads of their own
(:meth:`TranscriptionPool.run_waiting`: a thread per waiting stream, asleep until its batch is
decoded) and the one decoding takes the same budget (:meth:`TranscriptionPool.budget`) around
its batched call, so no more than ``workers`` decodes ever run at once."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from meetbot.contract.models import Segment
from meetbot.transcription.streaming import LiveTranscriber

T = TypeVar("T")
P = ParamSpec("P")


class TranscriptionPool:
    def __init__(self, workers: int, *, max_waiting: int = 64) -> None:
        if workers < 1:
            raise ValueError("a transcription pool needs at least one worker")
        self.workers = workers
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="transcribe")
        self._waiting = ThreadPoolExecutor(max_waiting, thread_name_prefix="transcribe-wait")
        self._budget = threading.BoundedSemaphore(workers)
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet finished (running or queued)."""
        return self._in_flight

    @property
    def busy(self) -> bool:
        """Every worker has a job: new work would queue."""
        return self._in_flight >= self.workers

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on a pool thread; the event loop stays free."""
        call = functools.partial(self._within_budget, fn, *args, **kwargs)
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            self._in_flight -= 1

    async def run_waiting(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on a waiting thread: for calls that spend their time waiting for a
        batched decode and take :meth:`budget` themselves while they decode."""
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._waiting, call)

    @contextmanager
    def budget(self) -> Iterator[None]:
        """Hold one of the ``workers`` decode slots (blocks the calling thread)."""
        with self._budget:
            yield

    def _within_budget(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._budget:
            return fn(*args, **kwargs)

    def close(self) -> None:
        """Stop taking work; running jobs finish in their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._waiting.shutdown(wait=False, cancel_futures=True)


@dataclass
class PooledLive:
    """A local :class:`LiveTranscriber` run in the transcription pool, as a :class:`LiveStream`."""

    decoder: LiveTranscriber
    pool: TranscriptionPool
    batched: bool = False
    """The decoder's model is a :class:`StreamBatcher`: wait for its batches on a waiting
    thread (the batch takes the pool's budget itself)."""

    @property
    def window_end(self) -> float:
        return self.decoder.window_end

    @property
    def committed_until(self) -> float:
        return self.decoder.committed_until

    async def feed(self, chunk: bytes) -> list[Segment]:
        if self.batched:
            return await self.pool.run_waiting(self.decoder.feed, chunk)
        return await self.pool.run(self.decoder.feed, chunk)

    async def aclose(self) -> None:
        return None

    @property
    def partial(self) -> tuple[Segment, ...]:
        return self.decoder.partial

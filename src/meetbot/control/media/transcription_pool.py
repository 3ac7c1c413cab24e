"""The CPU budget for transcription: one thread pool of ``transcription_workers`` threads,
shared by the final passes (which wait their turn) and live decoding (which gives up when the
pool is busy, see :meth:`TranscriptionPool.busy`)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


class TranscriptionPool:
    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a transcription pool needs at least one worker")
        self.workers = workers
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="transcribe")
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
        call = functools.partial(fn, *args, **kwargs)
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            self._in_flight -= 1

    def close(self) -> None:
        """Stop taking work; running jobs finish in their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)

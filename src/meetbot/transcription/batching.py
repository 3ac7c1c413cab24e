"""Several live streams, one model, one decode: concurrent ``transcribe`` calls share a batch.

Live transcription re-decodes each bot's open window every second or two. On one model those
decodes used to queue one behind the other, so the CPU a host spent grew with the number of
bots. A :class:`StreamBatcher` is a *group commit* in front of a model that can decode several
windows at once (:class:`BatchEngine`, e.g.
:meth:`meetbot.transcription.whisper.WhisperTranscriber.transcribe_many`): a call that finds the
model busy queues its window; when the decode in progress ends, the next caller to take the
model decodes every queued window (up to ``max_batch``) in one batched call and hands each
caller its own segments. With one bot nothing changes (a batch of one); with many, the windows
that piled up during one decode go through the next one together, so the cost grows
sub-linearly with the number of bots (figures: ``bench/live_batching.py``), and every stream
waits at most one batch: the model serves them fairly.

``budget`` is entered around each decode (the transcription pool's CPU budget, shared with the
final passes after the call), so batching never runs more decodes at once than the operator
allowed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from meetbot.contract.models import Segment
from meetbot.transcription.audio import Samples, as_samples

Window = tuple[Samples, float]
"""Samples of one stream and the timeline offset of their first sample."""


@runtime_checkable
class BatchEngine(Protocol):
    def transcribe_many(self, windows: Sequence[Window]) -> list[list[Segment]]:
        """Each window's segments (times shifted by its offset), in the windows' order."""
        ...


@dataclass(eq=False)
class _Request:
    window: Window
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Segment] = field(default_factory=list)
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class BatchStats:
    decodes: int
    """Batched calls made."""
    windows: int
    """Windows decoded in them."""
    largest: int
    """The largest batch."""


class StreamBatcher:
    """Implements :class:`meetbot.ports.Transcriber` for many threads at once (see the module)."""

    def __init__(
        self,
        engine: BatchEngine,
        *,
        max_batch: int = 8,
        budget: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self._budget = budget
        self._model = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Request] = []
        self._decodes = 0
        self._windows = 0
        self._largest = 0

    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        """Decode ``pcm16k`` (alone or in a batch with other callers' windows); blocks."""
        request = _Request((as_samples(pcm16k), offset))
        with self._queue_lock:
            self._queue.append(request)
        while not request.done.is_set():
            with self._model:
                if request.done.is_set():
                    break
                with self._queue_lock:
                    batch = self._queue[: self.max_batch]
                    del self._queue[: self.max_batch]
                self._decode(batch)
        if request.error is not None:
            raise request.error
        return request.result

    @property
    def stats(self) -> BatchStats:
        return BatchStats(self._decodes, self._windows, self._largest)

    def _decode(self, batch: list[_Request]) -> None:
        if not batch:
            return
        try:
            with self._budget():
                results = self.engine.transcribe_many([r.window for r in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} windows")
        except BaseException as exc:
            for request in batch:
                request.error = exc
                request.done.set()
            if not isinstance(exc, Exception):
                raise
            return
        self._decodes += 1
        self._windows += len(batch)
        self._largest = max(self._largest, len(batch))
        for request, segments in zip(batch, results, strict=True):
            request.result = segments
            request.done.set()

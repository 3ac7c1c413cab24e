"""The group commit in front of a batching model (transcription/batching.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pytest

from meetbot.contract.models import Segment
from meetbot.transcription.batching import StreamBatcher, Window


class Engine:
    """Answers each window with one segment naming its offset; the first call waits until
    released, so that the other callers pile up behind it."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.fail = False

    def transcribe_many(self, windows: Sequence[Window]) -> list[list[Segment]]:
        self.started.set()
        self.release.wait(5)
        if self.fail:
            raise RuntimeError("model broke")
        self.batches.append(len(windows))
        return [[Segment(o, o + len(w) / 16_000, f"at {o:g}")] for w, o in windows]


def _run(batcher: StreamBatcher, offsets: Sequence[float]) -> dict[float, object]:
    results: dict[float, object] = {}

    def call(offset: float) -> None:
        try:
            results[offset] = batcher.transcribe(np.zeros(1600, np.float32), offset=offset)
        except Exception as exc:
            results[offset] = exc

    threads = [threading.Thread(target=call, args=(o,)) for o in offsets]
    threads[0].start()
    engine = batcher.engine
    assert isinstance(engine, Engine)
    assert engine.started.wait(5)
    for t in threads[1:]:
        t.start()
    while len(batcher._queue) < len(offsets) - 1:  # the others queue behind the first decode
        threading.Event().wait(0.01)
    engine.release.set()
    for t in threads:
        t.join(5)
    return results


def test_callers_that_wait_for_the_model_share_the_next_decode() -> None:
    engine = Engine()
    batcher = StreamBatcher(engine, max_batch=8)
    results = _run(batcher, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert engine.batches == [1, 4]
    for offset, segments in results.items():
        assert isinstance(segments, list)
        assert [s.text for s in segments] == [f"at {offset:g}"]  # each caller its own
    assert batcher.stats.decodes == 2
    assert batcher.stats.largest == 4


def test_a_batch_is_never_larger_than_max_batch() -> None:
    engine = Engine()
    batcher = StreamBatcher(engine, max_batch=2)
    results = _run(batcher, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert engine.batches == [1, 2, 2, 1]
    assert all(isinstance(r, list) for r in results.values())


def test_a_failed_decode_fails_every_caller_in_it_and_the_next_batch_runs() -> None:
    engine = Engine()
    engine.fail = True
    batcher = StreamBatcher(engine, max_batch=8)
    results = _run(batcher, [1.0, 2.0, 3.0])
    assert all(isinstance(r, RuntimeError) for r in results.values())
    engine.fail = False
    assert batcher.transcribe(np.zeros(160, np.float32), offset=7.0)[0].text == "at 7"


def test_every_decode_holds_the_budget() -> None:
    held: list[bool] = []
    lock = threading.Lock()

    @contextmanager
    def budget() -> Iterator[None]:
        with lock:
            held.append(True)
            yield

    engine = Engine()
    engine.release.set()
    batcher = StreamBatcher(engine, budget=budget)
    batcher.transcribe(np.zeros(160, np.float32))
    batcher.transcribe(np.zeros(160, np.float32), offset=1.0)
    assert held == [True, True]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        StreamBatcher(Engine(), max_batch=0)

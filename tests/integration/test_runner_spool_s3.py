"""A real recorder writing to a real SeaweedFS that is stopped for a while and started again:
no chunk is lost, they are stored in order once it is back, and each is reported only then.

The outage (12 s) is three times the ~4 s a runner used to retry a chunk before dropping it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from harness.seaweed import SeaweedProcess, seaweedfs_process
from harness.waiting import until
from meetbot.contract.media_format import chunk_key
from meetbot.contract.reports import AudioChunk, MediaLost, Report
from meetbot.runner.capture import AudioRecorder
from meetbot.testing.fakes import FixedClock

OUTAGE_S = 12.0
BOT = "bot_spool"


@pytest.fixture
def weed(tmp_path: Path) -> Iterator[SeaweedProcess]:
    with seaweedfs_process(tmp_path / "seaweed") as process:
        yield process


def piece(n: int) -> bytes:
    """250 ms of a tone whose pitch says which piece it is."""
    t = np.arange(4000) + 4000 * n
    return (0.2 * np.sin(t * (0.05 + 0.001 * (n % 50))) * 32767).astype("<i2").tobytes()


async def test_a_storage_outage_loses_no_chunk(weed: SeaweedProcess, tmp_path: Path) -> None:
    storage = weed.server.storage("spool-test")
    reports: list[Report] = []
    rec = AudioRecorder(storage, BOT, reports.append, FixedClock(datetime.now(UTC)),
                        spool_dir=tmp_path)  # fmt: skip
    writer = asyncio.create_task(rec.run())
    rec.start()
    fed: list[bytes] = []

    async def speak(seconds: float) -> None:
        for _ in range(int(seconds * 4)):
            fed.append(piece(len(fed)))
            rec.feed(fed[-1])
            await asyncio.sleep(0.25)

    def stored() -> list[int]:
        return [r.seq for r in reports if isinstance(r, AudioChunk)]

    try:
        await speak(3.0)
        await until(lambda: len(stored()) == 2, what="the first chunks stored")
        await asyncio.to_thread(weed.stop)
        began = time.monotonic()
        await speak(OUTAGE_S)
        assert time.monotonic() - began >= OUTAGE_S
        assert len(stored()) == 2  # nothing stored, nothing reported during the outage
        assert rec.spool.pending >= 7
        assert rec.spool.failures > 0
        await asyncio.to_thread(weed.start)
        await speak(3.0)
        await until(lambda: rec.spool.pending == 0, timeout=60, what="the spool emptied")
        await rec.close()
        await writer
        n = len(fed) // 6
        assert stored() == list(range(n))  # every chunk, in order
        assert not [r for r in reports if isinstance(r, MediaLost)]
        audio = b"".join([await storage.get(chunk_key(BOT, seq)) for seq in range(n)])
        assert audio == b"".join(fed)  # the recording has no gap
    finally:
        storage.close()

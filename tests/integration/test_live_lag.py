"""Live transcription under load degrades instead of going silent (issue 18): a bot whose
decoding falls far behind keeps its live transcript growing, says how far behind it is, and
announces the lag with ``transcript.lagging``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from media_helpers import Call, create_bot, media_storage, tone

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.media_format import SAMPLE_RATE, chunk_key
from meetbot.contract.models import Segment
from meetbot.contract.reports import AudioChunk
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.transcribers import TranscriberFor, VendorCredentials
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.ports import Store
from meetbot.ports import Transcriber
from meetbot.storage import LocalStorage
from meetbot.testing.fakes import FakeLauncher
from meetbot.testing.fakes_transcription import FakeTranscriber, script
from meetbot.testing.memory_store import MemoryStore

SECONDS = 30
CALM = 8
WORDS = script(*((t + 0.2, f"sentence number {t}") for t in range(0, SECONDS + CALM - 2, 3)))


@dataclass
class SlowTranscriber:
    """A transcriber as slow as a busy machine: a decode costs ``delay`` seconds of one pool
    thread plus ``per_second`` for each second of the window, so decoding cannot keep up
    with four streams arriving much faster than real time, however the test is scheduled."""

    inner: FakeTranscriber
    delay: float
    per_second: float

    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        samples = np.asarray(pcm16k)
        time.sleep(self.delay + self.per_second * len(samples) / SAMPLE_RATE)
        return self.inner.transcribe(samples, offset=offset)


def fixed(transcriber: Transcriber) -> TranscriberFor:
    def get(
        model_name: str, *, live: bool = False, credentials: VendorCredentials | None = None
    ) -> Transcriber | None:
        return transcriber

    return get


@pytest.fixture
async def plane(any_store: Store, tmp_path: Path) -> TestPlane:
    launcher = FakeLauncher(pool_size=4, max_concurrent=8, auto_refill=True)
    return await build_test_plane(any_store, data_dir=tmp_path, launcher=launcher)


@pytest.fixture
def storage(plane: TestPlane, tmp_path: Path) -> LocalStorage:
    return media_storage(plane, tmp_path / "media")


@pytest.fixture
async def memory_plane(tmp_path: Path) -> TestPlane:
    """The four-bot race runs on the memory store: what it shows is live transcription's,
    and a database's speed would only change how far behind the bots fall."""
    launcher = FakeLauncher(pool_size=4, max_concurrent=8, auto_refill=True)
    return await build_test_plane(MemoryStore(), data_dir=tmp_path, launcher=launcher)


async def test_four_bots_behind_a_slow_decoder_all_keep_a_growing_live_transcript(
    memory_plane: TestPlane, tmp_path: Path
) -> None:
    plane = memory_plane
    storage = media_storage(plane, tmp_path / "media")
    pool = TranscriptionPool(1)
    lags: list[tuple[str, float]] = []

    async def lagging(bot_id: str, lag: float) -> None:
        lags.append((bot_id, lag))

    slow = SlowTranscriber(FakeTranscriber(WORDS), delay=0.1, per_second=0.03)
    live = LiveTranscription(
        plane.services, storage, fixed(slow), pool, lag_warning=8.0, lagging=lagging
    )
    calls = []
    for _ in range(4):
        bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
        c = Call(plane, storage, bot_id, live=live)
        await c.join()
        calls.append(c)
    pcm = tone(SECONDS)
    per_chunk = SAMPLE_RATE * 2  # one-second chunks, arriving far faster than decoding
    grew: dict[str, list[int]] = {c.bot_id: [] for c in calls}
    for seq, begin in enumerate(range(0, len(pcm), per_chunk)):
        for c in calls:
            key = chunk_key(c.bot_id, seq)
            await storage.put(key, pcm[begin : begin + per_chunk])
            at = plane.clock.now()
            await c.report(AudioChunk(at=at, seq=seq, key=key, offset_s=seq, duration_s=1.0))
            live.on_chunk(c.bot_id, key, float(seq))
        await asyncio.sleep(0.1)
        if seq % 5 == 4:
            for c in calls:
                grew[c.bot_id].append(len(await _segments(plane, c.bot_id)))
    for c in calls:
        assert live.active(c.bot_id), "live transcription was switched off"
        await live.idle(c.bot_id)
    # The load is gone: the call goes on at the pace decoding keeps up with.
    for seq in range(SECONDS, SECONDS + CALM):
        for c in calls:
            key = chunk_key(c.bot_id, seq)
            await storage.put(key, tone(1.0))
            at = plane.clock.now()
            await c.report(AudioChunk(at=at, seq=seq, key=key, offset_s=seq, duration_s=1.0))
            live.on_chunk(c.bot_id, key, float(seq))
            await live.idle(c.bot_id)

    for c in calls:
        counts = grew[c.bot_id]
        assert counts[-1] > counts[0], counts  # grew during the call
        assert len(await _segments(plane, c.bot_id)) >= 8  # and covers (nearly) all the speech
    lagged = {bot_id for bot_id, lag in lags if lag >= 8.0}
    assert lagged, lags  # behind by more than the warning: announced
    async with plane.client() as client:
        body = (await client.get(f"/api/v1/bot/{calls[0].bot_id}/transcript/")).json()
    assert body["final"] is False
    assert 0.0 <= body["live_lag_seconds"] < 4.0  # caught up once the load is gone
    for bot_id in lagged:
        assert [lag for b, lag in lags if b == bot_id][-1] == 0.0  # and announced it
    pool.close()


async def test_a_lag_is_a_transcript_lagging_event(plane: TestPlane, storage: LocalStorage) -> None:
    from meetbot.control.service.media import transcript_lagging

    bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
    c = Call(plane, storage, bot_id)
    await c.join()
    await transcript_lagging(plane.services, bot_id, 12.34)
    await transcript_lagging(plane.services, bot_id, 0.0)
    async with plane.client() as client:
        r = await client.get("/api/v1/events/", params={"bot_id": bot_id})
        assert r.status_code == 200, r.text
        found = [e for e in r.json()["results"] if e["type"] == "transcript.lagging"]
    assert [e["data"]["lag_seconds"] for e in found] == [12.3, 0.0]
    assert [e["data"]["caught_up"] for e in found] == [False, True]


async def _segments(plane: TestPlane, bot_id: str) -> list[Any]:
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{bot_id}/transcript/")
    if r.status_code != 200:
        return []
    segments: list[Any] = r.json()["segments"]
    return segments

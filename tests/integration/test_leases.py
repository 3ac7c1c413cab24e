"""Leases in every store, and the media pipeline of several replicas working under them."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from media_helpers import (
    Call,
    bot_json,
    create_bot,
    events,
    fixed,
    media_storage,
    tone,
    types,
)

from harness.plane import TestPlane, build_test_plane
from harness.waiting import until
from meetbot.contract.models import Segment
from meetbot.control.media.lease import lease_name
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.ports import Store
from meetbot.control.service.lost_runners import runner_lost
from meetbot.storage import LocalStorage
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_transcription import FakeTranscriber, script

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SPEAKERS = [("Alice", 0.0, 3.0), ("Bob", 3.0, 8.0)]
WORDS = script((0.2, "hello everyone and welcome"), (3.2, "thanks alice great to be here"))


async def acquire(store: Store, name: str, owner: str, until: datetime, now: datetime) -> bool:
    async with store.transaction() as tx:
        return await tx.leases.acquire(name, owner, until, now)


async def test_a_lease_is_one_owners_until_it_expires_or_is_released(any_store: Store) -> None:
    assert await acquire(any_store, "job", "a", T0 + MINUTE, T0)
    assert not await acquire(any_store, "job", "b", T0 + 2 * MINUTE, T0 + MINUTE / 2)
    assert await acquire(any_store, "other", "b", T0 + MINUTE, T0)  # names are independent
    assert await acquire(any_store, "job", "a", T0 + 2 * MINUTE, T0 + MINUTE / 2)  # renewed
    assert not await acquire(any_store, "job", "b", T0 + 3 * MINUTE, T0 + MINUTE)  # a's still
    assert await acquire(any_store, "job", "b", T0 + 3 * MINUTE, T0 + 2 * MINUTE)  # expired
    async with any_store.transaction() as tx:
        await tx.leases.release("job", "a")  # not a's any more: nothing happens
    assert not await acquire(any_store, "job", "a", T0 + 4 * MINUTE, T0 + 2 * MINUTE)
    async with any_store.transaction() as tx:
        await tx.leases.release("job", "b")
    assert await acquire(any_store, "job", "a", T0 + 4 * MINUTE, T0 + 2 * MINUTE)
    async with any_store.transaction() as tx:
        assert await tx.leases.purge(T0 + 2 * MINUTE) == 1  # "other" expired at T0 + 1 min
        assert await tx.leases.purge(T0 + 2 * MINUTE) == 0
    assert not await acquire(any_store, "job", "b", T0 + 5 * MINUTE, T0 + 3 * MINUTE)


async def test_concurrent_acquirers_get_one_lease(any_store: Store) -> None:
    owners = [f"replica-{i}" for i in range(8)]
    got = await asyncio.gather(*(acquire(any_store, "job", o, T0 + MINUTE, T0) for o in owners))
    assert sum(got) == 1


# --- the media pipeline on several replicas ---------------------------------------------------


@pytest.fixture
async def plane(any_store: Store, tmp_path: Path) -> TestPlane:
    return await build_test_plane(any_store, clock=FixedClock(T0), data_dir=tmp_path)


@pytest.fixture
def storage(plane: TestPlane, tmp_path: Path) -> LocalStorage:
    return media_storage(plane, tmp_path / "media")


async def recorded(plane: TestPlane, storage: LocalStorage, *, leave: bool = True) -> str:
    bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
    c = Call(plane, storage, bot_id, speakers=list(SPEAKERS))
    await c.join()
    await c.record(tone(8.0))
    if leave:
        await c.leave()
    return bot_id


async def test_two_replicas_never_work_on_one_bot_at_once(
    plane: TestPlane, storage: LocalStorage
) -> None:
    bot_id = await recorded(plane, storage)
    one, two = FakeTranscriber(WORDS), FakeTranscriber(WORDS)
    replicas = [MediaPipeline(plane.services, storage, fixed(f)) for f in (one, two)]
    await asyncio.gather(*(r.process(bot_id) for r in replicas))
    assert (await bot_json(plane, bot_id))["status"] == "finished"
    assert len(one.calls) + len(two.calls) == 1  # transcribed once, by one replica
    found = types(await events(plane, bot_id))
    assert found.count("recording.ready") == 1
    assert found.count("transcript.ready") == 1
    # released with the bot's end, so anyone may take it (held, it would refuse "x" at T0)
    assert await acquire(plane.services.store, lease_name(bot_id), "x", T0 + MINUTE, T0)


async def test_a_lost_runners_recording_is_salvaged_once(
    plane: TestPlane, storage: LocalStorage
) -> None:
    bot_id = await recorded(plane, storage, leave=False)
    await runner_lost(plane.services, bot_id)
    replicas = [MediaPipeline(plane.services, storage, fixed(None)) for _ in range(2)]
    await asyncio.gather(*(r.process(bot_id) for r in replicas))
    ready = [e for e in await events(plane, bot_id) if e.type == "recording.ready"]
    assert len(ready) == 1
    assert ready[0].data["recording"]["salvaged"] is True


async def test_a_dead_replicas_lease_expires_and_another_takes_the_bot_over(
    plane: TestPlane, storage: LocalStorage
) -> None:
    bot_id = await recorded(plane, storage)
    dead = MediaPipeline(plane.services, storage, fixed(FakeTranscriber(WORDS)))
    held, _ = await dead.lease.take(bot_id)  # ... and the process dies here
    assert held
    alive = MediaPipeline(plane.services, storage, fixed(FakeTranscriber(WORDS)))
    await alive.process(bot_id)
    assert (await bot_json(plane, bot_id))["status"] == "processing"  # left to the holder
    assert isinstance(plane.clock, FixedClock)
    plane.clock.advance(dead.lease.seconds)
    await alive.process(bot_id)
    assert (await bot_json(plane, bot_id))["status"] == "finished"


class HeldTranscriber(FakeTranscriber):
    """Blocks in :meth:`transcribe` until :attr:`go` is set (a long transcription)."""

    def __init__(self) -> None:
        super().__init__(WORDS)
        self.started = threading.Event()
        self.go = threading.Event()

    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        self.started.set()
        self.go.wait(30)
        return super().transcribe(pcm16k, offset=offset)


async def test_the_lease_is_renewed_while_the_work_lasts(
    plane: TestPlane, storage: LocalStorage
) -> None:
    bot_id = await recorded(plane, storage)
    slow = HeldTranscriber()
    worker = MediaPipeline(plane.services, storage, fixed(slow), lease_seconds=0.3)
    fast = FakeTranscriber(WORDS)
    other = MediaPipeline(plane.services, storage, fixed(fast))
    assert isinstance(plane.clock, FixedClock)
    working = asyncio.create_task(worker.process(bot_id))
    try:
        await until(slow.started.is_set, what="the transcription to start")
        for n in range(1, 5):  # four leases' worth of store time: renewed all along
            plane.clock.advance(0.2)
            await until(lambda n=n: worker.lease.renewals >= n, what=f"renewal {n}")
            await other.process(bot_id)  # finds the lease held, leaves the bot
    finally:
        slow.go.set()
        await working
    assert (await bot_json(plane, bot_id))["status"] == "finished"
    assert len(slow.calls) == 1
    assert fast.calls == []  # the other replica never took the bot over

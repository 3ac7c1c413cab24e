"""The API key cache reads each key once at a time and renews a key in use before it expires.

Before, every request that missed while the first miss's read was pending ran its own read:
every 4 s, when a busy client's key expired, a burst of reads stalled the event loop for
40-120 ms (``bench/api_create.py --overload 3``)."""

from __future__ import annotations

import asyncio

import pytest

from meetbot.control.api.key_cache import REFRESH_AHEAD, KeyCache
from meetbot.errors import StoreUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Keys:
    """A key table whose reads wait until released, counting them."""

    def __init__(self, workspace: str | None = "ws_1") -> None:
        self.workspace = workspace
        self.reads = 0
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def load(self) -> str | None:
        self.reads += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return self.workspace


async def test_concurrent_misses_share_one_read() -> None:
    cache, keys = KeyCache(ttl=4.0, clock=Clock()), Keys()
    waiting = [asyncio.create_task(cache.read("h", keys.load)) for _ in range(50)]
    await asyncio.sleep(0)
    keys.gate.set()
    assert await asyncio.gather(*waiting) == ["ws_1"] * 50
    assert keys.reads == 1
    assert cache.get("h") == "ws_1"


async def test_a_hit_near_expiry_is_answered_and_renewed_in_the_background() -> None:
    clock = Clock()
    cache, keys = KeyCache(ttl=4.0, clock=clock), Keys()
    keys.gate.set()
    cache.put("h", "ws_1")
    clock.now += 4.0 - REFRESH_AHEAD / 2  # in the last REFRESH_AHEAD seconds of the entry
    assert cache.fresh("h", keys.load) == "ws_1"
    assert cache.fresh("h", keys.load) == "ws_1"  # one renewal at a time
    await asyncio.sleep(0.01)
    assert keys.reads == 1
    clock.now += REFRESH_AHEAD  # past the old expiry, inside the renewed one
    assert cache.fresh("h", keys.load) == "ws_1"


async def test_an_early_hit_reads_nothing_and_an_expired_entry_misses() -> None:
    clock = Clock()
    cache, keys = KeyCache(ttl=4.0, clock=clock), Keys()
    cache.put("h", "ws_1")
    clock.now += 1.0
    assert cache.fresh("h", keys.load) == "ws_1"
    clock.now += 3.0
    assert cache.fresh("h", keys.load) is None
    await asyncio.sleep(0)
    assert keys.reads == 0


async def test_a_revoked_key_is_dropped_by_its_renewal() -> None:
    clock = Clock()
    cache, keys = KeyCache(ttl=4.0, clock=clock), Keys(workspace=None)
    keys.gate.set()
    cache.put("h", "ws_1")
    clock.now += 3.5
    assert cache.fresh("h", keys.load) == "ws_1"
    await asyncio.sleep(0.01)
    assert cache.get("h") is None


async def test_a_failed_read_fails_its_waiters_and_caches_nothing() -> None:
    cache, keys = KeyCache(ttl=4.0, clock=Clock()), Keys()
    keys.fail = StoreUnavailable("database is locked")
    waiting = [asyncio.create_task(cache.read("h", keys.load)) for _ in range(3)]
    await asyncio.sleep(0)
    keys.gate.set()
    for task in waiting:
        with pytest.raises(StoreUnavailable):
            await task
    assert cache.get("h") is None
    keys.fail = None
    assert await cache.read("h", keys.load) == "ws_1"
    assert keys.reads == 2


async def test_a_request_that_goes_away_does_not_cancel_the_read_for_the_others() -> None:
    """The first request to miss ran the shared read itself: when its client hung up, every
    request waiting on that read was cancelled with it."""
    cache, keys = KeyCache(ttl=4.0, clock=Clock()), Keys()
    first = asyncio.create_task(cache.read("h", keys.load))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.read("h", keys.load))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    keys.gate.set()
    assert await second == "ws_1"
    assert keys.reads == 1
    assert cache.get("h") == "ws_1"

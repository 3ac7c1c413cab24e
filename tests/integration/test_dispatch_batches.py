"""Bots due in the same minute are dispatched in one scheduler turn, batch after batch.

Before, a turn dispatched one batch of 16 and then slept ``scheduler_interval``: 1,000 bots
due within a minute were dispatched up to 70 s late on a busy control plane
(``bench/fleet_schedule.py --bots 1000``, docs/benchmarks.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import Status
from meetbot.control.service.dispatch import dispatch_due
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"


async def scheduled(plane: TestPlane, count: int) -> list[str]:
    join_at = iso(plane.clock.now() + timedelta(seconds=1200))
    ids = []
    async with plane.client() as client:
        for _ in range(count):
            r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    return ids


async def statuses(plane: TestPlane, ids: list[str]) -> set[Status]:
    async with plane.services.store.transaction(write=False) as tx:
        return {bot.status for bot in [await tx.bots.get(i) for i in ids] if bot is not None}


async def test_one_turn_dispatches_every_due_bot(any_store: Any) -> None:
    plane = await build_test_plane(any_store, max_concurrent_bots=100)
    ids = await scheduled(plane, 40)
    plane.clock.advance(1200 - plane.services.settings.dispatch_lead + 1)
    assert await dispatch_due(plane.services, batch=16) == 40
    assert await statuses(plane, ids) == {Status.BOOTING}
    assert await dispatch_due(plane.services, batch=16) == 0


async def test_a_turn_is_bounded(any_store: Any) -> None:
    plane = await build_test_plane(any_store, max_concurrent_bots=100)
    await scheduled(plane, 20)
    plane.clock.advance(1200)
    assert await dispatch_due(plane.services, batch=4, rounds=2) == 8
    assert await dispatch_due(plane.services, batch=4, rounds=10) == 12

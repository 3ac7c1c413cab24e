"""Bots due in the same minute are dispatched in one scheduler turn, batch after batch.

Before, a turn dispatched one batch of 16 and then slept ``scheduler_interval``: 1,000 bots
due within a minute were dispatched up to 70 s late on a busy control plane
(``bench/fleet_schedule.py --bots 1000``, docs/benchmarks.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pg_testdb import fresh_schema
from test_fleet_control import Fleet

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import Status
from meetbot.control.service.agents import refresh_capacity
from meetbot.control.service.dispatch import dispatch_due
from meetbot.control.store import SqlStore, open_store
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


async def test_a_batch_costs_the_same_statements_for_4_bots_as_for_32(sql_url: str) -> None:
    # The batch's claims, rows, hand-offs and events are each written together: at one
    # statement per step (about 14 a bot), a batch of 16 waited 1.4 to 2.7 s on a loaded
    # event loop and 1,000 bots due in a minute were dispatched up to 90 s late.
    store = await open_store(sql_url)  # SQLite and PostgreSQL: the memory store sends none
    try:
        await _costs_the_same(store)
    finally:
        await store.close()


async def _costs_the_same(store: SqlStore) -> None:
    fleet = await Fleet(store).setup()
    tokens = [await fleet.agent(name) for name in ("a", "b")]
    costs = []
    for count in (4, 32):
        join_at = iso(fleet.clock.now() + timedelta(hours=1))
        for token in tokens:
            await fleet.beat(token, slots=40, warm_idle=1)
        await refresh_capacity(fleet.services)
        for _ in range(count):
            assert (await fleet.create(join_at=join_at)).status_code == 201
        fleet.clock.advance(3600 - 600)  # the dispatch lead
        for token in tokens:
            await fleet.beat(token, slots=40, warm_idle=1)
        before = store.statements
        assert await dispatch_due(fleet.services, batch=64) == count
        costs.append(store.statements - before)
        handed = [h for token in tokens for h in await fleet.poll(token)]
        assert len(handed) == count
        if count == 4:  # one warm browser each, then room
            assert sum(h.warm for h in handed) == 2
        for token in tokens:
            await fleet.poll(token, ack=[h.id for h in handed])
    assert costs[1] <= costs[0] + 2, costs


async def test_dispatch_has_connections_of_its_own(pg_database_url: str) -> None:
    # A thousand runners reporting held every pooled connection for 30 s at a time, and the
    # dispatcher waited in that queue with them: scheduled bots were handed out late.
    store = await open_store(fresh_schema(pg_database_url), pool_size=1, max_overflow=0,
                             pool_timeout=0.5)  # fmt: skip
    try:
        plane = await build_test_plane(store, max_concurrent_bots=100)
        await scheduled(plane, 3)
        plane.clock.advance(1200)
        async with store.transaction():  # the requests' only connection, held
            assert await dispatch_due(plane.services) == 3
    finally:
        await store.close()

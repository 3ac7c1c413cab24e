"""The reaper fails bots whose runner went silent, on every store, however many bots wait."""

from __future__ import annotations

from datetime import timedelta

from harness.plane import build_test_plane
from meetbot.contract.lifecycle import Status
from meetbot.control.ports import Store
from meetbot.control.service.lost_runners import reap_silent_runners
from meetbot.testing.builders import DEFAULT_TIME, make_bot
from meetbot.testing.fakes import FixedClock

TIMEOUT = 30


async def test_only_silent_dispatched_bots_are_failed(any_store: Store) -> None:
    clock = FixedClock(DEFAULT_TIME + timedelta(minutes=10))
    plane = await build_test_plane(any_store, clock=clock, heartbeat_timeout=TIMEOUT)
    recently = clock.now() - timedelta(seconds=TIMEOUT - 1)
    silent = make_bot(status=Status.RECORDING, last_seen_at=DEFAULT_TIME)
    alive = make_bot(status=Status.RECORDING, last_seen_at=recently)
    just_dispatched = make_bot(status=Status.BOOTING, dispatched_at=recently)
    scheduled = make_bot(status=Status.SCHEDULED)
    async with any_store.transaction() as tx:
        for bot in (silent, alive, just_dispatched, scheduled):
            await tx.bots.insert(bot)

    assert await reap_silent_runners(plane.services) == 1

    async with any_store.transaction(write=False) as tx:
        reaped = await tx.bots.get(silent.id)
        others = [await tx.bots.get(b.id) for b in (alive, just_dispatched, scheduled)]
    assert reaped is not None
    assert (reaped.status, reaped.sub_code) == (Status.FAILED, "bot_process_lost")
    assert [b.status for b in others if b] == [Status.RECORDING, Status.BOOTING, Status.SCHEDULED]


async def test_a_silent_bot_behind_a_thousand_live_ones_is_reaped(any_store: Store) -> None:
    """The reaper used to load the first 1,000 dispatched bots and judge them in Python: a
    silent bot further down was never reaped."""
    clock = FixedClock(DEFAULT_TIME + timedelta(minutes=10))
    plane = await build_test_plane(any_store, clock=clock, heartbeat_timeout=TIMEOUT)
    live = [make_bot(status=Status.RECORDING, last_seen_at=clock.now()) for _ in range(1000)]
    silent = make_bot(status=Status.RECORDING, last_seen_at=DEFAULT_TIME)
    async with any_store.transaction() as tx:
        for bot in (*live, silent):
            await tx.bots.insert(bot)

    assert await reap_silent_runners(plane.services) == 1
    async with any_store.transaction(write=False) as tx:
        reaped = await tx.bots.get(silent.id)
    assert reaped is not None
    assert reaped.status is Status.FAILED

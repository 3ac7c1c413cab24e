"""A runner's heartbeat (an empty report batch) writes only when the bot's ``last_seen_at``
is getting old: before, each one locked and rewrote the bot's row, 500 writes a second for
1,000 bots in calls (``bench/fleet_schedule.py --bots 1000``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import Status
from meetbot.contract.models import Bot
from meetbot.control.ports import Store
from meetbot.control.service.core import token_hash
from meetbot.control.store import open_store
from meetbot.control.store.sql import SqlStore
from meetbot.testing.builders import DEFAULT_TIME, make_bot
from meetbot.testing.fakes import FixedClock
from meetbot.timefmt import iso

TIMEOUT = 30
TOKEN = "runner-token"


async def test_a_heartbeat_renews_last_seen_only_when_it_is_getting_old(any_store: Store) -> None:
    clock = FixedClock(DEFAULT_TIME + timedelta(minutes=10))
    plane = await build_test_plane(any_store, clock=clock, heartbeat_timeout=TIMEOUT)
    seen = clock.now() - timedelta(seconds=1)
    bot = make_bot(status=Status.RECORDING, runner_token_hash=token_hash(TOKEN), last_seen_at=seen)
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)

    async def heartbeat() -> None:
        async with plane.client() as client:
            r = await client.post(
                f"/internal/bots/{bot.id}/events",
                json={"events": []},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert r.status_code == 200, r.text
        assert r.json()["paused"] is False  # the commands of a recording bot

    async def last_seen() -> object:
        async with any_store.transaction(write=False) as tx:
            stored = await tx.bots.get(bot.id)
        assert stored is not None
        return stored.last_seen_at

    await heartbeat()
    assert await last_seen() == seen  # fresh: answered from a read

    clock.advance(TIMEOUT / 4)
    await heartbeat()
    assert await last_seen() == clock.now()  # a quarter of the timeout old: renewed


async def test_a_heartbeat_with_a_wrong_token_is_refused(any_store: Store) -> None:
    clock = FixedClock(DEFAULT_TIME + timedelta(minutes=10))
    plane = await build_test_plane(any_store, clock=clock, heartbeat_timeout=TIMEOUT)
    bot = make_bot(
        status=Status.RECORDING, runner_token_hash=token_hash(TOKEN), last_seen_at=clock.now()
    )
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)
    async with plane.client() as client:
        r = await client.post(
            f"/internal/bots/{bot.id}/events",
            json={"events": []},
            headers={"Authorization": "Bearer nope"},
        )
    assert r.status_code == 401


async def test_a_long_poll_that_waits_out_its_time_reads_twice(tmp_path: Path) -> None:
    """It read three times (before the wait, once more in case a command came meanwhile, and
    at the end): 120 reads a second for 1,000 runners' polls."""
    async with recording_bot(tmp_path) as (store, plane, bot):
        before = store.transactions
        async with plane.client() as client:
            r = await client.get(
                f"/internal/bots/{bot.id}/commands",
                params={"wait": 0.05},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert r.status_code == 200, r.text
        assert store.transactions - before == 2


async def test_a_batch_of_observations_writes_the_bots_row_only_when_last_seen_is_old(
    any_store: Store,
) -> None:
    """Participants and speech (most report batches) locked and rewrote the bot's row each
    time, for last_seen_at only; a batch with a lifecycle report still writes it."""
    clock = FixedClock(DEFAULT_TIME + timedelta(minutes=10))
    plane = await build_test_plane(any_store, clock=clock, heartbeat_timeout=TIMEOUT)
    seen = clock.now() - timedelta(seconds=1)
    bot = make_bot(status=Status.RECORDING, runner_token_hash=token_hash(TOKEN), last_seen_at=seen)
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)

    async def report(*events: dict[str, object]) -> None:
        async with plane.client() as client:
            r = await client.post(
                f"/internal/bots/{bot.id}/events",
                json={"events": list(events)},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert r.status_code == 200, r.text

    async def stored() -> Bot:
        async with any_store.transaction(write=False) as tx:
            found = await tx.bots.get(bot.id)
            joined = await tx.observations.list(bot.id, ("participant_joined",))
        assert found is not None
        assert joined, "the observation is stored either way"
        return found

    at = iso(clock.now())
    joined = {"type": "participant_joined", "at": at, "participant_id": "p1", "name": "Ann"}
    await report(joined)
    assert (await stored()).last_seen_at == seen

    clock.advance(TIMEOUT / 4)
    await report(joined | {"participant_id": "p2"})
    assert (await stored()).last_seen_at == clock.now()

    clock.advance(1)
    await report({"type": "in_call", "at": iso(clock.now())})  # a lifecycle report
    assert (await stored()).last_seen_at == clock.now()


@asynccontextmanager
async def recording_bot(tmp_path: Path) -> AsyncIterator[tuple[SqlStore, TestPlane, Bot]]:
    """A SQLite store (its statements counted), the plane on it, a recording bot seen now, on
    Google Meet (an adapter with chat and a voice)."""
    store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    try:
        assert isinstance(store, SqlStore)
        clock = FixedClock(DEFAULT_TIME + timedelta(minutes=10))
        plane = await build_test_plane(store, clock=clock, heartbeat_timeout=TIMEOUT)
        bot = make_bot(
            status=Status.RECORDING, runner_token_hash=token_hash(TOKEN), last_seen_at=clock.now()
        )
        async with store.transaction() as tx:
            await tx.bots.insert(bot)
        yield store, plane, bot
    finally:
        await store.close()


async def post_events(plane: TestPlane, bot: Bot, events: list[dict[str, object]]) -> None:
    async with plane.client() as client:
        r = await client.post(
            f"/internal/bots/{bot.id}/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert r.status_code == 200, r.text


async def test_a_fresh_heartbeat_costs_two_reads(tmp_path: Path) -> None:
    """The bot's row without its status history, and its chat and clips in one read of its
    observations: it cost four reads (the history, then chat and clips apart), and a thousand
    runners' heartbeats and polls kept one control plane's core busy."""
    async with recording_bot(tmp_path) as (store, plane, bot):
        before = store.statements
        await post_events(plane, bot, [])
        assert store.statements - before == 3  # SQLite's BEGIN, then the two reads


async def test_a_batch_of_observations_does_not_read_the_status_history(tmp_path: Path) -> None:
    """Only a lifecycle step appends to the history: a batch of speech (every few seconds
    for each bot in a call) read it for nothing."""
    async with recording_bot(tmp_path) as (store, plane, bot):
        speech = {"type": "speaking", "at": iso(plane.clock.now()), "participant_id": "p1",
                  "name": "Ann", "speaking": True}  # fmt: skip
        seen: list[str] = []
        engines = {store._engine.sync_engine, store._writer_engine.sync_engine}

        def record(conn: object, cursor: object, sql: str, *_: object) -> None:
            seen.append(sql)

        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", record)
        try:
            await post_events(plane, bot, [speech])
        finally:
            for engine in engines:
                sa.event.remove(engine, "before_cursor_execute", record)
        assert seen, "the batch was written"
        assert not [sql for sql in seen if "status_changes" in sql], seen

"""What only the SQL store has: URLs, SQLite settings and locking, PostgreSQL row locks and the
event-order lock. Migrations are in ``test_migrations.py``; the shared contract is in
``test_store_contract.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_testdb import fresh_schema
from test_store_contract import T0, WS, insert, make_bot, scheduled

from meetbot.contract.models import OutboxEvent
from meetbot.control.ports import BotQuery, Store
from meetbot.control.store import SqlStore, open_store
from meetbot.control.store.engines import async_url, create_engine
from meetbot.testing.memory_store import MemoryStore

# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////data/meetbot.db", "sqlite+aiosqlite:////data/meetbot.db"),
        ("sqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("sqlite+aiosqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("postgresql://u:p@h:5/db", "postgresql+psycopg://u:***@h:5/db"),
        ("postgres://u@h/db?sslmode=require", "postgresql+psycopg://u@h/db?sslmode=require"),
        ("postgresql+psycopg://h/db", "postgresql+psycopg://h/db"),
    ],
)
def test_urls_map_to_async_drivers(url: str, expected: str) -> None:
    assert async_url(url).render_as_string(hide_password=True) == expected


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "mysql://h/db", "postgresql+asyncpg://h/db"]
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"SQLite needs a file|unsupported"):
        async_url(url)


# --- SQLite ---------------------------------------------------------------------------------


async def test_sqlite_connection_settings(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/sub/dir/m.db")  # the directory is created
    try:
        async with engine.connect() as conn:
            pragmas = {}
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys"):
                pragmas[name] = (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
    finally:
        await engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 5000,
        "synchronous": 1,
        "foreign_keys": 1,
    }


async def test_sqlite_write_transactions_take_the_lock_at_begin(tmp_path: Path) -> None:
    """Two stores on one file behave like two processes: the second writer waits at BEGIN
    (even though the first has only read so far), and readers are never blocked (WAL)."""
    url = f"sqlite:///{tmp_path}/m.db"
    one, two = await open_store(url), await open_store(url)
    try:
        (bot,) = await insert(one, make_bot())
        order: list[str] = []

        async def second_writer() -> None:
            async with two.transaction() as tx:
                order.append("second began")
                await tx.bots.touch(bot.id, T0)

        async with one.transaction() as tx:
            assert await tx.bots.get(bot.id) is not None
            waiting = asyncio.create_task(second_writer())
            await asyncio.sleep(0.3)
            async with two.transaction(write=False) as reader:
                assert await reader.bots.get(bot.id) is not None
            order.append("first commits")
        await waiting
        assert order == ["first commits", "second began"]
    finally:
        await one.close()
        await two.close()


async def test_sqlite_writers_in_two_processes_all_succeed(tmp_path: Path) -> None:
    """Read-then-write transactions from two stores (no shared asyncio lock) on one file:
    serialised by BEGIN IMMEDIATE + busy_timeout, never 'database is locked'."""
    url = f"sqlite:///{tmp_path}/m.db"
    stores = [await open_store(url), await open_store(url)]
    try:
        (bot,) = await insert(stores[0], make_bot())

        async def increment(store: SqlStore) -> None:
            async with store.transaction() as tx:
                current = await tx.bots.get(bot.id, for_update=True)
                assert current is not None
                await asyncio.sleep(0)
                await tx.bots.update(
                    current.evolve(detection_retries=current.detection_retries + 1)
                )

        await asyncio.gather(*(increment(stores[i % 2]) for i in range(50)))
        async with stores[1].transaction(write=False) as tx:
            got = await tx.bots.get(bot.id)
        assert got is not None
        assert got.detection_retries == 50
    finally:
        for store in stores:
            await store.close()


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
async def pg_store(pg_database_url: str) -> AsyncIterator[SqlStore]:
    store = await open_store(fresh_schema(pg_database_url))
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.postgres
async def test_pg_concurrent_dispatch_transactions_skip_locked_bots(pg_store: SqlStore) -> None:
    bots = await insert(pg_store, *(scheduled(T0 + timedelta(seconds=i)) for i in range(5)))
    cutoff = T0 + timedelta(minutes=1)
    async with pg_store.transaction() as first:
        claimed = await first.bots.due_for_dispatch(cutoff, 3)
        async with pg_store.transaction() as second:
            rest = await second.bots.due_for_dispatch(cutoff, 10)
            again = await second.bots.due_for_dispatch(cutoff, 10)
    assert [b.id for b in claimed] == [b.id for b in bots[:3]]
    assert [b.id for b in rest] == [b.id for b in bots[3:]]
    assert again == rest  # a transaction's own locks do not hide rows from itself


@pytest.mark.postgres
async def test_pg_for_update_waits_for_the_holder(pg_store: SqlStore) -> None:
    (bot,) = await insert(pg_store, make_bot())

    async def second() -> int:
        async with pg_store.transaction() as tx:
            current = await tx.bots.get(bot.id, for_update=True)
            assert current is not None
            return current.detection_retries

    async with pg_store.transaction() as tx:
        current = await tx.bots.get(bot.id, for_update=True)
        assert current is not None
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await tx.bots.update(current.evolve(detection_retries=1))
    assert await waiting == 1


@pytest.mark.postgres
async def test_pg_events_commit_in_seq_order(pg_store: SqlStore) -> None:
    """A later appender waits for an earlier one's commit, so no reader sees seq n+1 before n."""

    async def later_append() -> int | None:
        async with pg_store.transaction() as tx:
            return (await tx.events.append(OutboxEvent("e2", WS, "x", T0, {}))).seq

    async with pg_store.transaction() as tx:
        first = await tx.events.append(OutboxEvent("e1", WS, "x", T0, {}))
        waiting = asyncio.create_task(later_append())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        async with pg_store.transaction(write=False) as reader:
            assert await reader.events.list_after(WS, 0, 10) == []
    second = await waiting
    assert first.seq is not None
    assert second is not None
    assert second > first.seq


@pytest.mark.postgres
async def test_pg_read_only_transactions_are_read_only(pg_store: SqlStore) -> None:
    async with pg_store.transaction(write=False) as tx:
        with pytest.raises(sa.exc.InternalError, match="read-only"):
            await tx.conn.execute(sa.text("CREATE TABLE nope (id int)"))
    await insert(pg_store, make_bot())  # the pooled connection is writable again


@pytest.mark.postgres
async def test_pg_statements_are_never_planned_generically(pg_store: SqlStore) -> None:
    """Regression: psycopg prepares a statement after five runs and PostgreSQL then kept the
    claim's *generic* plan, costed while the delivery queue was empty; with a backlog of
    10,000 each claim took seconds and a drain stalled at a few deliveries a second."""
    now = datetime.now(UTC)
    async with pg_store.transaction() as tx:
        for _ in range(15):  # an empty queue, as when a server starts
            assert await tx.webhooks.claim(now, now, 64, "t", run=32) == []
        generic = await tx.conn.execute(
            sa.text(
                "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)"
                " FROM pg_prepared_statements WHERE statement LIKE '%webhook_deliveries%'"
            )
        )
        generic_plans, custom_plans = generic.one()
    assert custom_plans >= 3  # the claim was prepared ...
    assert generic_plans == 0  # ... and planned with its parameters each time


# --- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_nested_write_transactions_fail_fast(kind: str, tmp_path: Path) -> None:
    """One writer at a time: a write transaction inside another of the same task would wait for
    itself forever, so it raises. (PostgreSQL allows it: two connections.)"""
    store: Store = (
        MemoryStore() if kind == "memory" else await open_store(f"sqlite:///{tmp_path}/m.db")
    )
    try:
        async with store.transaction() as outer:
            await outer.bots.insert(make_bot())
            with pytest.raises(RuntimeError, match="nested write transaction"):
                async with store.transaction():
                    pass
            async with store.transaction(write=False) as reader:  # reading is fine
                assert await reader.bots.list(WS, BotQuery()) == []
        async with store.transaction() as tx:  # and the lock was released
            assert len(await tx.bots.list(WS, BotQuery())) == 1
    finally:
        await store.close()

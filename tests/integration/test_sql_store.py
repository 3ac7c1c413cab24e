"""What only the SQL store has: URLs, SQLite settings and locking, PostgreSQL row locks and the
event-order lock, and migrations. The shared contract is in ``test_store_contract.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_testdb import fresh_schema
from sqlalchemy.engine import Connection
from test_store_contract import T0, WS, insert, make_bot, scheduled

from meetbot.lifecycle import BotState, Status
from meetbot.models import Bot, OutboxEvent
from meetbot.ports import BotQuery, Store
from meetbot.store import SqlStore, open_store
from meetbot.store.bots import bot_values
from meetbot.store.migrations import (
    MIGRATIONS,
    Migration,
    SchemaTooNew,
    add_column,
    create_index,
)
from meetbot.store.sql import async_url, create_engine
from meetbot.store.tables import bots as bots_table
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


# --- migrations -----------------------------------------------------------------------------


async def versions(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT version FROM schema_version ORDER BY 1"))
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


async def has_table(url: str, name: str) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: sa.inspect(sync).has_table(name))
    finally:
        await engine.dispose()


async def open_and_close(url: str, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
    store = await open_store(url, migrations=migrations)
    await store.close()


ALL = [m.version for m in MIGRATIONS]
N = len(MIGRATIONS)


async def test_servers_starting_at_once_migrate_once(sql_url: str) -> None:
    await asyncio.gather(*(open_and_close(sql_url) for _ in range(4)))
    assert await versions(sql_url) == ALL
    await open_and_close(sql_url)
    assert await versions(sql_url) == ALL


widgets = sa.Table(
    "widgets",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("region", sa.Text),
    sa.Index("ix_widgets_region", "region"),
)


def _v2_widgets(conn: Connection) -> None:
    conn.execute(sa.text("CREATE TABLE widgets (id INTEGER PRIMARY KEY)"))


def _v3_widget_region(conn: Connection) -> None:
    add_column(conn, widgets, "region")
    add_column(conn, widgets, "region")  # present: nothing to do
    create_index(conn, widgets, "ix_widgets_region")


def _v4_broken(conn: Connection) -> None:
    conn.execute(sa.text("CREATE TABLE half_done (id INTEGER)"))
    raise RuntimeError("migration bug")


async def test_later_migrations_apply_in_order(sql_url: str) -> None:
    await open_and_close(sql_url)
    v2 = Migration(N + 1, "widgets", _v2_widgets)
    v3 = Migration(N + 2, "widgets.region", _v3_widget_region)
    await open_and_close(sql_url, (*MIGRATIONS, v2, v3))
    assert await versions(sql_url) == [*ALL, N + 1, N + 2]
    store = await open_store(sql_url, migrations=(*MIGRATIONS, v2, v3))
    try:
        async with store.transaction() as tx:
            insert_widget = sa.text("INSERT INTO widgets (id, region) VALUES (1, 'eu')")
            await tx.conn.execute(insert_widget)
    finally:
        await store.close()

    # A failing migration leaves the schema as it was (transactional DDL).
    broken = Migration(N + 3, "broken", _v4_broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        await open_and_close(sql_url, (*MIGRATIONS, v2, v3, broken))
    assert await versions(sql_url) == [*ALL, N + 1, N + 2]
    assert not await has_table(sql_url, "half_done")

    # An older server refuses a newer schema.
    with pytest.raises(SchemaTooNew):
        await open_and_close(sql_url)


async def test_migrations_must_be_numbered_in_order(sql_url: str) -> None:
    with pytest.raises(ValueError, match=f"should be version {N + 1}"):
        await open_and_close(sql_url, (*MIGRATIONS, Migration(N + 2, "gap", _v2_widgets)))


async def test_a_fresh_database_has_every_table(sql_url: str) -> None:
    await open_and_close(sql_url)
    for name in ("bots", "status_changes", "events", "workspaces", "api_keys"):
        assert await has_table(sql_url, name)
    assert await has_table(sql_url, "idempotency_keys")
    assert await has_table(sql_url, "observations")
    assert await has_table(sql_url, "workspace_credentials")


async def test_v3_adds_credentials_to_a_v2_database(sql_url: str) -> None:
    await open_and_close(sql_url, MIGRATIONS[:2])
    (bot,) = await insert_at(sql_url, MIGRATIONS[:2])
    await open_and_close(sql_url)
    assert await versions(sql_url) == ALL
    store = await open_store(sql_url)
    try:
        async with store.transaction() as tx:
            old = await tx.bots.get(bot.id)
            assert old is not None
            assert old.credentials_ciphertext is None
            assert old.credential_kinds == ()
            await tx.bots.update(
                old.evolve(credentials_ciphertext="v1.x", credential_kinds=("zoom",))
            )
            await tx.credentials.put(WS, "v1.y", T0)
        async with store.transaction(write=False) as tx:
            got = await tx.bots.get(bot.id)
            assert got is not None
            assert (got.credentials_ciphertext, got.credential_kinds) == ("v1.x", ("zoom",))
            assert await tx.credentials.get(WS) == "v1.y"
    finally:
        await store.close()


async def insert_at(url: str, migrations: tuple[Migration, ...]) -> list[Bot]:
    """Insert a bot through the columns that ``migrations`` created (an older server)."""
    bot = make_bot()
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            values = bot_values(bot)
            del values["credentials_ciphertext"], values["credential_kinds"]
            await conn.execute(sa.insert(bots_table).values(values))
    finally:
        await engine.dispose()
    return [bot]


async def test_bot_rows_survive_reopening(sql_url: str) -> None:
    store = await open_store(sql_url)
    try:
        (bot,) = await insert(store, make_bot().with_state(BotState(Status.BOOTING), T0))
    finally:
        await store.close()
    store = await open_store(sql_url)
    try:
        async with store.transaction(write=False) as tx:
            assert await tx.bots.get(bot.id) == bot
    finally:
        await store.close()


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

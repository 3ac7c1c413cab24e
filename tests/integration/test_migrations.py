"""Schema migrations on SQLite and PostgreSQL: applied once when servers start together, in
order, idempotent on fresh and old databases, and rows kept across them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from test_store_contract import T0, WS, insert, make_bot

from meetbot.contract.lifecycle import BotState, Status
from meetbot.contract.models import Bot
from meetbot.control.store import open_store
from meetbot.control.store.bot_rows import bot_values
from meetbot.control.store.engines import create_engine
from meetbot.control.store.migrations import (
    MIGRATIONS,
    Migration,
    SchemaTooNew,
    add_column,
    create_index,
)
from meetbot.control.store.tables import bots as bots_table


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


async def test_servers_starting_together_on_a_new_sqlite_file_all_start(tmp_path: Path) -> None:
    """Switching a new file to WAL raced: SQLite answered "database is locked" at once to the
    losers (about one round in ten failed before the switch was retried in open_store)."""
    for round_ in range(30):
        url = f"sqlite:///{tmp_path / f'race-{round_}.db'}"
        await asyncio.gather(*(open_and_close(url) for _ in range(8)))
        assert await versions(url) == ALL


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

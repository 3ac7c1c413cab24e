"""SQLite write transactions on the in-place connection (meetbot.control.store.inline)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa

from meetbot.control.store import open_store
from meetbot.control.store.inline import InlineConnection, connector
from meetbot.control.store.sql import CHECKPOINT_EVERY


async def driver_of(tx: Any) -> object:
    raw = await tx.conn.get_raw_connection()
    return raw.driver_connection


async def test_writes_use_the_inline_connection_and_reads_aiosqlite(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/m.db")
    try:
        async with store.transaction() as tx:
            assert isinstance(await driver_of(tx), InlineConnection)
            assert await tx.keys.count() == 0
        async with store.transaction(write=False) as tx:
            assert isinstance(await driver_of(tx), aiosqlite.Connection)
    finally:
        await store.close()


async def test_waiting_for_another_writer_keeps_the_event_loop_running(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = await open_store(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # another process, in effect
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with store.transaction() as tx:
            await tx.keys.create_workspace("w1", "one", datetime.now(UTC))

    try:
        other.execute("BEGIN IMMEDIATE")
        tick_task = asyncio.create_task(ticker())
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writer.done()
        assert ticks >= 5  # the loop was not blocked by the waiting BEGIN
        other.execute("COMMIT")
        await asyncio.wait_for(writer, 5)
        tick_task.cancel()
        async with store.transaction(write=False) as tx:
            assert await tx.keys.workspace_exists("w1")
    finally:
        other.close()
        await store.close()


async def test_lock_wait_gives_up_like_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode = WAL")
    conn = await connector(str(path))()
    conn.lock_wait = 0.1
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await conn.execute("BEGIN IMMEDIATE")
        other.execute("COMMIT")
        await conn.execute("BEGIN IMMEDIATE")
        await conn.commit()
    finally:
        await conn.close()
        other.close()


async def test_the_kept_writer_connection_survives_failures(tmp_path: Path) -> None:
    """Write transactions share one connection kept open; a failed transaction leaves nothing
    behind, and a connection broken under a transaction is replaced for the next one."""
    store = await open_store(f"sqlite:///{tmp_path}/m.db")
    try:

        async def fails_in_the_application() -> None:
            async with store.transaction() as tx:
                await tx.keys.create_workspace("w1", "one", datetime.now(UTC))
                raise ZeroDivisionError

        async def loses_its_connection() -> None:
            async with store.transaction() as tx:
                await tx.keys.create_workspace("w2", "two", datetime.now(UTC))
                driver = await driver_of(tx)
                assert isinstance(driver, InlineConnection)
                driver.raw.close()  # the connection dies under the transaction

        with pytest.raises(ZeroDivisionError):
            await fails_in_the_application()
        with pytest.raises(sa.exc.DBAPIError):
            await loses_its_connection()
        async with store.transaction() as tx:
            await tx.keys.create_workspace("w3", "three", datetime.now(UTC))
        async with store.transaction(write=False) as tx:
            assert not await tx.keys.workspace_exists("w1")
            assert not await tx.keys.workspace_exists("w2")
            assert await tx.keys.workspace_exists("w3")
    finally:
        await store.close()


async def test_the_wal_is_checkpointed_off_the_writer(tmp_path: Path) -> None:
    """The writer connection never checkpoints (that would copy pages and fsync on the event
    loop); the store checkpoints every CHECKPOINT_EVERY write transactions on a reader."""
    path = tmp_path / "m.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        async with store.transaction() as tx:
            driver = await driver_of(tx)
            assert isinstance(driver, InlineConnection)
            assert driver.raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        before = path.stat().st_size
        for i in range(CHECKPOINT_EVERY):
            async with store.transaction() as tx:
                await tx.keys.create_workspace(f"w{i}", "x" * 2000, datetime.now(UTC))
        for _ in range(100):  # the checkpoint runs on aiosqlite's thread
            if path.stat().st_size > before:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > before  # pages were copied from the WAL into the file
    finally:
        await store.close()

"""Stores with webhook tables for the webhook tests: in memory, SQLite, PostgreSQL.

Until ``Tx.webhooks`` and the webhook migration are wired into the stores themselves, this
wraps them: the webhook rows commit and roll back with the wrapped store's transaction.
Once wired, the stores are used as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from meetbot.store import open_store
from meetbot.store.migrations import MIGRATIONS, Migration
from meetbot.store.sql import SqlStore, SqlTx
from meetbot.store.webhook_tables import create_webhook_tables
from meetbot.store.webhooks import SqlWebhookRepo
from meetbot.testing.memory_store import MemoryStore, MemoryTx
from meetbot.testing.memory_webhooks import MemoryWebhookData, MemoryWebhookRepo

WIRED_SQL = hasattr(SqlTx, "webhooks")
WIRED_MEMORY = hasattr(MemoryTx, "webhooks")


class ComposedTx:
    def __init__(self, inner: Any, webhooks: Any) -> None:
        self._inner = inner
        self.webhooks = webhooks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MemoryWebhookStore:
    def __init__(self) -> None:
        self.inner = MemoryStore()
        self._data = MemoryWebhookData()

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Any]:
        return self._transaction(write)

    @asynccontextmanager
    async def _transaction(self, write: bool) -> AsyncIterator[Any]:
        async with self.inner.transaction(write=write) as tx:
            data = self._data.copy() if write else self._data
            yield ComposedTx(tx, MemoryWebhookRepo(data, write))
        if write:
            self._data = data

    async def close(self) -> None:
        await self.inner.close()


class SqlWebhookStore:
    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Any]:
        return self._transaction(write)

    @asynccontextmanager
    async def _transaction(self, write: bool) -> AsyncIterator[Any]:
        async with self.inner.transaction(write=write) as tx:
            yield ComposedTx(tx, SqlWebhookRepo(tx.conn, tx.writable))

    async def close(self) -> None:
        await self.inner.close()


def memory_store() -> Any:
    return MemoryStore() if WIRED_MEMORY else MemoryWebhookStore()


async def sql_store(url: str) -> Any:
    if WIRED_SQL:
        return await open_store(url)
    extra = Migration(len(MIGRATIONS) + 1, "webhooks (test wiring)", create_webhook_tables)
    return SqlWebhookStore(await open_store(url, migrations=(*MIGRATIONS, extra)))

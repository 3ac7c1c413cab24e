"""The SQL :class:`~meetbot.ports.Store`: engine, transactions, and :func:`open_store`.

SQLite (``sqlite:///path``, via aiosqlite) or PostgreSQL (``postgresql://...``, via psycopg 3).

SQLite: one file in WAL mode (readers never block the writer), ``synchronous=NORMAL``,
``busy_timeout`` 5 s, foreign keys on. pysqlite's own transaction handling is switched off and
SQLAlchemy emits the BEGIN: ``BEGIN IMMEDIATE`` for write transactions, so a read-then-write
transaction takes the write lock up front and waits its turn (``busy_timeout``) instead of
failing with "database is locked" when it upgrades; plain ``BEGIN`` for ``write=False``.
Write transactions of one process also queue on an :class:`asyncio.Lock`, which is fairer and
cheaper than SQLite's sleeping busy handler; the file lock still serialises processes. A write
transaction opened inside another in the same task raises instead of waiting for itself.

PostgreSQL: a pool of ``pool_size`` (+ ``max_overflow``) connections, READ COMMITTED,
``write=False`` transactions are READ ONLY, row locks via ``SELECT ... FOR UPDATE`` (and
``SKIP LOCKED`` for the dispatch queue, so several control-plane replicas can share it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from meetbot.store.bots import SqlBotRepo
from meetbot.store.credentials import SqlCredentialRepo
from meetbot.store.events import SqlEventRepo
from meetbot.store.idempotency import SqlIdempotencyRepo
from meetbot.store.keys import SqlKeyRepo
from meetbot.store.migrations import MIGRATIONS, Migration, migrate
from meetbot.store.observations import SqlObservationRepo
from meetbot.store.webhooks import SqlWebhookRepo

if TYPE_CHECKING:
    from meetbot.ports import Store, Tx

_WRITE_OPTION = "meetbot_write"
SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


def async_url(url: str) -> sa.URL:
    """Map ``sqlite:///path`` and ``postgresql://...`` to their async drivers."""
    parsed = sa.make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite", "pysqlite"):
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise ValueError("SQLite needs a file; use meetbot.testing.MemoryStore in memory")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg", "psycopg2"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database URL: {parsed.render_as_string(hide_password=True)}")


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "postgresql":
        return create_async_engine(
            target,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
    assert target.database is not None
    if target.query.get("uri") is None:
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(target)
    sa.event.listen(engine.sync_engine, "connect", _sqlite_connect)
    sa.event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # pysqlite must not emit BEGIN; we do.
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE_OPTION, True)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@dataclass(frozen=True, slots=True)
class SqlTx:
    conn: AsyncConnection
    writable: bool

    @property
    def bots(self) -> SqlBotRepo:
        return SqlBotRepo(self.conn, self.writable)

    @property
    def events(self) -> SqlEventRepo:
        return SqlEventRepo(self.conn, self.writable)

    @property
    def keys(self) -> SqlKeyRepo:
        return SqlKeyRepo(self.conn, self.writable)

    @property
    def idempotency(self) -> SqlIdempotencyRepo:
        return SqlIdempotencyRepo(self.conn, self.writable)

    @property
    def observations(self) -> SqlObservationRepo:
        return SqlObservationRepo(self.conn, self.writable)

    @property
    def webhooks(self) -> SqlWebhookRepo:
        return SqlWebhookRepo(self.conn, self.writable)

    @property
    def credentials(self) -> SqlCredentialRepo:
        return SqlCredentialRepo(self.conn, self.writable)


class SqlStore:
    """A :class:`~meetbot.ports.Store` on SQLite or PostgreSQL. Make one with :func:`open_store`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self._sqlite else None
        self._writer: asyncio.Task[Any] | None = None

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[SqlTx]:
        return self._transaction(write)

    @asynccontextmanager
    async def _transaction(self, write: bool) -> AsyncIterator[SqlTx]:
        async with AsyncExitStack() as stack:
            if write and self._write_lock is not None:
                me = asyncio.current_task()
                if me is not None and self._writer is me:
                    raise RuntimeError("a nested write transaction on SQLite waits for itself")
                await stack.enter_async_context(self._write_lock)
                self._writer = me
                stack.callback(self._release_writer)
            conn = await stack.enter_async_context(self._engine.connect())
            if self._sqlite:
                await conn.execution_options(**{_WRITE_OPTION: write})
            elif not write:
                await conn.execution_options(postgresql_readonly=True)
            await stack.enter_async_context(conn.begin())
            yield SqlTx(conn, write)

    def _release_writer(self) -> None:
        self._writer = None

    async def close(self) -> None:
        await self._engine.dispose()


async def open_store(
    url: str,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    pool_size: int = 10,
    max_overflow: int = 10,
) -> SqlStore:
    """Connect to ``url`` and bring its schema up to date (see :mod:`.migrations`)."""
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    try:
        async with engine.connect() as conn, conn.begin():  # SQLite: BEGIN IMMEDIATE
            await migrate(conn, datetime.now(UTC), migrations)
    except BaseException:
        await engine.dispose()
        raise
    return SqlStore(engine)


if TYPE_CHECKING:  # SqlStore and SqlTx implement the ports.

    def _is_store(store: SqlStore) -> Store:
        return store

    def _is_tx(tx: SqlTx) -> Tx:
        return tx

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
Write transactions run on their own connection whose sqlite3 calls are made in place, on the
event loop's thread (:mod:`meetbot.control.store.inline`: no thread hop per call; waiting for
another process's write lock sleeps on the loop); read transactions use aiosqlite's threads, and so
does the WAL checkpoint (``PASSIVE``, every :data:`CHECKPOINT_EVERY` write transactions).

PostgreSQL: a pool of ``pool_size`` (+ ``max_overflow``) connections, READ COMMITTED,
``write=False`` transactions are READ ONLY, row locks via ``SELECT ... FOR UPDATE`` (and
``SKIP LOCKED`` for the dispatch queue, so several control-plane replicas can share it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from meetbot.control.store.agents import SqlAgentRepo
from meetbot.control.store.bots import SqlBotRepo
from meetbot.control.store.calendars import SqlCalendarRepo
from meetbot.control.store.credentials import SqlCredentialRepo
from meetbot.control.store.engines import (
    WRITE_OPTION,
    async_url,
    create_engine,
    create_writer_engine,
    switch_to_wal,
)
from meetbot.control.store.events import SqlEventRepo
from meetbot.control.store.idempotency import SqlIdempotencyRepo
from meetbot.control.store.keys import SqlKeyRepo
from meetbot.control.store.leases import SqlLeaseRepo
from meetbot.control.store.migrations import MIGRATIONS, Migration, migrate
from meetbot.control.store.observations import SqlObservationRepo
from meetbot.control.store.stats import SqlStatsRepo
from meetbot.control.store.webhooks import SqlWebhookRepo
from meetbot.errors import StoreUnavailable

if TYPE_CHECKING:
    from meetbot.control.ports import Store, Tx

log = logging.getLogger("meetbot.control.store")

CHECKPOINT_EVERY = 200
"""SQLite: write transactions between two WAL checkpoints, which run on a reader's thread (the
writer connection's own automatic checkpoint is off: it would copy pages and fsync on the
event loop's thread, at a commit)."""


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

    @property
    def leases(self) -> SqlLeaseRepo:
        return SqlLeaseRepo(self.conn, self.writable)

    @property
    def stats(self) -> SqlStatsRepo:
        return SqlStatsRepo(self.conn, self.writable)

    @property
    def calendars(self) -> SqlCalendarRepo:
        return SqlCalendarRepo(self.conn, self.writable)

    @property
    def agents(self) -> SqlAgentRepo:
        return SqlAgentRepo(self.conn, self.writable)


class SqlStore:
    """A :class:`~meetbot.ports.Store` on SQLite or PostgreSQL. Make one with :func:`open_store`."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: AsyncEngine | None = None,
        priority: AsyncEngine | None = None,
    ) -> None:
        """``writer``: SQLite's one write connection. ``priority``: PostgreSQL connections of
        their own for ``transaction(priority=True)``."""
        self._engine = engine
        self._writer_engine = writer or engine
        self._priority_engine = priority or engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self._sqlite else None
        self._writer: asyncio.Task[Any] | None = None
        self._write_conn: AsyncConnection | None = None
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self.transactions = 0
        """Transactions begun (for ``/metrics``: sizing the database)."""
        self.statements = 0
        """SQL statements sent: each one a round trip to the database (``BEGIN`` and ``COMMIT``
        not counted)."""
        for each in {engine, self._writer_engine, self._priority_engine}:
            sa.event.listen(each.sync_engine, "before_cursor_execute", self._count_statement)

    def _count_statement(self, *_: Any) -> None:
        self.statements += 1

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def transaction(
        self, *, write: bool = True, priority: bool = False
    ) -> AbstractAsyncContextManager[SqlTx]:
        return self._transaction(write, priority)

    @asynccontextmanager
    async def _transaction(self, write: bool, priority: bool = False) -> AsyncIterator[SqlTx]:
        """A transaction; a lost or refused connection, a lock not had in time, or no pooled
        connection free in time (every one busy: a burst beyond the pool), becomes
        :class:`~meetbot.errors.StoreUnavailable` (the API's 503: retry)."""
        self.transactions += 1
        try:
            async with self._begin(write, priority) as tx:
                yield tx
        except (
            sa_exc.OperationalError,
            sa_exc.InterfaceError,
            sa_exc.InternalError,
            sa_exc.TimeoutError,
        ) as exc:
            if isinstance(exc, sa_exc.DBAPIError) and not _unavailable(exc, sqlite=self._sqlite):
                raise
            cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
            log.warning("database unavailable: %s", str(cause or exc).splitlines()[0])
            raise StoreUnavailable(
                "The database is unavailable, busy, full or read-only. Retry in a few seconds"
                " (with the same Idempotency-Key the retry is safe)."
            ) from exc

    @asynccontextmanager
    async def _begin(self, write: bool, priority: bool) -> AsyncIterator[SqlTx]:
        if write and self._write_lock is not None:
            async with self._sqlite_write(self._write_lock) as tx:
                yield tx
            return
        engine = self._priority_engine if priority else self._engine
        async with AsyncExitStack() as stack:
            conn = await stack.enter_async_context(engine.connect())
            if self._sqlite:
                await conn.execution_options(**{WRITE_OPTION: write})
            elif not write:
                await conn.execution_options(postgresql_readonly=True)
            await stack.enter_async_context(conn.begin())
            yield SqlTx(conn, write)

    @asynccontextmanager
    async def _sqlite_write(self, lock: asyncio.Lock) -> AsyncIterator[SqlTx]:
        """One write transaction at a time, on the one writer connection, kept open."""
        me = asyncio.current_task()
        if me is not None and self._writer is me:
            raise RuntimeError("a nested write transaction on SQLite waits for itself")
        async with lock:
            self._writer = me
            try:
                conn = await self._writer_connection()
                try:
                    async with conn.begin():
                        yield SqlTx(conn, True)
                finally:
                    if conn.invalidated or conn.in_transaction():  # not cleanly ended
                        self._write_conn = None
                        await conn.close()
            finally:
                self._writer = None
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and self._checkpoint is None:
            self._commits = 0
            self._checkpoint = asyncio.create_task(self._run_checkpoint(), name="sqlite-checkpoint")

    async def _run_checkpoint(self) -> None:
        """Copy the WAL into the database file without blocking writers (``PASSIVE``)."""
        try:
            async with self._engine.connect() as conn:  # outside a transaction: on the driver
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None
                await driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            log.exception("SQLite WAL checkpoint failed (the next one retries)")
        finally:
            self._checkpoint = None

    async def _writer_connection(self) -> AsyncConnection:
        if self._write_conn is None or self._write_conn.closed:
            self._write_conn = await self._writer_engine.connect()
        return self._write_conn

    async def close(self) -> None:
        if self._checkpoint is not None:
            await self._checkpoint
        if self._write_conn is not None:
            await self._write_conn.close()
            self._write_conn = None
        for extra in {self._writer_engine, self._priority_engine} - {self._engine}:
            await extra.dispose()
        await self._engine.dispose()


_SQLITE_UNAVAILABLE = (
    "locked",
    "busy",
    "unable to open",
    "disk i/o",
    "disk is full",  # SQLITE_FULL: no space left on the data dir's file system
    "readonly database",  # SQLITE_READONLY: the file (or its directory) is not writable
)
_PG_READ_ONLY = "25006"
"""``read_only_sql_transaction``: a standby, or a database set read-only by its operator."""


def _unavailable(exc: sa_exc.DBAPIError, *, sqlite: bool) -> bool:
    """A connection, lock, space or read-only problem worth a retry, not a bug. On PostgreSQL
    an ``OperationalError`` is just that (a full disk included: class 53); sqlite3 also uses
    it for "no such table" and the like."""
    if not sqlite:
        if isinstance(exc, sa_exc.InternalError):
            return getattr(exc.orig, "sqlstate", None) == _PG_READ_ONLY
        return True
    if isinstance(exc, sa_exc.InternalError):
        return False
    message = str(exc.orig or exc).lower()
    return any(words in message for words in _SQLITE_UNAVAILABLE)


PRIORITY_POOL = 2
"""PostgreSQL connections kept for ``transaction(priority=True)`` (the dispatcher's)."""


async def open_store(
    url: str,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
) -> SqlStore:
    """Connect to ``url`` and bring its schema up to date (see :mod:`.migrations`)."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite" and target.database:
        uri = str(target.query.get("uri", "")).lower() in ("true", "1")
        if not uri:
            Path(target.database).parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(switch_to_wal, target.database, uri=uri)
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout
    )
    try:
        async with engine.connect() as conn, conn.begin():  # SQLite: BEGIN IMMEDIATE
            await migrate(conn, datetime.now(UTC), migrations)
    except BaseException:
        await engine.dispose()
        raise
    if engine.dialect.name != "sqlite":
        # The dispatcher's own connections: a burst of requests that holds the whole pool
        # (a thousand runners reporting) does not make scheduled bots wait for one.
        priority = create_engine(url, pool_size=PRIORITY_POOL, max_overflow=0)
        return SqlStore(engine, priority=priority)
    return SqlStore(engine, create_writer_engine(url))


if TYPE_CHECKING:  # SqlStore and SqlTx implement the ports.

    def _is_store(store: SqlStore) -> Store:
        return store

    def _is_tx(tx: SqlTx) -> Tx:
        return tx

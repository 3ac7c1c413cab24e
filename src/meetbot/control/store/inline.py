"""An aiosqlite look-alike that runs sqlite3 calls in place: SQLite write transactions, no hops.

aiosqlite runs every driver call (cursor, execute, fetch, close: about four per statement) on
its own thread and hands each result back through the event loop; a create-bot transaction of
ten statements paid forty such round trips, most of its time. Write transactions on SQLite are
short and serialised anyway (one writer at a time, see :mod:`meetbot.control.store.sql`), so the
store runs them on an :class:`InlineConnection`: the same async interface, given to SQLAlchemy's
aiosqlite dialect through ``async_creator``, whose coroutines call :mod:`sqlite3` directly and
finish without suspending. A write statement costs microseconds in WAL mode with
``synchronous=NORMAL`` (no fsync at commit), less than one thread hop.

The one wait is for the write lock that another process (or another store on the same file)
holds. The connection's ``busy_timeout`` is 0, so SQLite never sleeps inside a call (that
would stall the event loop); ``BEGIN IMMEDIATE`` is retried with :func:`asyncio.sleep` instead,
for up to :data:`LOCK_WAIT` seconds, as the blocking busy handler would have. Once the write
lock is held, no statement of the transaction waits for a lock in WAL mode.

Reads stay on aiosqlite's threads: a long scan there does not stop the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

LOCK_WAIT = 5.0
"""Seconds a ``BEGIN IMMEDIATE`` waits for another writer (the read connections' busy_timeout)."""

PRAGMAS = (
    "PRAGMA busy_timeout = 0",
    "PRAGMA wal_autocheckpoint = 0",  # the store checkpoints on a reader's thread
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


class InlineCursor:
    """aiosqlite's ``Cursor`` interface over a :class:`sqlite3.Cursor`, called in place."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection.raw.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        args = () if parameters is None else parameters
        if sql.lstrip()[:15].upper() == "BEGIN IMMEDIATE":
            await self._connection.wait_for_lock(lambda: self._cursor.execute(sql, args))
        else:
            self._cursor.execute(sql, args)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """aiosqlite's ``Connection`` interface over a :class:`sqlite3.Connection`, called in place.

    pysqlite's own transaction handling is off (``isolation_level=None``): the store emits
    ``BEGIN IMMEDIATE`` itself.
    """

    def __init__(self, raw: sqlite3.Connection, lock_wait: float = LOCK_WAIT) -> None:
        self.raw = raw
        self.lock_wait = lock_wait
        self._closed = False

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """What SQLAlchemy's aiosqlite adapter checks before a commit or rollback."""
        return None if self._closed else self.raw

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def wait_for_lock(self, begin: Callable[[], object]) -> None:
        """Call ``begin`` until it stops failing with SQLITE_BUSY, sleeping between tries."""
        deadline = time.monotonic() + self.lock_wait
        delay = 0.001
        while True:
            try:
                begin()
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            # The other writer (the delivery process) holds the lock for milliseconds; sleeping
            # longer than that leaves the lock idle while every writer here waits.
            delay = min(delay * 2, 0.004)

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        self.raw.commit()

    async def rollback(self) -> None:
        self.raw.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """aiosqlite's forced close (SQLAlchemy's ``terminate``)."""
        self._closed = True
        self.raw.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)


def connector(path: str, *, uri: bool = False) -> Callable[[], Any]:
    """An ``async_creator`` for :func:`~sqlalchemy.ext.asyncio.create_async_engine`."""

    async def connect() -> InlineConnection:
        raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False, uri=uri)
        try:
            for pragma in PRAGMAS:
                raw.execute(pragma)
        except BaseException:
            raw.close()
            raise
        return InlineConnection(raw)

    return connect

"""Engines of the SQL store: URLs, SQLite's connection settings and WAL switch (see
:mod:`meetbot.control.store.sql` for how transactions use them)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from meetbot.control.store.inline import connector

WRITE_OPTION = "meetbot_write"
"""The execution option a SQLite connection's BEGIN reads (``BEGIN IMMEDIATE`` when true)."""

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


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, pool_timeout: float = 30.0
) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "postgresql":
        return create_async_engine(
            target,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
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


def create_writer_engine(url: str) -> AsyncEngine:
    """SQLite: the engine of write transactions, on one :mod:`~meetbot.control.store.inline`
    connection.

    Write transactions of one store are serialised, so one connection serves them all.
    """
    target = async_url(url)
    assert target.get_backend_name() == "sqlite"
    assert target.database is not None
    uri = str(target.query.get("uri", "")).lower() in ("true", "1")
    path = target.database
    options = {k: v for k, v in target.query.items() if k != "uri"}
    if uri and options:  # e.g. mode=ro: the writer opens the file as the readers do
        path += "?" + urlencode(options, doseq=True)
    engine = create_async_engine(
        target,
        async_creator=connector(path, uri=uri),
        pool_size=1,
        max_overflow=2,
    )
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
    write = conn.get_execution_options().get(WRITE_OPTION, True)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def switch_to_wal(path: str, *, uri: bool = False, wait: float = 10.0) -> None:
    """Put a SQLite file in WAL mode before any pooled connection opens it.

    Switching needs the file to itself, and SQLite answers "database is locked" at once,
    without waiting in its busy handler, to connections that race for the switch (servers
    starting together on a new data dir: about one start in ten failed so). Here the switch is
    retried; the connections' own ``journal_mode = WAL`` then finds it done.
    """
    deadline = time.monotonic() + wait
    while True:
        conn = sqlite3.connect(path, timeout=wait, uri=uri, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        finally:
            conn.close()
        time.sleep(0.02)

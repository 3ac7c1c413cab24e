"""Throwaway PostgreSQL databases and schemas for tests; needs no conftest.

The server is ``MEETBOT_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``), a
database that the user may ``CREATE DATABASE`` from. Usage::

    with temporary_database() as db_url:
        url = fresh_schema(db_url)  # an empty schema, first on the search_path
        store = await open_store(url)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

PG_URL_ENV = "MEETBOT_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    """The URL of a database to connect to as an administrator."""
    return os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)


def unavailable_reason() -> str | None:
    """Why PostgreSQL cannot be used, or ``None`` if it can."""
    try:
        with psycopg.connect(admin_url(), connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {PG_URL_ENV}={admin_url()} is unavailable: {exc}"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def temporary_database(prefix: str = "meetbot_test") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it (and its connections) afterwards."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(admin_url(), name)
    finally:
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


def fresh_schema(database_url: str) -> str:
    """Create an empty schema in the database; return a URL whose search_path is that schema.

    Cheaper than a database per test; each test gets its own tables and migrations.
    """
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    parts = urlsplit(database_url)
    option = quote(f"-csearch_path={schema}", safe="")
    query = f"{parts.query}&options={option}" if parts.query else f"options={option}"
    return urlunsplit(parts._replace(query=query))

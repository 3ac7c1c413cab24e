"""A throwaway PostgreSQL database for one benchmark run (``--postgres``), on this machine's
server (trust auth on 127.0.0.1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def bench_database(wanted: bool = True) -> Iterator[str | None]:
    """The URL of a new, empty database, dropped afterwards; ``None`` if not ``wanted``."""
    if not wanted:
        yield None
        return
    name = f"meetbot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

"""Fixtures for integration tests: every store the code runs on.

``any_store`` is parametrised over :class:`~meetbot.testing.memory_store.MemoryStore`, a
:class:`~meetbot.control.store.SqlStore` on a temporary SQLite file and one on the machine's
PostgreSQL (``-m "not postgres"`` to leave that out; see ``pg_testdb.py`` for the server's URL).
Each test gets an empty store.

With pytest-xdist (``make test-integration``: ``--dist loadfile``) each worker has its own
PostgreSQL database, and the longest files start first so that no worker runs one alone at the
end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pg_testdb import fresh_schema, temporary_database, unavailable_reason

from meetbot.control.ports import Store
from meetbot.control.store import open_store
from meetbot.testing.memory_store import MemoryStore

SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
STORE_KINDS = ["memory", *SQL_KINDS]

# The longest files of this directory (measured with --durations), longest first.
LONGEST_FIRST = (
    "test_whisper.py",
    "test_webhook_restart.py",
    "test_serve_acceptance.py",
    "test_storage_s3.py",
    "test_migrations.py",
    "test_api_fuzz.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move this directory's longest files to the front of its tests (a stable sort: tests
    keep their order within a file; tests of other directories keep their places)."""
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if item.path.parent == here]
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    ordered = sorted((items[i] for i in slots), key=lambda it: rank.get(it.path.name, len(rank)))
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A database created for this test session and dropped at its end."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with temporary_database() as url:
        yield url


@pytest.fixture(params=SQL_KINDS)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty SQLite file or PostgreSQL schema (not yet migrated)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meetbot.db'}"
    return fresh_schema(request.getfixturevalue("pg_database_url"))


@pytest.fixture(params=STORE_KINDS)
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty store: in memory, on SQLite, on PostgreSQL."""
    if request.param == "memory":
        store: Store = MemoryStore()
    elif request.param == "sqlite":
        store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    else:
        store = await open_store(fresh_schema(request.getfixturevalue("pg_database_url")))
    try:
        yield store
    finally:
        await store.close()

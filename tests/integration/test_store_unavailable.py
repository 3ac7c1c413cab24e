"""A database that is gone or stays locked answers 503 with ``Retry-After`` (the seeds tell clients
to retry on 503), never a 500; the retry then works and nothing half-done was stored."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import psycopg
import pytest
from pg_testdb import admin_url, temporary_database, unavailable_reason
from psycopg import sql

from harness.plane import build_test_plane
from harness.waiting import until
from meetbot.control.scheduler import Periodic, Scheduler
from meetbot.control.service.keys import hash_key
from meetbot.control.store import open_store
from meetbot.errors import StoreUnavailable
from meetbot.testing.memory_store import MemoryStore

BODY = {"meeting_url": "https://meet.google.com/abc-defg-hij"}


async def test_sqlite_locked_past_the_wait_is_503_then_the_retry_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "meetbot.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        plane = await build_test_plane(store)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            async with plane.client() as client:
                refused = await client.post("/api/v1/bot/", json=BODY)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["code"] == "service_unavailable"
        async with plane.client() as client:
            assert (await client.get("/api/v1/bot/")).json()["results"] == []  # nothing stored
            created = await client.post("/api/v1/bot/", json=BODY)
            assert created.status_code == 201, created.text
    finally:
        await store.close()


async def test_a_read_only_sqlite_file_is_503(tmp_path: Path) -> None:
    """Opened read-only (as a file whose mode or mount refuses writes would be): reads work,
    writes are 503 with Retry-After, never a 500."""
    path = tmp_path / "meetbot.db"
    await (await open_store(f"sqlite:///{path}")).close()  # created and migrated
    store = await open_store(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        plane = await build_test_plane(MemoryStore())  # its key lives elsewhere: see below
        plane.services.store = store
        plane.app.state.key_cache.put(hash_key(plane.key), plane.workspace_id)
        async with plane.client() as client:
            assert (await client.get("/api/v1/bot/")).status_code == 200
            refused = await client.post("/api/v1/bot/", json=BODY)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["code"] == "service_unavailable"
    finally:
        await store.close()


async def test_sqlite_bugs_stay_bugs(tmp_path: Path) -> None:
    """sqlite3 raises OperationalError for a missing table too: that is no outage (500)."""
    path = tmp_path / "meetbot.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        plane = await build_test_plane(store)
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE bots")
        async with plane.client() as client:
            broken = await client.get("/api/v1/bot/")
        assert broken.status_code == 500
        assert broken.json()["code"] == "internal_error"
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_refusing_connections_is_503_then_the_pool_reconnects() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with temporary_database("meetbot_outage") as url:
        store = await open_store(url)
        try:
            plane = await build_test_plane(store)
            async with plane.client() as client:
                assert (await client.get("/api/v1/bot/")).status_code == 200
                name = url.rsplit("/", 1)[1]
                database = sql.Identifier(name)
                with psycopg.connect(admin_url(), autocommit=True) as admin:
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(database)
                    )
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,),
                    )
                    lost = await client.get("/api/v1/bot/")
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(database)
                    )
                assert lost.status_code == 503, lost.text
                assert lost.json()["code"] == "service_unavailable"
                assert (await client.get("/api/v1/bot/")).status_code == 200  # reconnected
        finally:
            await store.close()


@pytest.mark.postgres
async def test_a_read_only_postgres_database_is_503() -> None:
    """A standby, or a database its operator set read-only, answers writes with SQLSTATE
    25006 (here raised by a trigger: a session's own ``read_only`` is reset by the driver):
    503, and reads still work."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with temporary_database("meetbot_readonly") as url:
        store = await open_store(url)
        try:
            plane = await build_test_plane(store)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                    " RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction'"
                    " USING ERRCODE = '25006'; END $$"
                )
                conn.execute(
                    "CREATE TRIGGER refuse BEFORE INSERT ON bots EXECUTE FUNCTION refuse()"
                )
            async with plane.client() as client:
                assert (await client.get("/api/v1/bot/")).status_code == 200
                refused = await client.post("/api/v1/bot/", json=BODY)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["code"] == "service_unavailable"
        finally:
            await store.close()


async def test_periodic_work_logs_an_outage_as_a_warning_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plane = await build_test_plane(MemoryStore())
    scheduler = Scheduler(plane.services)
    calls: list[int] = []

    async def step() -> None:
        calls.append(len(calls))
        raise StoreUnavailable("The database is unavailable or busy.")

    scheduler.jobs = (Periodic("dispatch", 0.01, step),)
    with caplog.at_level(logging.WARNING, logger="meetbot.control.scheduler"):
        await scheduler.start()
        await until(lambda: len(calls) >= 3, what="three tries")
        await scheduler.stop()
    outage = [r for r in caplog.records if r.name == "meetbot.control.scheduler"]
    assert outage
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in outage)
    assert "unavailable" in outage[0].getMessage()


async def test_no_free_postgresql_connection_in_time_is_503_not_500(pg_database_url: str) -> None:
    """Every pooled connection busy past the pool's timeout (a burst of long polls and reports
    under load): sqlalchemy's pool TimeoutError was a 500."""
    store = await open_store(pg_database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with store.transaction(write=False):
            with pytest.raises(StoreUnavailable):
                async with store.transaction(write=False):
                    pass
        async with store.transaction(write=False):  # free again
            pass
    finally:
        await store.close()

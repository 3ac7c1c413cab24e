"""On PostgreSQL the event append holds the feed's lock until COMMIT, so a transaction appends
its events last (:mod:`meetbot.control.store.events`).

The dispatcher broke that: each of a batch's bots was dispatched with its own append, so the
lock was held from the first bot's event across every later bot's reads, claims and writes,
and runners' reports queued behind it (``bench/fleet_schedule.py --bots 1000``: the connection
pool ran dry). These tests read the statements a dispatch sends and check that after the
lock only the events and their deliveries are written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pg_testdb import fresh_schema

from harness.plane import build_test_plane
from meetbot.control.service.dispatch import dispatch_due
from meetbot.control.store import open_store
from meetbot.control.store.events import EVENT_APPEND_LOCK
from meetbot.control.store.sql import SqlStore
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"


@contextmanager
def statements(store: SqlStore) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((" ".join(sql.split()), params))

    engines = {store._engine.sync_engine, store._priority_engine.sync_engine}  # the dispatcher's
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)


def after_event_lock(seen: list[tuple[str, Any]]) -> list[str]:
    for i, (sql, params) in enumerate(seen):
        if "pg_advisory_xact_lock" in sql and EVENT_APPEND_LOCK in _values(params):
            return [s for s, _ in seen[i + 1 :]]
    raise AssertionError("no event append")


def _values(params: Any) -> list[Any]:
    if isinstance(params, dict):
        return list(params.values())
    return list(params) if isinstance(params, list | tuple) else [params]


async def test_a_dispatch_batch_appends_its_events_last(pg_database_url: str) -> None:
    store = await open_store(fresh_schema(pg_database_url))
    try:
        assert isinstance(store, SqlStore)
        plane = await build_test_plane(store, max_concurrent_bots=100)
        join_at = iso(plane.clock.now() + timedelta(seconds=1200))
        async with plane.client() as client:
            for _ in range(5):
                r = await client.post(
                    "/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at}
                )
                assert r.status_code == 201, r.text
        plane.clock.advance(1200)
        with statements(store) as seen:
            assert await dispatch_due(plane.services) == 5
        later = after_event_lock(seen)
        assert later, "the events are inserted after the lock"
        assert all(s.startswith("INSERT INTO events") for s in later), later
    finally:
        await store.close()

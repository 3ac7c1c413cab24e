"""CalDAV calendars against a real Radicale started by the test: sync-collection tokens and
multiget, deletions (404 tombstones), a refused token → a full listing, a wrong password, and
the password stored sealed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.ics import feed, vevent
from harness.plane import TestPlane, build_test_plane
from harness.radicale import PASSWORD, USER, Radicale, radicale
from meetbot.contract.lifecycle import TERMINAL, Status
from meetbot.contract.models import Bot
from meetbot.control.calendars.ics import HttpCalendarSources
from meetbot.control.service import calendar_sync
from meetbot.control.store import open_store
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.testing.fakes import FixedClock

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MEET = "https://meet.google.com/abc-defg-hij"
ZOOM = "https://us02web.zoom.us/j/85012345678"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with radicale(tmp_path_factory.mktemp("radicale")) as running:
        yield running


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[TestPlane]:
    store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    built = await build_test_plane(store, clock=FixedClock(NOW), webhook_allow_private=True)
    sources = HttpCalendarSources(TargetPolicy.from_settings(built.services.settings))
    built.services.calendar_sources = sources
    try:
        yield built
    finally:
        await sources.close()
        await store.close()


async def _live_bots(plane: TestPlane) -> list[Bot]:
    async with plane.services.store.transaction(write=False) as tx:
        bots = await tx.bots.in_statuses([s for s in Status if s not in TERMINAL])
    return sorted(bots, key=lambda b: b.join_at or NOW)


async def _connect(plane: TestPlane, url: str, password: str = PASSWORD) -> str:
    async with plane.client() as client:
        made = await client.post(
            "/api/v1/calendars/",
            json={"kind": "caldav", "url": url, "username": USER, "password": password},
        )
        assert made.status_code == 201, made.text
        shown = made.json()
        assert "password" not in json.dumps(shown)
        return str(shown["id"])


async def test_caldav_sync_tokens_multiget_and_deletions(
    plane: TestPlane, server: Radicale
) -> None:
    url = server.make_calendar("work")
    server.put(url, "a", feed(vevent("a", T, T + HOUR, location=MEET)))
    series = vevent("s", T + 3 * HOUR, T + 4 * HOUR, location=ZOOM, rrule="FREQ=DAILY;COUNT=3")
    server.put(url, "s", feed(series))
    calendar_id = await _connect(plane, url)

    async with plane.services.store.transaction(write=False) as tx:
        stored = await tx.calendars.get(calendar_id)
    assert stored is not None
    assert stored.secrets_ciphertext
    assert PASSWORD not in stored.secrets_ciphertext

    await calendar_sync.sync(plane.services, calendar_id)
    assert len(await _live_bots(plane)) == 4

    # A change: EXDATE on the series' second occurrence, and "a" is deleted.
    server.put(
        url,
        "s",
        feed(
            vevent(
                "s",
                T + 3 * HOUR,
                T + 4 * HOUR,
                location=ZOOM,
                rrule="FREQ=DAILY;COUNT=3",
                exdates=(T + 3 * HOUR + DAY,),
            )
        ),
    )
    server.delete(url, "a")
    async with plane.services.store.transaction(write=False) as tx:
        before = await tx.calendars.get(calendar_id)
    assert before is not None
    assert before.cursor is not None
    await calendar_sync.sync(plane.services, calendar_id)
    joins = [b.join_at for b in await _live_bots(plane)]
    assert joins == [T + 3 * HOUR, T + 3 * HOUR + 2 * DAY]

    # A refused token: a full listing, and nothing changes.
    async with plane.services.store.transaction() as tx:
        current = await tx.calendars.get(calendar_id)
        assert current is not None
        bad = json.loads(current.cursor or "{}")
        bad["token"] = "http://radicale.org/ns/sync/" + "0" * 64
        await tx.calendars.update(current.evolve(cursor=json.dumps(bad)))
    result = await calendar_sync.sync(plane.services, calendar_id)
    assert result.outcome is calendar_sync.Outcome.SYNCED
    assert [b.join_at for b in await _live_bots(plane)] == joins


async def test_caldav_wrong_password_shows_unauthorized(plane: TestPlane, server: Radicale) -> None:
    url = server.make_calendar("private")
    calendar_id = await _connect(plane, url, password="not it")
    result = await calendar_sync.sync(plane.services, calendar_id)
    assert result.outcome is calendar_sync.Outcome.FAILED
    async with plane.client() as client:
        shown = (await client.get(f"/api/v1/calendars/{calendar_id}/")).json()
    assert shown["status"] == "disconnected"
    assert shown["status_reason"].startswith("unauthorized")

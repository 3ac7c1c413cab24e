"""Google calendars against a local server following Google's documented formats
(tests/harness/fake_google.py): pages, nextSyncToken only on the last page, deltas with
cancelled items, 410 → full resync, a revoked refresh token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from harness.fake_google import FakeGoogle, fake_google, gevent
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import TERMINAL, Status
from meetbot.contract.models import Bot
from meetbot.control.calendar_worker import CalendarWorker
from meetbot.control.calendars.ics import HttpCalendarSources
from meetbot.control.service import calendar_sync
from meetbot.control.store import open_store
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.testing.fakes import FixedClock

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with fake_google() as fake:
        yield fake


@pytest.fixture
async def plane(tmp_path: Path, google: FakeGoogle) -> AsyncIterator[TestPlane]:
    store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    built = await build_test_plane(
        store,
        clock=FixedClock(NOW),
        webhook_allow_private=True,
        calendar_google_api_url=google.api_url,
        calendar_google_token_url=google.token_url,
    )
    settings = built.services.settings
    sources = HttpCalendarSources(TargetPolicy.from_settings(settings), settings)
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


async def _connect(plane: TestPlane, refresh_token: str = "good-refresh") -> str:
    async with plane.client() as client:
        made = await client.post(
            "/api/v1/calendars/",
            json={
                "kind": "google",
                "refresh_token": refresh_token,
                "client_id": "app",
                "client_secret": "shh",
                "calendar_id": "primary",
            },
        )
    assert made.status_code == 201, made.text
    assert "shh" not in made.text
    assert refresh_token not in made.text
    return str(made.json()["id"])


def _joins(bots: list[Bot]) -> list[str]:
    return [b.join_at.isoformat() for b in bots if b.join_at]


async def test_google_pages_deltas_cancellations_and_410(
    plane: TestPlane, google: FakeGoogle
) -> None:
    google.put(gevent("one", "2026-01-05T15:00:00Z", "2026-01-05T16:00:00Z", meet=MEET))
    for day in (6, 7, 8):
        start = f"2026-01-0{day}T09:00:00Z"
        google.put(
            gevent(
                f"ser_202601{day:02d}T090000Z",
                start,
                f"2026-01-0{day}T09:30:00Z",
                meet="https://meet.google.com/ser-iess-xyz",
                series="ser",
            )
        )
    calendar_id = await _connect(plane)
    await calendar_sync.sync(plane.services, calendar_id)
    assert len(await _live_bots(plane)) == 4
    assert [r.get("pageToken") for r in google.requests] == [None, "2"]
    assert all("syncToken" not in r for r in google.requests)

    # A delta: the single event moves, one occurrence of the series is cancelled (id only).
    google.requests.clear()
    google.put(gevent("one", "2026-01-05T17:00:00Z", "2026-01-05T18:00:00Z", meet=MEET))
    google.cancel("ser_20260107T090000Z")
    await calendar_sync.sync(plane.services, calendar_id)
    assert google.requests[0]["syncToken"].startswith("sync-")
    assert _joins(await _live_bots(plane)) == [
        "2026-01-05T17:00:00+00:00",
        "2026-01-06T09:00:00+00:00",
        "2026-01-08T09:00:00+00:00",
    ]

    # The token expires (410): a full listing from scratch, nothing changes.
    google.expired_before = google.version + 1
    google.requests.clear()
    google.put(gevent("two", "2026-01-09T10:00:00Z", "2026-01-09T11:00:00Z", meet=MEET))
    await calendar_sync.sync(plane.services, calendar_id)
    assert "syncToken" in google.requests[0]
    assert "syncToken" not in google.requests[1]
    assert len(await _live_bots(plane)) == 4

    # The whole single event is deleted.
    google.expired_before = 0
    google.cancel("one")
    await calendar_sync.sync(plane.services, calendar_id)
    assert len(await _live_bots(plane)) == 3


async def test_google_revoked_refresh_token(plane: TestPlane, google: FakeGoogle) -> None:
    calendar_id = await _connect(plane, refresh_token="revoked")
    result = await calendar_sync.sync(plane.services, calendar_id)
    assert result.outcome is calendar_sync.Outcome.FAILED
    async with plane.client() as client:
        shown = (await client.get(f"/api/v1/calendars/{calendar_id}/")).json()
    assert shown["status"] == "disconnected"
    assert shown["status_reason"] == "unauthorized: revoked token"


async def test_google_push_channel_and_a_notification_syncs_the_calendar(
    plane: TestPlane, google: FakeGoogle
) -> None:
    google.put(gevent("one", "2026-01-05T15:00:00Z", "2026-01-05T16:00:00Z", meet=MEET))
    calendar_id = await _connect(plane)
    await calendar_sync.sync(plane.services, calendar_id)
    (channel,) = google.channels
    assert channel["type"] == "web_hook"
    async with plane.client() as client:
        shown = (await client.get(f"/api/v1/calendars/{calendar_id}/")).json()
    assert "push" not in shown  # the channel's state (and its token's hash) stays inside
    assert channel["address"].endswith("/api/v1/calendars/push/google/")
    await calendar_sync.sync(plane.services, calendar_id)
    assert len(google.channels) == 1  # not renewed while far from expiry

    worker = CalendarWorker(plane.services, interval=60)  # only a wake makes it sync
    plane.reactions.on_calendar_due.append(worker.wake)
    await worker.start()
    transport = httpx.ASGITransport(app=plane.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as google_side:
            wrong = await google_side.post(
                "/api/v1/calendars/push/google/",
                headers={"X-Goog-Channel-ID": channel["id"], "X-Goog-Channel-Token": "guess"},
            )
            assert wrong.status_code == 404
            google.put(gevent("one", "2026-01-05T17:00:00Z", "2026-01-05T18:00:00Z", meet=MEET))
            started = time.monotonic()
            pushed = await google_side.post(
                "/api/v1/calendars/push/google/",
                headers={
                    "X-Goog-Channel-ID": channel["id"],
                    "X-Goog-Channel-Token": channel["token"],
                    "X-Goog-Resource-State": "exists",
                },
            )
            assert pushed.status_code == 200
            while time.monotonic() - started < 30:  # a generous bound, not a speed goal
                if _joins(await _live_bots(plane)) == ["2026-01-05T17:00:00+00:00"]:
                    break
                await asyncio.sleep(0.01)
            assert _joins(await _live_bots(plane)) == ["2026-01-05T17:00:00+00:00"]
    finally:
        await worker.stop()


async def test_google_a_renewed_channel_stops_the_old_one_and_so_does_a_delete(
    plane: TestPlane, google: FakeGoogle
) -> None:
    google.put(gevent("one", "2026-01-05T15:00:00Z", "2026-01-05T16:00:00Z", meet=MEET))
    google.channel_days = 0  # expires 2026-01-02, 12 hours after NOW: renewed at every sync
    calendar_id = await _connect(plane)
    await calendar_sync.sync(plane.services, calendar_id)
    (first,) = google.open_channels
    await calendar_sync.sync(plane.services, calendar_id)
    assert [s["id"] for s in google.stopped] == [first]
    google.channel_days = 7
    await calendar_sync.sync(plane.services, calendar_id)
    second, third = [c["id"] for c in google.channels[1:]]
    assert [s["id"] for s in google.stopped] == [first, second]
    assert google.stopped[-1]["resourceId"] == f"res-{second}"
    await calendar_sync.sync(plane.services, calendar_id)
    assert google.open_channels == [third]  # not renewed far from expiry
    async with plane.client() as client:
        deleted = await client.delete(f"/api/v1/calendars/{calendar_id}/")
    assert deleted.status_code == 204, deleted.text
    assert google.open_channels == []
    assert await _live_bots(plane) == []


async def test_google_events_show_their_icaluid(plane: TestPlane, google: FakeGoogle) -> None:
    google.put(gevent("one", "2026-01-05T15:00:00Z", "2026-01-05T16:00:00Z", meet=MEET))
    for day in (6, 7):
        google.put(
            gevent(
                f"ser_202601{day:02d}T090000Z",
                f"2026-01-0{day}T09:00:00Z",
                f"2026-01-0{day}T09:30:00Z",
                meet="https://meet.google.com/ser-iess-xyz",
                series="ser",
            )
        )
    calendar_id = await _connect(plane)
    await calendar_sync.sync(plane.services, calendar_id)
    google.cancel("ser_20260107T090000Z")  # a cancelled occurrence: its id only
    await calendar_sync.sync(plane.services, calendar_id)
    async with plane.client() as client:
        events = (await client.get(f"/api/v1/calendars/{calendar_id}/events/")).json()
        shown = [(e["ical_uid"], e["start"], e["is_deleted"]) for e in events["results"]]
        bot_id = next(e["bot_id"] for e in events["results"] if e["ical_uid"] == "one@google.com")
        bot = (await client.get(f"/api/v1/bot/{bot_id}/")).json()
    assert shown == [
        ("one@google.com", "2026-01-05T15:00:00.000Z", False),
        ("ser@google.com", "2026-01-06T09:00:00.000Z", False),
        ("ser@google.com", "2026-01-07T09:00:00.000Z", True),
    ]
    assert [e["ical_uid"] for e in bot["calendar_events"]] == ["one@google.com"]

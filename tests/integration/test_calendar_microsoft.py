"""Microsoft calendars against a local server following Graph's documented formats
(tests/harness/fake_microsoft.py): delta pages to a delta link, @removed, 410 → full listing,
subscriptions with clientState, the validationToken echo, notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from harness.fake_microsoft import FakeMicrosoft, fake_microsoft, mevent
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import TERMINAL, Status
from meetbot.contract.models import Bot
from meetbot.control.calendars.ics import HttpCalendarSources
from meetbot.control.service import calendar_sync
from meetbot.control.store import open_store
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.testing.fakes import FixedClock

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TEAMS = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_Zjk2@thread.v2/0"
    "?context=%7b%22Tid%22%3a%22a%22%2c%22Oid%22%3a%22b%22%7d"
)
MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def microsoft() -> AsyncIterator[FakeMicrosoft]:
    async with fake_microsoft() as fake:
        yield fake


@pytest.fixture
async def plane(tmp_path: Path, microsoft: FakeMicrosoft) -> AsyncIterator[TestPlane]:
    store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    built = await build_test_plane(
        store,
        clock=FixedClock(NOW),
        webhook_allow_private=True,
        calendar_microsoft_api_url=microsoft.base,
        calendar_microsoft_token_url=f"{microsoft.base}/token",
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


async def test_microsoft_delta_removed_410_and_subscription(
    plane: TestPlane, microsoft: FakeMicrosoft
) -> None:
    for n in range(5):
        start = f"2026-01-0{n + 3}T10:00:00.0000000"
        end = f"2026-01-0{n + 3}T11:00:00.0000000"
        microsoft.put(
            mevent(f"ev{n}", start, end, join_url=TEAMS if n == 0 else MEET[:-1] + str(n))
        )
    async with plane.client() as client:
        made = await client.post(
            "/api/v1/calendars/",
            json={
                "kind": "microsoft",
                "refresh_token": "good-refresh",
                "client_id": "app",
                "client_secret": "shh",
            },
        )
    assert made.status_code == 201, made.text
    calendar_id = made.json()["id"]
    await calendar_sync.sync(plane.services, calendar_id)
    bots = await _live_bots(plane)
    assert len(bots) == 1  # the Teams link; made-up Meet codes with digits do not parse
    assert "startDateTime=" in microsoft.requests[0]
    (subscription,) = microsoft.subscriptions
    assert subscription["notificationUrl"].endswith("/api/v1/calendars/push/microsoft/")
    assert subscription["resource"] == "me/events"

    # A delta: ev0 removed (@removed), ev5 added.
    microsoft.requests.clear()
    microsoft.remove("ev0")
    microsoft.put(mevent("ev5", "2026-01-09T10:00:00", "2026-01-09T11:00:00", join_url=MEET))
    await calendar_sync.sync(plane.services, calendar_id)
    assert "$deltatoken=" in microsoft.requests[0]
    assert [b.meeting.url for b in await _live_bots(plane)] == [MEET]

    # The sync state expires: 410 → a full listing, nothing changes.
    microsoft.expired_before = microsoft.version + 1
    microsoft.requests.clear()
    await calendar_sync.sync(plane.services, calendar_id)
    assert "startDateTime=" in microsoft.requests[1]
    assert [b.meeting.url for b in await _live_bots(plane)] == [MEET]

    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as graph:
        validation = await graph.post(
            "/api/v1/calendars/push/microsoft/", params={"validationToken": "abc 123"}
        )
        assert validation.status_code == 200
        assert validation.text == "abc 123"
        assert validation.headers["content-type"].startswith("text/plain")
        woken: list[str] = []
        plane.reactions.on_calendar_due.append(woken.append)
        note = {"value": [{"subscriptionId": "sub-1", "clientState": subscription["clientState"]}]}
        accepted = await graph.post("/api/v1/calendars/push/microsoft/", json=note)
        assert accepted.status_code == 202
        assert woken == [calendar_id]
        forged = {"value": [{"subscriptionId": "sub-1", "clientState": "x y"}]}
        refused = await graph.post("/api/v1/calendars/push/microsoft/", json=forged)
        assert refused.status_code == 404


async def test_microsoft_a_renewed_subscription_deletes_the_old_one_and_so_does_a_delete(
    plane: TestPlane, microsoft: FakeMicrosoft
) -> None:
    microsoft.put(mevent("ev0", "2026-01-03T10:00:00", "2026-01-03T11:00:00", join_url=TEAMS))
    microsoft.expiry = "2026-01-02T00:00:00.0000000Z"  # 12 hours left: renewed at every sync
    async with plane.client() as client:
        made = await client.post(
            "/api/v1/calendars/",
            json={
                "kind": "microsoft",
                "refresh_token": "good-refresh",
                "client_id": "app",
                "client_secret": "shh",
            },
        )
        assert made.status_code == 201, made.text
        calendar_id = made.json()["id"]
        await calendar_sync.sync(plane.services, calendar_id)
        assert microsoft.open_subscriptions == ["sub-1"]
        microsoft.expiry = None  # the next one lives 2 days
        await calendar_sync.sync(plane.services, calendar_id)
        assert microsoft.deleted == ["sub-1"]
        assert microsoft.open_subscriptions == ["sub-2"]
        await calendar_sync.sync(plane.services, calendar_id)
        assert microsoft.open_subscriptions == ["sub-2"]  # not renewed far from expiry
        events = (await client.get(f"/api/v1/calendars/{calendar_id}/events/")).json()
        assert [e["ical_uid"] for e in events["results"]] == ["ical-ev0"]
        deleted = await client.delete(f"/api/v1/calendars/{calendar_id}/")
        assert deleted.status_code == 204, deleted.text
    assert microsoft.deleted == ["sub-1", "sub-2"]
    assert microsoft.open_subscriptions == []
    assert await _live_bots(plane) == []


@pytest.mark.parametrize("lifecycle", ["subscriptionRemoved", "reauthorizationRequired"])
async def test_microsoft_a_removed_subscription_is_made_again(
    plane: TestPlane, microsoft: FakeMicrosoft, lifecycle: str
) -> None:
    microsoft.put(mevent("ev0", "2026-01-03T10:00:00", "2026-01-03T11:00:00", join_url=TEAMS))
    async with plane.client() as client:
        made = await client.post(
            "/api/v1/calendars/",
            json={
                "kind": "microsoft",
                "refresh_token": "good-refresh",
                "client_id": "app",
                "client_secret": "shh",
            },
        )
    calendar_id = made.json()["id"]
    await calendar_sync.sync(plane.services, calendar_id)
    (subscription,) = microsoft.subscriptions
    state = subscription["clientState"]
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as graph:
        note = {"subscriptionId": "sub-1", "clientState": state, "lifecycleEvent": lifecycle}
        accepted = await graph.post("/api/v1/calendars/push/microsoft/", json={"value": [note]})
        assert accepted.status_code == 202
        await calendar_sync.sync(plane.services, calendar_id)
        assert microsoft.open_subscriptions == ["sub-2"]
        assert microsoft.deleted == ["sub-1"]
        stale = await graph.post("/api/v1/calendars/push/microsoft/", json={"value": [note]})
        assert stale.status_code == 404  # the old subscription's clientState is no longer valid

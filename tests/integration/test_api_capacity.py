"""Scheduled bots reserve capacity (409 ``schedule_full``) and ``GET /api/v1/capacity/``,
through HTTP on the in-memory store, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot import errors
from meetbot.contract.meeting_urls import parse_meeting_url
from meetbot.control.service import bots
from meetbot.control.service.dispatch import dispatch_due
from meetbot.testing.fakes import FakeLauncher
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"
HOUR = 3600


def later(plane: TestPlane, seconds: float) -> str:
    return iso(plane.clock.now() + timedelta(seconds=seconds))


async def create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/bot/", json={"meeting_url": MEET, **body})


async def count_bots(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/v1/bot/")).json()["results"])


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    """Two bots at once, no warm pool (as ``MEETBOT_MAX_CONCURRENT_BOTS=2``)."""
    return await build_test_plane(any_store, max_concurrent_bots=2, adhoc_pool_size=0)


async def test_two_at_the_same_time_then_409_then_two_hours_later(plane: TestPlane) -> None:
    async with plane.client() as client:
        join_at = later(plane, HOUR)
        for _ in range(2):
            assert (await create(client, join_at=join_at)).status_code == 201
        r = await create(client, join_at=join_at, bot_name="Third")
        assert r.status_code == 409
        body = r.json()
        assert body["code"] == "schedule_full"
        start, end = later(plane, HOUR - 600), later(plane, 2 * HOUR)
        assert f"from {start} to {end}" in body["detail"]  # the window
        assert "2 bots are booked in that window" in body["detail"]
        assert "at most 2 bots run at once" in body["detail"]
        assert await count_bots(client) == 2  # nothing stored
        assert (await create(client, join_at=later(plane, 3 * HOUR))).status_code == 201
        # Touching windows do not overlap: join_at + 60 min is the next one's start.
        assert (await create(client, join_at=later(plane, 2 * HOUR + 600))).status_code == 201
        assert (await create(client, join_at=later(plane, 2 * HOUR + 599))).status_code == 409


async def test_expected_duration_is_stored_shown_and_sizes_the_window(plane: TestPlane) -> None:
    async with plane.client() as client:
        r = await create(client, join_at=later(plane, HOUR), expected_duration=30)
        assert r.status_code == 201, r.text
        short = r.json()
        assert short["expected_duration"] == 30
        got = (await client.get(f"/api/v1/bot/{short['id']}/")).json()
        assert got["expected_duration"] == 30
        await create(client, join_at=later(plane, HOUR), expected_duration=30)
        # Both end at HOUR + 30 min; the next window starts 10 minutes before its join_at.
        assert (await create(client, join_at=later(plane, HOUR + 39 * 60))).status_code == 409
        default = await create(client, join_at=later(plane, HOUR + 40 * 60))
        assert (default.status_code, default.json()["expected_duration"]) == (201, None)
        # time_limit caps the expected length: 720 minutes asked, 5 minutes kept.
        for _ in range(2):
            capped = await create(
                client,
                join_at=later(plane, 4 * HOUR),
                expected_duration=720,
                stop_options={"time_limit": 5},
            )
            assert capped.status_code == 201, capped.text
        assert (await create(client, join_at=later(plane, 4 * HOUR + 900))).status_code == 201
        for bad in (0, 721, "60", 1.5):
            r = await create(client, join_at=later(plane, 9 * HOUR), expected_duration=bad)
            assert (r.status_code, r.json()["field"]) == (400, "expected_duration")


async def test_patch_that_moves_into_a_full_window_is_409_and_changes_nothing(
    plane: TestPlane,
) -> None:
    async with plane.client() as client:
        for _ in range(2):
            await create(client, join_at=later(plane, HOUR))
        other = (await create(client, join_at=later(plane, 4 * HOUR))).json()
        url = f"/api/v1/bot/{other['id']}/"
        r = await client.patch(url, json={"join_at": later(plane, HOUR + 300)})
        assert (r.status_code, r.json()["code"]) == (409, "schedule_full")
        r = await client.patch(url, json={"expected_duration": 240})  # reaches into it? no
        assert r.status_code == 200
        r = await client.patch(url, json={"join_at": later(plane, 2 * HOUR), "bot_name": "X"})
        assert (r.status_code, r.json()["code"]) == (409, "schedule_full")
        got = (await client.get(url)).json()
        assert (got["join_at"], got["bot_name"]) == (other["join_at"], other["bot_name"])
        assert got["expected_duration"] == 240
        # Moving it within its own window, or shortening it, always fits.
        r = await client.patch(url, json={"expected_duration": 30, "bot_name": "Y"})
        assert (r.status_code, r.json()["expected_duration"]) == (200, 30)
        r = await client.patch(url, json={"expected_duration": None})
        assert (r.status_code, r.json()["expected_duration"]) == (200, None)


async def test_a_shorter_window_fits_even_when_the_schedule_is_overbooked(any_store: Any) -> None:
    """The cap lowered after bookings were made: shortening one's booking is never refused."""
    plane = await build_test_plane(any_store, max_concurrent_bots=3, adhoc_pool_size=0)
    async with plane.client() as client:
        made = [(await create(client, join_at=later(plane, HOUR))).json() for _ in range(3)]
    lowered = await build_test_plane(
        plane.services.store, clock=plane.clock, max_concurrent_bots=2, adhoc_pool_size=0
    )
    async with lowered.client(plane.key) as client:
        url = f"/api/v1/bot/{made[0]['id']}/"
        assert (await client.patch(url, json={"expected_duration": 20})).status_code == 200
        r = await client.patch(url, json={"expected_duration": 90})
        assert (r.status_code, r.json()["code"]) == (409, "schedule_full")


async def test_running_bots_count_and_an_overrun_keeps_counting(any_store: Any) -> None:
    plane = await build_test_plane(
        any_store, launcher=FakeLauncher(pool_size=1, max_concurrent=2), max_concurrent_bots=2
    )
    async with plane.client() as client:
        adhoc = await create(client)  # running now, expected for 60 minutes
        assert adhoc.status_code == 201
        assert (await create(client, join_at=later(plane, 1200))).status_code == 201
        r = await create(client, join_at=later(plane, 1200))
        assert (r.status_code, r.json()["code"]) == (409, "schedule_full")
        assert (await create(client, join_at=later(plane, HOUR + 600))).status_code == 201
        # Two hours on, the ad-hoc bot still runs (an overrun): it holds its place for
        # another expected length (60 minutes) from now.
        plane.clock.advance(2 * HOUR)
        r = await create(client, join_at=later(plane, 1800))
        assert r.status_code == 201, r.text  # the other place
        r = await create(client, join_at=later(plane, 1800))
        assert (r.status_code, r.json()["code"]) == (409, "schedule_full")
        # It is expected until now + 60 min: a window from then on has the place back.
        assert (await create(client, join_at=later(plane, HOUR))).status_code == 409
        assert (await create(client, join_at=later(plane, HOUR + 600))).status_code == 201


async def test_concurrent_creates_never_take_the_last_place_twice(plane: TestPlane) -> None:
    spec = bots.BotSpec(
        meeting=parse_meeting_url(MEET), join_at=plane.clock.now() + timedelta(hours=1)
    )

    async def one() -> bool:
        try:
            await bots.create_bot(plane.services, plane.workspace_id, spec)
        except errors.ScheduleFull:
            return False
        return True

    made = await asyncio.gather(*(one() for _ in range(6)))
    assert sorted(made) == [False] * 4 + [True] * 2


async def test_a_reserved_bot_is_dispatched_into_its_place(plane: TestPlane) -> None:
    async with plane.client() as client:
        a = (await create(client, join_at=later(plane, 1800))).json()
        b = (await create(client, join_at=later(plane, 1800))).json()
        plane.clock.advance(1800 - 600)
        assert await dispatch_due(plane.services) == 2
        for bot in (a, b):
            assert (await client.get(f"/api/v1/bot/{bot['id']}/")).json()["status"] == "booting"
            assert plane.launcher.assigned(bot["id"]) is not None
        # Dispatched, they are running bots now: still two places held.
        r = await create(client, join_at=later(plane, 1200))
        assert (r.status_code, r.json()["code"]) == (409, "schedule_full")


async def test_fake_launcher_pool_gives_way_to_a_reservation_at_the_cap() -> None:
    launcher = FakeLauncher(pool_size=2, max_concurrent=2)
    assert launcher.idle == 2
    slot = await launcher.reserve()
    assert slot is not None
    assert not slot.warm
    assert (launcher.idle, launcher.given_way) == (1, 1)
    assert await launcher.reserve() is not None
    assert await launcher.reserve() is None  # both places held by reservations now
    launcher.refill()
    assert launcher.idle == 0


# --- GET /api/v1/capacity/ ------------------------------------------------------------------


async def test_capacity_timeline(plane: TestPlane) -> None:
    async with plane.client() as client:
        await create(client, join_at=later(plane, HOUR), expected_duration=20)
        await create(client, join_at=later(plane, HOUR + 600), expected_duration=20)
        start = later(plane, HOUR - 15 * 60)
        end = later(plane, HOUR + 45 * 60)
        r = await client.get("/api/v1/capacity/", params={"from": start, "to": end, "step": 10})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["from"], body["to"], body["step"], body["capacity"]) == (start, end, 10, 2)
        rows = [
            (s["start"], s["reserved"], s["running"], s["booked"], s["available"])
            for s in body["steps"]
        ]
        assert rows == [
            (later(plane, HOUR - 15 * 60), 1, 0, 1, 1),  # the first from HOUR - 10 min
            (later(plane, HOUR - 5 * 60), 2, 0, 2, 0),  # the second from HOUR
            (later(plane, HOUR + 5 * 60), 2, 0, 2, 0),
            (later(plane, HOUR + 15 * 60), 2, 0, 2, 0),  # the first until HOUR + 20 min
            (later(plane, HOUR + 25 * 60), 1, 0, 1, 1),  # the second until HOUR + 30 min
            (later(plane, HOUR + 35 * 60), 0, 0, 0, 2),
        ]
        assert body["steps"][0]["end"] == later(plane, HOUR - 5 * 60)
        assert {s["capacity"] for s in body["steps"]} == {2}


async def test_capacity_counts_running_bots_and_defaults_to_the_next_day(any_store: Any) -> None:
    plane = await build_test_plane(
        any_store, launcher=FakeLauncher(pool_size=1, max_concurrent=2), max_concurrent_bots=2
    )
    async with plane.client() as client:
        assert (await create(client, expected_duration=15)).status_code == 201
        body = (await client.get("/api/v1/capacity/")).json()
        assert (body["from"], body["to"], body["step"]) == (later(plane, 0), later(plane, 86400), 5)
        assert len(body["steps"]) == 288
        first = [(s["reserved"], s["running"], s["available"]) for s in body["steps"][:4]]
        assert first == [(0, 1, 1)] * 3 + [(0, 0, 2)]


async def test_capacity_counts_every_workspace_and_names_none(plane: TestPlane) -> None:
    async with plane.client(await plane.new_key()) as other:
        assert (await create(other, join_at=later(plane, HOUR))).status_code == 201
    async with plane.client() as client:
        body = (await client.get("/api/v1/capacity/", params={"from": later(plane, HOUR)})).json()
        assert body["steps"][0]["reserved"] == 1
        assert "bot" not in str(body["steps"][0])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-01-01T13:00:00Z", "to": "2026-01-01T12:00:00Z"}, "to"),
        ({"from": "2026-01-01T12:00:00Z", "to": "2026-01-01T12:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-09T00:00:00Z"}, "to"),  # 2304 steps
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"step": 0}, "step"),
        ({"step": 1441}, "step"),
        ({"step": "five"}, "step"),
    ],
)
async def test_capacity_bad_input_is_400(
    plane: TestPlane, params: dict[str, Any], field: str
) -> None:
    async with plane.client() as client:
        r = await client.get("/api/v1/capacity/", params=params)
    assert r.status_code == 400, r.text
    assert (r.json()["code"], r.json()["field"]) == ("invalid_request", field)


async def test_the_calendar_ends_are_answered_not_500(plane: TestPlane) -> None:
    async with plane.client() as client:
        r = await create(client, join_at="9999-12-31T23:00:00Z")
        assert r.status_code == 201, r.text
        r = await client.get("/api/v1/capacity/", params={"from": "9999-12-31T22:00:00Z"})
        assert r.status_code == 200, r.text
        assert r.json()["steps"][-1]["reserved"] == 1
        assert r.json()["to"] == "9999-12-31T23:59:59.999Z"
        r = await client.get(
            "/api/v1/capacity/", params={"from": "0001-01-01T00:00:00Z", "step": 1440}
        )
        assert r.status_code == 200, r.text


async def test_capacity_needs_a_key_and_a_long_range_a_longer_step(plane: TestPlane) -> None:
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as anon:
        r = await anon.get("/api/v1/capacity/")
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    async with plane.client() as client:
        week = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z", "step": 60}
        r = await client.get("/api/v1/capacity", params=week)
        assert r.status_code == 200
        assert len(r.json()["steps"]) == 720


async def test_reservation_minutes_sets_the_default_length(any_store: Any) -> None:
    plane = await build_test_plane(
        any_store, max_concurrent_bots=1, adhoc_pool_size=0, reservation_minutes=20
    )
    async with plane.client() as client:
        assert (await create(client, join_at=later(plane, HOUR))).status_code == 201
        # It ends at HOUR + 20 min; the next window starts 10 minutes before its join_at.
        assert (await create(client, join_at=later(plane, HOUR + 29 * 60))).status_code == 409
        assert (await create(client, join_at=later(plane, HOUR + 30 * 60))).status_code == 201


async def test_an_adhoc_bot_does_not_take_a_place_promised_to_scheduled_bots(
    any_store: Any,
) -> None:
    """Two warm browsers idle, two bots at once, both places booked from 20 minutes on: an
    ad-hoc bot expected to run an hour would take one of them (507, nothing stored); one
    expected to be done before the reservations start is welcome."""
    plane = await build_test_plane(any_store, max_concurrent_bots=2, adhoc_pool_size=2)
    async with plane.client() as client:
        soon = later(plane, 30 * 60)  # windows from join_at - 10 min (the dispatch lead)
        for _ in range(2):
            assert (await create(client, join_at=soon)).status_code == 201
        r = await create(client)
        assert r.status_code == 507
        assert r.json()["code"] == "adhoc_pool_exhausted"
        assert r.headers["retry-after"] == "30"
        assert await count_bots(client) == 2
        assert (await create(client, expected_duration=10)).status_code == 201

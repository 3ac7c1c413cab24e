"""Failed authentications through HTTP: 429 per address, and nothing kept for a bad token."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store, auth_failures_per_minute=3)


async def test_wrong_keys_from_one_address_get_429(plane: TestPlane) -> None:
    async with plane.client() as known:
        assert (await known.get("/api/v1/bot/")).status_code == 200  # now cached
    fresh = await plane.new_key()
    for _ in range(3):
        async with plane.client("mb_wrong") as wrong:
            assert (await wrong.get("/api/v1/bot/")).status_code == 401
    async with plane.client("mb_wrong") as wrong:
        refused = await wrong.get("/api/v1/bot/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    async with plane.client(fresh) as uncached:  # a lookup: refused too while blocked
        assert (await uncached.get("/api/v1/bot/")).status_code == 429
    async with plane.client() as known:  # a key already known costs no lookup: served
        assert (await known.get("/api/v1/bot/")).status_code == 200
    async with plane.client() as runner:  # runner tokens have their own allowance
        answer = await runner.post(
            f"/internal/bots/{uuid.uuid4()}/events",
            json={"events": []},
            headers={"Authorization": "Bearer nope"},
        )
        assert answer.status_code == 401


async def test_bad_runner_tokens_get_429_and_leave_nothing_behind(plane: TestPlane) -> None:
    transport = httpx.ASGITransport(app=plane.app)
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as runner:
        for _ in range(6):
            answer = await runner.get(
                f"/internal/bots/{uuid.uuid4()}/commands",
                params={"wait": 0.05},
                headers={"Authorization": "Bearer nope"},
            )
            statuses.append(answer.status_code)
    assert statuses == [401, 401, 401, 429, 429, 429]
    assert len(plane.services.commands) == 0


async def test_a_runner_long_poll_keeps_nothing_once_it_ends(plane: TestPlane) -> None:
    async with plane.client() as client:
        bot = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()
    assignment = plane.launcher.assigned(bot["id"])
    assert assignment is not None
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as runner:
        answer = await runner.get(
            f"/internal/bots/{bot['id']}/commands",
            params={"wait": 0.05},
            headers={"Authorization": f"Bearer {assignment.token}"},
        )
    assert answer.status_code == 200, answer.text
    assert len(plane.services.commands) == 0

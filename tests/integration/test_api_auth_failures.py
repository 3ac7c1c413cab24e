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


async def test_stale_runner_tokens_count_against_their_bot_not_the_address(
    any_store: Any,
) -> None:
    # Runners whose bots were reaped or handed to another runner get 401 for their old token.
    # Counted per address, a thousand such runners (a fleet that fell behind; agents behind one
    # NAT address) emptied the bucket and locked every runner and agent of the address out.
    plane = await build_test_plane(
        any_store, auth_failures_per_minute=3, adhoc_pool_size=5, max_concurrent_bots=10
    )
    async with plane.client() as client:
        ids = []
        for _ in range(5):
            created = await client.post("/api/v1/bot/", json={"meeting_url": MEET})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as runner:

        async def beat(bot_id: str, token: str) -> int:
            answer = await runner.post(
                f"/internal/bots/{bot_id}/events",
                json={"events": []},
                headers={"Authorization": f"Bearer {token}"},
            )
            return answer.status_code

        assert [await beat(bot_id, "stale") for bot_id in ids[:4]] == [401] * 4
        assignment = plane.services.launcher.assigned(ids[4])
        assert assignment is not None
        assert await beat(ids[4], assignment.token) == 200  # the address is not locked out
        assert [await beat(ids[0], "stale") for _ in range(3)] == [401, 401, 429]
        assert await beat(ids[4], assignment.token) == 200
        assert await beat(str(uuid.uuid4()), "nope") == 401  # unknown bots: the address's

"""Every status change that ends or stops a bot carries a human-readable ``message`` beside
its ``sub_code``: on the bot, in ``status_changes`` and in the ``status_update`` event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane

MEET = "https://meet.google.com/abc-defg-hij"
UNREACHABLE = f"Page.goto: net::ERR_NAME_NOT_RESOLVED at {MEET}"


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store)


@pytest.fixture
async def client(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as c:
        yield c


async def report(plane: TestPlane, bot_id: str, *events: dict[str, Any]) -> httpx.Response:
    assignment = plane.launcher.assigned(bot_id)
    assert assignment is not None
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as runner:
        return await runner.post(
            f"/internal/bots/{bot_id}/events",
            json={"events": list(events)},
            headers={"Authorization": f"Bearer {assignment.token}"},
        )


async def status_updates(client: httpx.AsyncClient, bot_id: str) -> list[dict[str, Any]]:
    feed = (await client.get("/api/v1/events/")).json()["results"]
    return [
        e["data"]
        for e in feed
        if e["type"] == "status_update" and e["data"].get("bot_id", bot_id) == bot_id
    ]


async def test_an_unreachable_meeting_tells_the_client_why(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    bot = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()
    at = "2026-01-01T12:00:00Z"
    r = await report(
        plane,
        bot["id"],
        {"type": "joining", "at": at},
        {"type": "failed", "at": at, "sub_code": "join_failed", "detail": UNREACHABLE},
    )
    assert r.status_code == 200, r.text
    got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
    expected = f"The bot could not open the meeting: {UNREACHABLE}"
    assert (got["status"], got["sub_code"], got["message"]) == ("failed", "join_failed", expected)
    assert [(c["status"], c["message"]) for c in got["status_changes"]] == [
        ("booting", None),
        ("joining", None),
        ("failed", expected),
    ]
    updates = await status_updates(client, bot["id"])
    assert updates[-1]["new_status"] == "failed"
    assert updates[-1]["message"] == expected


async def test_a_refused_bot_and_a_stopped_bot_say_why(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    at = "2026-01-01T12:00:00Z"
    denied = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()
    await report(
        plane,
        denied["id"],
        {"type": "joining", "at": at},
        {"type": "waiting", "at": at, "sub_status": "waiting_for_host"},
        {
            "type": "not_admitted",
            "at": at,
            "stop_reason": "host_in_another_meeting",
            "sub_code": "host_in_another_meeting",
        },
    )
    got = (await client.get(f"/api/v1/bot/{denied['id']}/")).json()
    assert (got["status"], got["stop_reason"]) == ("not_admitted", "host_in_another_meeting")
    assert got["message"] == (
        "The host is currently in another meeting and has not started this one yet "
        "(common in Zoom)."
    )

    left = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()
    await report(
        plane,
        left["id"],
        {"type": "joining", "at": at},
        {"type": "in_call", "at": at},
        {"type": "leaving", "at": at, "stop_reason": "time_limit"},
        {"type": "left", "at": at},
    )
    got = (await client.get(f"/api/v1/bot/{left['id']}/")).json()
    messages = {c["status"]: c["message"] for c in got["status_changes"]}
    limit = "The bot reached stop_options.time_limit, counted from when it started joining."
    assert messages["recording"] is None
    assert messages["leaving"] == limit
    assert messages[got["status"]] == limit  # processing keeps why it stopped


async def test_a_lost_runner_and_join_tokens_in_details(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    zoom = "https://app.zoom.us/wc/join/85551234567"
    bot = (await client.post("/api/v1/bot/", json={"meeting_url": zoom})).json()
    at = "2026-01-01T12:00:00Z"
    leak = f"Page.goto: net::ERR_TIMED_OUT at {zoom}?zak=SECRETZAK&obf_token=SECRETOBF"
    await report(
        plane,
        bot["id"],
        {"type": "failed", "at": at, "sub_code": "join_failed", "detail": leak},
    )
    got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
    assert "SECRET" not in got["message"]
    assert "zak=<redacted>" in got["message"]
    assert "SECRET" not in str(await status_updates(client, bot["id"]))


async def test_a_bot_whose_host_shut_down_leaves_with_the_sub_code_host_shutdown(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    """A drained agent's runner leaves the call saying why: ``host_shutdown`` is the leaving
    status's sub_code (not only words in its message), and the bot keeps it once it ends."""
    at = "2026-01-01T12:00:00Z"
    bot = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()
    r = await report(
        plane,
        bot["id"],
        {"type": "joining", "at": at},
        {"type": "in_call", "at": at},
        {"type": "leaving", "at": at, "stop_reason": "manually_stopped",
         "sub_code": "host_shutdown"},
        {"type": "left", "at": at},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
    leaving = next(c for c in got["status_changes"] if c["status"] == "leaving")
    assert (leaving["stop_reason"], leaving["sub_code"]) == ("manually_stopped", "host_shutdown")
    assert leaving["message"] == (
        "The bot's runner host shut down (drained or evicted); the bot left."
    )
    assert got["sub_code"] == "host_shutdown"  # processing and beyond keep it
    updates = await status_updates(client, bot["id"])
    assert next(u for u in updates if u["new_status"] == "leaving")["sub_code"] == "host_shutdown"

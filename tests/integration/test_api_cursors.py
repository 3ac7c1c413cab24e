"""Pagination cursors through HTTP on every store: opaque, scoped, and never a 500."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store, webhook_allow_private=True)


async def _fill(plane: TestPlane, client: httpx.AsyncClient) -> dict[str, str]:
    """Two of everything; returns each list's path."""
    endpoints = []
    for port in (9, 10):
        made = await client.post(
            "/api/v1/webhook_endpoints/", json={"url": f"http://127.0.0.1:{port}/hook"}
        )
        assert made.status_code == 201, made.text
        endpoints.append(made.json()["id"])
    for hours in (2, 3):
        join_at = iso(plane.clock.now() + timedelta(hours=hours))
        made = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
        assert made.status_code == 201, made.text
    return {
        "bots": "/api/v1/bot/",
        "endpoints": "/api/v1/webhook_endpoints/",
        "deliveries": f"/api/v1/webhook_endpoints/{endpoints[0]}/deliveries/",
        "events": "/api/v1/events/",
    }


def _param(path: str) -> str:
    return "after" if path.startswith("/api/v1/events") else "cursor"


async def _next(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path, params={"limit": 1})
    assert page.status_code == 200, page.text
    cursor = page.json()["next"]
    assert isinstance(cursor, str)
    assert cursor
    return cursor


async def test_a_cursor_reveals_no_sequence_number_and_pages_on(plane: TestPlane) -> None:
    async with plane.client() as client:
        paths = await _fill(plane, client)
        for path in paths.values():
            cursor = await _next(client, path)
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            assert not re.fullmatch(rb"[a-z]?[0-9]+", raw), cursor  # the old "b<seq>"
            again = await client.get(path, params={"limit": 1, _param(path): cursor})
            assert again.status_code == 200, (path, again.text)


FORGED = [
    "garbage",
    base64.urlsafe_b64encode(b"b99999999999999999999999").decode().rstrip("="),  # was a 500
    base64.urlsafe_b64encode(b"e-1").decode(),
    "A" * 201,  # oversized
    "A" * 32,
    "%00",
    "\u00e9t\u00e9",
]


@pytest.mark.parametrize("forged", FORGED)
async def test_a_forged_or_oversized_cursor_is_400_invalid_cursor(
    plane: TestPlane, forged: str
) -> None:
    async with plane.client() as client:
        paths = await _fill(plane, client)
        for path in paths.values():
            answer = await client.get(path, params={_param(path): forged})
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["code"] == "invalid_cursor", (path, answer.text)


async def test_a_cursor_opens_only_in_its_workspace_and_its_list(plane: TestPlane) -> None:
    async with plane.client() as client:
        paths = await _fill(plane, client)
        cursors = {name: await _next(client, path) for name, path in paths.items()}
        for name, path in paths.items():
            for other, cursor in cursors.items():
                if other != name:
                    answer = await client.get(path, params={_param(path): cursor})
                    assert answer.json()["code"] == "invalid_cursor", (name, other)
    async with plane.client(await plane.new_key()) as stranger:
        other_paths = await _fill(plane, stranger)
        for name in ("bots", "endpoints", "events"):
            path = other_paths[name]
            answer: dict[str, Any] = (
                await stranger.get(path, params={_param(path): cursors[name]})
            ).json()
            assert answer["code"] == "invalid_cursor", name

"""Text no store can keep (NUL, lone surrogates) is a 400 on every backend, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from harness.plane import TestPlane, build_test_plane

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store, webhook_allow_private=True)


BODIES = [
    ("POST", "/api/v1/bot/", {"meeting_url": MEET, "bot_name": "a\u0000b"}, "bot_name"),
    ("POST", "/api/v1/bot/", {"meeting_url": MEET, "metadata": {"k": "v\u0000"}}, "metadata.k"),
    ("POST", "/api/v1/bot/", {"meeting_url": MEET, "metadata": {"k\u0000": "v"}}, "metadata"),
    ("POST", "/api/v1/bot/", {"meeting_url": MEET, "deduplication_key": "\u0000"}, None),
    ("POST", "/api/v1/webhook_endpoints/", {"url": "http://127.0.0.1:9/a\u0000"}, "url"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BODIES)
async def test_a_nul_in_a_body_is_400(
    plane: TestPlane, method: str, path: str, body: dict[str, Any], field: str | None
) -> None:
    async with plane.client() as client:
        answer = await client.request(method, path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert "cannot be stored" in answer.json()["detail"]
    if field:
        assert answer.json()["field"] == field


async def test_a_lone_surrogate_in_a_body_is_400(plane: TestPlane) -> None:
    raw = '{"meeting_url": "' + MEET + '", "metadata": {"k": "\\ud800"}}'
    async with plane.client() as client:
        answer = await client.post(
            "/api/v1/bot/", content=raw, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/bot/?meeting_url=%00",
        "/api/v1/bot/?metadata__team=%00",
        "/api/v1/bot/%00/",
        "/api/v1/webhook_endpoints/%00/",
        "/api/v1/webhook_endpoints/%00/deliveries/",
    ],
)
async def test_a_nul_in_a_path_or_query_is_400(plane: TestPlane, url: str) -> None:
    async with plane.client() as client:
        answer = await client.get(url)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"


async def test_a_nul_in_a_runner_path_is_400(plane: TestPlane) -> None:
    async with plane.client() as client:
        answer = await client.post(
            "/internal/bots/a%00b/events",
            json={"events": []},
            headers={"Authorization": "Bearer nope"},
        )
    assert answer.status_code == 400, answer.text

"""Platforms through the HTTP API: Skribby's ``service`` field, and only joinable platforms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.platforms import PLATFORMS, Platform

MEET = "https://meet.google.com/osk-sbwe-nff"
WEBEX = "https://acme.webex.com/meet/jane"


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store)


@pytest.fixture
async def client(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as c:
        yield c


async def test_service_matching_the_url_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "service": "gmeet"})
    assert r.status_code == 201, r.text
    assert r.json()["platform"] == "google_meet"


async def test_service_contradicting_the_url_is_400_naming_both(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "service": "zoom"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_meeting_url"
    assert "'zoom'" in body["detail"]
    assert "Google Meet" in body["detail"]
    assert (await client.get("/api/v1/bot/")).json()["results"] == []
    assert plane.launcher.assignments == []


async def test_unknown_service_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "service": "skype"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_meeting_url")
    assert "gmeet, zoom, teams, webex" in r.json()["detail"]


async def test_a_webex_link_is_joined_or_refused_as_the_table_says(
    client: httpx.AsyncClient,
) -> None:
    webex = next(r for r in PLATFORMS if r.platform is Platform.WEBEX)
    r = await client.post("/api/v1/bot/", json={"meeting_url": WEBEX, "service": "webex"})
    if webex.joinable:
        assert r.status_code == 201, r.text
        assert r.json()["platform"] == "webex"
    else:
        assert (r.status_code, r.json()["code"]) == (400, "invalid_meeting_url")
        assert "cannot be joined" in r.json()["detail"]

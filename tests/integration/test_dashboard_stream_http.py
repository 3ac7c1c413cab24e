"""A bot's dashboard page follows the bot's real-time stream (issue 17 §1: "the live transcript
growing while it is in the call (from the real-time stream)"): the page of a bot not ended
carries ``data-stream``, a stream path with a short-lived token that opens this bot's stream
(and no other's) without the API key; an ended bot's page has none. The browser's side is in
``tests/e2e/test_dashboard_stream.py``."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from harness.dashboard import sign_in
from harness.live_server import serving
from harness.plane import TestPlane, build_test_plane
from meetbot.control.dashboard import install
from meetbot.control.ports import Store

MEET = "https://meet.google.com/abc-defg-hij"
STREAM = re.compile(r'data-stream="([^"]+)"')


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    plane = await build_test_plane(any_store)
    install(plane.app, b"dashboard test secret, 32 bytes!")
    return plane


@pytest.fixture
async def web(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=plane.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        assert (await sign_in(client, plane.key)).status_code == 303
        yield client


async def _bot(plane: TestPlane) -> str:
    async with plane.client() as api:
        r = await api.post("/api/v1/bot/", json={"meeting_url": MEET})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_live_bots_page_carries_a_stream_path_that_opens_its_stream(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    bot_id, other_id = await _bot(plane), await _bot(plane)
    page = (await web.get(f"/dashboard/bots/{bot_id}/")).text
    found = STREAM.search(page)
    assert found, "no data-stream on the page"
    path = html.unescape(found.group(1))
    assert path.startswith(f"/api/v1/bot/{bot_id}/stream?token=")
    async with serving(plane.app) as host:
        async with connect(f"ws://{host}{path}") as ws:  # no Authorization: the token
            async with asyncio.timeout(10):
                frame = json.loads(await ws.recv())
        assert (frame["type"], frame["data"]["bot_id"]) == ("status_update", bot_id)
        token = path.split("token=", 1)[1]
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{host}/api/v1/bot/{other_id}/stream?token={token}"):
                pass
        assert refused.value.response.status_code in (401, 403, 404)


async def test_an_ended_bots_page_follows_no_stream(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    bot_id = await _bot(plane)
    async with plane.client() as api:
        assert (await api.post(f"/api/v1/bot/{bot_id}/leave_call/")).status_code == 200
    page = (await web.get(f"/dashboard/bots/{bot_id}/")).text
    assert "not_admitted" in page
    assert "data-stream" not in page

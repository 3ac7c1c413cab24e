"""The bot's picture through the HTTP API (issue 16 §4): ``bot_image`` on create, stored under
the bot's prefix and named in its runner's assignment; URLs fetched under the webhook egress
rules; ``output_video`` during the call reaches the runner as its answers' ``camera``."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from harness.waiting import until
from meetbot.contract.reports import InCall, Joining, ReportBatch
from meetbot.testing.builders import solid_png
from meetbot.testing.fakes_runner import MemoryStorage

MEET = "https://meet.google.com/abc-defg-hij"
RED = solid_png(16, 16, (255, 0, 0))
BLUE = solid_png(16, 16, (0, 0, 255))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store)


@pytest.fixture
async def client(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as c:
        yield c


def stored(plane: TestPlane) -> dict[str, bytes]:
    storage = plane.services.media_storage
    assert isinstance(storage, MemoryStorage)
    return storage.objects


async def test_create_with_a_base64_image_stores_it_and_assigns_it(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        "/api/v1/bot/", json={"meeting_url": MEET, "bot_image": f"data:image/png;base64,{b64(RED)}"}
    )
    assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    assert assigned.bot_image is not None
    assert assigned.bot_image.startswith(f"bots/{bot_id}/camera/")
    assert assigned.bot_image.endswith(".png")
    assert stored(plane)[assigned.bot_image] == RED


@pytest.mark.parametrize(
    ("image", "code"),
    [
        (b64(b"GIF89a" + b"\x00" * 64), "invalid_bot_image"),
        ("%%% not base64 %%%", "invalid_bot_image"),
        (b64(RED[:40]), "invalid_bot_image"),
        ("https://127.0.0.1/face.png", "invalid_bot_image_url"),  # loopback
        ("https://10.1.2.3/face.png", "invalid_bot_image_url"),  # private
        ("https://169.254.169.254/latest/face.png", "invalid_bot_image_url"),  # metadata
        ("https://localhost/face.png", "invalid_bot_image_url"),  # resolves to loopback
        ("https://[::1]/face.png", "invalid_bot_image_url"),
        ("http://example.com/face.png", "invalid_bot_image_url"),  # not https
    ],
)
async def test_bad_images_and_refused_urls_are_400_and_store_nothing(
    plane: TestPlane, client: httpx.AsyncClient, image: str, code: str
) -> None:
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "bot_image": image})
    assert (r.status_code, r.json()["code"]) == (400, code), r.text
    assert r.json()["detail"]
    assert (await client.get("/api/v1/bot/")).json()["results"] == []
    assert stored(plane) == {}


async def test_body_limits_of_a_picture(plane: TestPlane, client: httpx.AsyncClient) -> None:
    """A create keeps MEETBOT_MAX_BODY_BYTES (1 MB: a larger picture comes by URL);
    output_video reads up to 3 MB, so a 2 MB picture as base64 reaches the checks."""
    big = RED[:-12] + b"\x00" * (2 * 1024 * 1024 - len(RED)) + RED[-12:]  # junk before IEND
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "bot_image": b64(big)})
    assert (r.status_code, r.json()["code"]) == (413, "request_too_large")
    bot_id = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()["id"]
    await _in_call(client, plane, bot_id)
    path = f"/api/v1/bot/{bot_id}/output_video/"
    r = await client.post(path, json={"bot_image": b64(big)})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_bot_image")  # read, then refused
    r = await client.post(path, json={"bot_image": b64(big + big)})
    assert (r.status_code, r.json()["code"]) == (413, "request_too_large")


async def _in_call(client: httpx.AsyncClient, plane: TestPlane, bot_id: str) -> dict[str, str]:
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    runner = {"Authorization": f"Bearer {assigned.token}"}
    now = plane.clock.now()
    batch = ReportBatch(events=[Joining(at=now), InCall(at=now)]).model_dump(mode="json")
    r = await client.post(f"/internal/bots/{bot_id}/events", json=batch, headers=runner)
    assert r.status_code == 200, r.text
    return runner


async def test_output_video_changes_the_picture_the_runner_is_told_to_show(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "bot_image": b64(RED)})
    bot_id = r.json()["id"]
    first = plane.launcher.assigned(bot_id).bot_image  # type: ignore[union-attr]
    path = f"/api/v1/bot/{bot_id}/output_video/"

    r = await client.post(path, json={"bot_image": b64(BLUE)})  # booting: not in the call yet
    assert (r.status_code, r.json()["code"]) == (409, "bot_not_in_call")

    runner = await _in_call(client, plane, bot_id)
    commands = f"/internal/bots/{bot_id}/commands"
    states = (await client.get(commands, headers=runner)).json()
    assert (states["commands"], states["camera"]) == ([], first)
    poll = asyncio.create_task(client.get(f"{commands}?wait=20", headers=runner))
    await until(lambda: len(plane.services.commands) == 1, what="the long poll to wait")
    r = await client.post(path, json={"bot_image": b64(BLUE)})
    assert r.status_code == 200, r.text
    woken = (await asyncio.wait_for(poll, 10)).json()
    assert woken["camera"] != first
    assert woken["camera"].startswith(f"bots/{bot_id}/camera/")
    assert stored(plane)[woken["camera"]] == BLUE
    picture = await client.get(
        f"/internal/bots/{bot_id}/camera", params={"key": woken["camera"]}, headers=runner
    )
    assert (picture.status_code, picture.content) == (200, BLUE)
    assert picture.headers["content-type"] == "image/png"
    elsewhere = await client.get(
        f"/internal/bots/{bot_id}/camera", params={"key": f"bots/{bot_id}/recording.ogg"},
        headers=runner,
    )  # fmt: skip
    assert elsewhere.status_code == 404  # only the bot's own pictures
    anonymous = await client.get(f"/internal/bots/{bot_id}/camera", params={"key": first})
    assert anonymous.status_code == 401
    events = await client.post(
        f"/internal/bots/{bot_id}/events", json={"events": []}, headers=runner
    )
    assert events.json()["camera"] == woken["camera"]

    r = await client.post(path, json={"bot_image": "https://127.0.0.1/x.png"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_bot_image_url")
    r = await client.post(path, json={"bot_image": b64(b"nope")})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_bot_image")


async def test_output_video_on_a_scheduled_or_unknown_bot(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        "/api/v1/bot/", json={"meeting_url": MEET, "join_at": "2099-01-01T00:00:00Z"}
    )
    bot_id = r.json()["id"]
    r = await client.post(f"/api/v1/bot/{bot_id}/output_video/", json={"bot_image": b64(RED)})
    assert (r.status_code, r.json()["code"]) == (400, "bot_not_started")
    r = await client.post("/api/v1/bot/nope/output_video/", json={"bot_image": b64(RED)})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await client.post(f"/api/v1/bot/{bot_id}/output_video/", json={})
    assert r.status_code == 400


async def test_a_bot_without_a_picture_has_no_camera(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    bot_id = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    assert assigned.bot_image is None
    runner = await _in_call(client, plane, bot_id)
    got = await client.get(f"/internal/bots/{bot_id}/commands", headers=runner)
    assert got.json()["commands"] == []
    assert "camera" not in got.json()  # no picture: no camera state (nulls are left out)

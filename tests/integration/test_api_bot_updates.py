"""Bots are editable until they start joining (issue 11 §1): through the HTTP API, the real
scheduler (``dispatch_due``) and the runner's own channel (``/internal/bots/{id}/...``), on
the in-memory store, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.control.service.dispatch import dispatch_due
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"
ZOOM = "https://zoom.us/j/1234567890?pwd=abc"
ZOOM_JOIN = "https://app.zoom.us/wc/join/1234567890?pwd=abc"  # as the platform stores it
NOT_DISPATCHED = {"code": "update_bot_failed", "detail": "Only non-dispatched bots can be updated"}
NOT_ENOUGH_TIME = {"code": "update_bot_failed", "detail": "Not enough time to launch new bot"}
COMPLETED = {
    "code": "bot_completed",
    "detail": "Cannot send a command to a bot which has completed"
    "(is shutting/has shut down/has errored).",
}


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store)


@pytest.fixture
async def client(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as c:
        yield c


def later(plane: TestPlane, seconds: float) -> str:
    return iso(plane.clock.now() + timedelta(seconds=seconds))


async def booting_bot(plane: TestPlane, client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """A scheduled bot for 10:20 dispatched by the scheduler at 10:10 (``booting``)."""
    r = await client.post(
        "/api/v1/bot/", json={"meeting_url": MEET, "join_at": later(plane, 1200), **body}
    )
    assert r.status_code == 201, r.text
    plane.clock.advance(600)
    assert await dispatch_due(plane.services) == 1
    bot: dict[str, Any] = (await client.get(f"/api/v1/bot/{r.json()['id']}/")).json()
    assert bot["status"] == "booting"
    return bot


def token(plane: TestPlane, bot_id: str) -> str:
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    return assigned.token


async def runner_joins(
    plane: TestPlane, client: httpx.AsyncClient, bot_id: str, runner_token: str | None = None
) -> httpx.Response:
    """What the bot's runner asks at the moment it starts joining."""
    return await client.post(
        f"/internal/bots/{bot_id}/join",
        json={"at": iso(plane.clock.now())},
        headers={"Authorization": f"Bearer {runner_token or token(plane, bot_id)}"},
    )


EDITS: dict[str, Any] = {
    "bot_name": "Renamed",
    "meeting_url": ZOOM,
    "metadata": {"crm": "42"},
    "stop_options": {"time_limit": 30, "waiting_room_timeout": 3},
    "transcription_model": "none",
    "recording": {"audio_format": "wav"},
    "webhook_url": None,
    "credentials": {"zoom": {"zak": "zak-secret"}},
}


async def test_a_scheduled_bot_a_minute_before_its_start_takes_any_field_but_join_at(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    """Recall's example: at 10:00 a bot scheduled for 10:01 can still change any field except
    join_at (before: "Not enough time to launch new bot")."""
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": later(plane, 3600)})
    bot_id = r.json()["id"]
    plane.clock.advance(3600 - 60)  # the scheduler has not dispatched it yet
    url = f"/api/v1/bot/{bot_id}/"
    for name, value in EDITS.items():
        r = await client.patch(url, json={name: value})
        assert r.status_code == 200, (name, r.text)
    r = await client.patch(url, json={"join_at": later(plane, 120)})
    assert (r.status_code, r.json()) == (400, NOT_ENOUGH_TIME)
    got = (await client.get(url)).json()
    assert (got["status"], got["bot_name"], got["platform"]) == ("scheduled", "Renamed", "zoom")


async def test_a_booting_bot_takes_every_field_and_its_runner_joins_with_them(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    bot = await booting_bot(plane, client, bot_name="Before")
    url = f"/api/v1/bot/{bot['id']}/"
    r = await client.patch(url, json=EDITS)
    assert r.status_code == 200, r.text
    patched = r.json()
    got = (await client.get(url)).json()
    for view in (patched, got):  # at once, in the answer and in GET
        assert view["status"] == "booting"
        assert (view["bot_name"], view["meeting_url"], view["platform"]) == (
            "Renamed",
            ZOOM_JOIN,
            "zoom",
        )
        assert view["metadata"] == {"crm": "42"}
        assert (view["stop_options"]["time_limit"], view["transcription_model"]) == (30, "none")
        assert view["recording"]["audio_format"] == "wav"
        assert view["credentials"]["zoom"] is True
        assert view["status_changes"] == bot["status_changes"]  # unchanged
    assert plane.launcher.assigned(bot["id"]).bot_name == "Before"  # type: ignore[union-attr]

    r = await runner_joins(plane, client, bot["id"])
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["commands"] == []
    assert answer["briefing"] == {
        "meeting_url": ZOOM_JOIN,
        "platform": "zoom",
        "bot_name": "Renamed",
        "stop_options": {
            "empty_meeting_timeout": 10,
            "last_person_detection": 2,
            "waiting_room_timeout": 3,
            "time_limit": 30,
            "silence_detection": 15,
        },
        "recording": {"audio_format": "wav", "video": False},
        "credentials": {"zoom": {"zak": "zak-secret"}},
    }
    assert (await client.get(url)).json()["status"] == "joining"
    assert (await runner_joins(plane, client, bot["id"])).json() == answer  # a retried call


async def test_from_joining_on_only_metadata_changes(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    bot = await booting_bot(plane, client)
    url = f"/api/v1/bot/{bot['id']}/"
    assert (await runner_joins(plane, client, bot["id"])).status_code == 200
    for name, value in {**EDITS, "join_at": later(plane, 7200)}.items():
        if name == "metadata":
            continue
        r = await client.patch(url, json={name: value})
        assert (r.status_code, r.json()) == (400, NOT_DISPATCHED), name
    r = await client.patch(url, json={"metadata": {"crm": "7"}})
    assert (r.status_code, r.json()["metadata"]) == (200, {"crm": "7"})


async def test_a_new_url_is_checked_like_a_create(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    bot = await booting_bot(plane, client)
    url = f"/api/v1/bot/{bot['id']}/"
    r = await client.patch(url, json={"meeting_url": "https://example.com/room"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_meeting_url")
    r = await client.patch(url, json={"meeting_url": None})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
    r = await client.patch(url, json={"transcription_model": "whisper-huge"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_transcription_model")
    assert (await client.get(url)).json()["meeting_url"] == MEET  # nothing stored


async def test_join_at_of_a_booting_bot(plane: TestPlane, client: httpx.AsyncClient) -> None:
    """Within the threshold: refused. Far ahead: back to ``scheduled``, its runner let go (its
    token answers 401), dispatched again by the scheduler at the new time."""
    bot = await booting_bot(plane, client)
    url = f"/api/v1/bot/{bot['id']}/"
    old_token = token(plane, bot["id"])
    r = await client.patch(url, json={"join_at": later(plane, 300)})
    assert (r.status_code, r.json()) == (400, NOT_ENOUGH_TIME)
    r = await client.patch(url, json={"join_at": None})
    assert (r.status_code, r.json()) == (400, NOT_ENOUGH_TIME)
    r = await client.patch(url, json={"join_at": bot["join_at"], "bot_name": "Same time"})
    assert (r.status_code, r.json()["status"]) == (200, "booting")  # join_at unchanged

    r = await client.patch(url, json={"join_at": later(plane, 3600)})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["kind"], r.json()["join_at"]) == (
        "scheduled",
        "scheduled",
        later(plane, 3600),
    )
    runner = {"Authorization": f"Bearer {old_token}"}
    assert (
        await client.get(f"/internal/bots/{bot['id']}/commands", headers=runner)
    ).status_code == 401
    assert (await runner_joins(plane, client, bot["id"], old_token)).status_code == 401
    plane.launcher.finish(bot["id"])  # the told runner exits: its capacity is free again
    assert await dispatch_due(plane.services) == 0
    plane.clock.advance(3000)
    assert await dispatch_due(plane.services) == 1
    got = (await client.get(url)).json()
    assert [c["status"] for c in got["status_changes"]] == [
        "scheduled",
        "booting",
        "scheduled",
        "booting",
    ]
    assert token(plane, bot["id"]) != old_token
    assert (await runner_joins(plane, client, bot["id"])).json()["briefing"]["bot_name"] == (
        "Same time"
    )


async def test_delete_and_leave_call_before_joining(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    scheduled = (
        await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": later(plane, 3600)})
    ).json()
    assert (await client.delete(f"/api/v1/bot/{scheduled['id']}/")).status_code == 204
    bot = await booting_bot(plane, client)
    r = await client.delete(f"/api/v1/bot/{bot['id']}/")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert "leave_call" in r.json()["detail"]
    r = await client.post(f"/api/v1/bot/{bot['id']}/leave_call/")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["stop_reason"]) == ("not_admitted", "manually_stopped")
    # The runner, at join_at: its token ended with its bot (issue 12), so it never joins.
    r = await runner_joins(plane, client, bot["id"])
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
    assert [c["status"] for c in got["status_changes"]] == ["scheduled", "booting", "not_admitted"]


async def test_leave_call_on_a_leaving_bot_is_400(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    bot = await booting_bot(plane, client)
    runner = {"Authorization": f"Bearer {token(plane, bot['id'])}"}
    at = iso(plane.clock.now())
    assert (await runner_joins(plane, client, bot["id"])).status_code == 200
    r = await client.post(
        f"/internal/bots/{bot['id']}/events",
        json={"events": [{"type": "in_call", "at": at}]},
        headers=runner,
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/bot/{bot['id']}/leave_call/")
    assert (r.status_code, r.json()["status"]) == (200, "leaving")
    r = await client.post(f"/api/v1/bot/{bot['id']}/leave_call/")
    assert (r.status_code, r.json()) == (400, COMPLETED)


async def test_a_field_left_out_is_kept_and_a_null_is_a_value(any_store: Any) -> None:
    """The typed patch tells "absent" from "null" (``UNSET`` vs ``None``)."""
    plane = await build_test_plane(any_store, webhook_allow_private=True)
    async with plane.client() as client:
        body = {
            "meeting_url": MEET,
            "join_at": later(plane, 3600),
            "webhook_url": "http://127.0.0.1:9/h",
            "metadata": {"a": "1"},
            "stop_options": {"time_limit": 30},
            "recording": {"audio_format": "wav"},
        }
        bot = (await client.post("/api/v1/bot/", json=body)).json()
        url = f"/api/v1/bot/{bot['id']}/"
        kept = (await client.patch(url, json={"bot_name": "Only this"})).json()
        for name in ("webhook_url", "metadata", "stop_options", "recording", "join_at"):
            assert kept[name] == bot[name], name
        nulls = {"webhook_url": None, "metadata": None, "stop_options": None, "recording": None}
        cleared = (await client.patch(url, json=nulls)).json()
        assert (cleared["webhook_url"], cleared["metadata"]) == (None, {})
        assert cleared["stop_options"]["time_limit"] == 720
        assert cleared["recording"] == {"audio_format": "ogg", "video": False}
        assert cleared["bot_name"] == "Only this"
        for name in ("bot_name", "meeting_url"):
            r = await client.patch(url, json={name: None})
            assert (r.status_code, r.json()["code"]) == (400, "invalid_request"), name

"""The bot API through HTTP, on the in-memory store, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import Status
from meetbot.control.service.dispatch import dispatch_due
from meetbot.testing.fakes import FakeLauncher
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store)


@pytest.fixture
async def client(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as c:
        yield c


def later(plane: TestPlane, seconds: float) -> str:
    return iso(plane.clock.now() + timedelta(seconds=seconds))


async def create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/bot/", json={"meeting_url": MEET, **body})


# --- auth -----------------------------------------------------------------------------------


async def test_missing_or_wrong_key_is_401(plane: TestPlane) -> None:
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as anon:
        r = await anon.get("/api/v1/bot/")
        assert r.status_code == 401
        assert r.json()["code"] == "unauthorized"
        r = await anon.get("/api/v1/bot/", headers={"Authorization": "Token nope"})
        assert r.status_code == 401
        r = await anon.get("/api/v1/bot/", headers={"Authorization": f"Bearer {plane.key}"})
        assert r.status_code == 200


async def test_other_workspace_sees_404(plane: TestPlane, client: httpx.AsyncClient) -> None:
    bot = (await create(client, join_at=later(plane, 3600))).json()
    async with plane.client(await plane.new_key()) as other:
        assert (await other.get(f"/api/v1/bot/{bot['id']}/")).status_code == 404
        assert (await other.get("/api/v1/bot/")).json()["results"] == []
    async with plane.client(await plane.new_key(plane.workspace_id)) as same:
        assert (await same.get(f"/api/v1/bot/{bot['id']}/")).status_code == 200


# --- create ---------------------------------------------------------------------------------


async def test_adhoc_bot_claims_a_warm_slot(plane: TestPlane, client: httpx.AsyncClient) -> None:
    r = await create(client)
    assert r.status_code == 201, r.text
    bot = r.json()
    assert bot["kind"] == "adhoc"
    assert bot["status"] == "booting"
    assert bot["platform"] == "google_meet"
    assert bot["bot_name"] == "Meeting Bot"
    assert [c["status"] for c in bot["status_changes"]] == ["booting"]
    assigned = plane.launcher.assigned(bot["id"])
    assert assigned is not None
    assert assigned.meeting_url == MEET
    assert bot["created_at"].endswith("Z")
    assert len(bot["created_at"]) == len("2026-01-01T12:00:00.000Z")


async def test_scheduled_bot_beyond_threshold(plane: TestPlane, client: httpx.AsyncClient) -> None:
    r = await create(client, join_at=later(plane, 601))
    assert r.status_code == 201
    assert (r.json()["kind"], r.json()["status"]) == ("scheduled", "scheduled")
    assert plane.launcher.assignments == []
    r = await create(client, scheduled_start_time=later(plane, 7200))
    assert r.json()["join_at"] == later(plane, 7200)


async def test_join_at_within_threshold_is_adhoc(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    r = await create(client, join_at=later(plane, 600))
    assert r.json()["kind"] == "adhoc"


async def test_join_at_in_the_past_is_400(plane: TestPlane, client: httpx.AsyncClient) -> None:
    r = await create(client, join_at=later(plane, -61))
    assert r.status_code == 400
    assert "past" in r.json()["detail"]
    r = await create(client, join_at="2026-01-01T12:00:00")
    assert r.status_code == 400
    assert r.json()["field"] == "join_at"


async def test_empty_pool_is_507_and_creates_nothing(any_store: Any) -> None:
    plane = await build_test_plane(any_store, launcher=FakeLauncher(pool_size=1))
    async with plane.client() as client:
        assert (await create(client)).status_code == 201
        r = await create(client)
        assert r.status_code == 507
        assert r.headers["retry-after"] == "30"
        assert r.json() == {
            "code": "adhoc_pool_exhausted",
            "detail": "Out of adhoc bots -- please retry in 30 seconds.",
        }
        assert len((await client.get("/api/v1/bot/")).json()["results"]) == 1
        plane.launcher.refill()
        assert (await create(client)).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bot_name": "x" * 101}, "bot_name"),
        ({"bot_name": ""}, "bot_name"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"stop_options": {"time_limit": 721}}, "stop_options.time_limit"),
        ({"stop_options": {"time_limit": 0}}, "stop_options.time_limit"),
        ({"stop_options": {"waiting_room_timeout": 0}}, "stop_options.waiting_room_timeout"),
        ({"stop_options": {"silence_detection": -1}}, "stop_options.silence_detection"),
        ({"stop_options": {"empty_meeting_timeout": 1.5}}, "stop_options.empty_meeting_timeout"),
        ({"stop_options": {"last_person_detection": "2"}}, "stop_options.last_person_detection"),
        ({"stop_options": {"bogus": 1}}, "stop_options.bogus"),
        ({"meeting_url": 5}, "meeting_url"),
    ],
)
async def test_invalid_fields_are_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await create(client, **body)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_request"
    assert r.json()["field"] == field
    assert field in r.json()["detail"]


async def test_stop_options_defaults_and_legacy_time_limit(client: httpx.AsyncClient) -> None:
    bot = (await create(client, empty_meeting_timeout=99, time_limit=30)).json()
    assert bot["stop_options"] == {
        "empty_meeting_timeout": 10,
        "last_person_detection": 2,
        "waiting_room_timeout": 10,
        "time_limit": 30,
        "silence_detection": 15,
    }
    bot = (await create(client, time_limit=30, stop_options={"time_limit": 45})).json()
    assert bot["stop_options"]["time_limit"] == 45


async def test_invalid_meeting_url_and_model(client: httpx.AsyncClient) -> None:
    r = await create(client, meeting_url="https://example.com/room")
    assert (r.status_code, r.json()["code"]) == (400, "invalid_meeting_url")
    r = await create(client, transcription_model="whisper-huge")
    assert (r.status_code, r.json()["code"]) == (400, "invalid_transcription_model")
    r = await create(client, meeting_url="https://zoom.us/j/1234567890?pwd=abc")
    assert r.json()["platform"] == "zoom"


async def test_deduplication_key(plane: TestPlane, client: httpx.AsyncClient) -> None:
    first = (await create(client, deduplication_key="standup", join_at=later(plane, 3600))).json()
    r = await create(client, deduplication_key="standup", join_at=later(plane, 3600))
    assert r.status_code == 409
    assert r.json()["code"] == "duplicate_bot"
    assert r.json()["bot_id"] == first["id"]
    assert (await client.delete(f"/api/v1/bot/{first['id']}/")).status_code == 204
    assert (await create(client, deduplication_key="standup")).status_code == 201


async def test_idempotency_key(plane: TestPlane, client: httpx.AsyncClient) -> None:
    body = {"meeting_url": MEET, "bot_name": "Notes"}
    h = {"Idempotency-Key": "req-1"}
    a = await client.post("/api/v1/bot/", json=body, headers=h)
    b = await client.post("/api/v1/bot/", json=body, headers=h)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] == b.json()["id"]
    assert len(plane.launcher.assignments) == 1
    c = await client.post("/api/v1/bot/", json={**body, "bot_name": "Other"}, headers=h)
    assert (c.status_code, c.json()["code"]) == (409, "idempotency_key_reused")
    plane.clock.advance(25 * 3600)
    d = await client.post("/api/v1/bot/", json=body, headers=h)
    assert d.json()["id"] != a.json()["id"]


async def test_an_idempotent_repeat_gets_the_first_answer_secret_included(any_store: Any) -> None:
    """The answer is stored with the bot: a repeat sees the bot as it was created, with the
    webhook secret that is shown only once, though the bot has moved on since."""
    plane = await build_test_plane(any_store, webhook_allow_private=True)
    body = {"meeting_url": MEET, "webhook_url": "http://127.0.0.1:9/h"}
    h = {"Idempotency-Key": "req-2"}
    async with plane.client() as client:
        first = await client.post("/api/v1/bot/", json=body, headers=h)
        assert first.status_code == 201, first.text
        assert first.json()["webhook_secret"]
        bot_id = first.json()["id"]
        assert (await client.post(f"/api/v1/bot/{bot_id}/leave_call/")).status_code == 200
        again = await client.post("/api/v1/bot/", json=body, headers=h)
        assert (again.status_code, again.json()) == (201, first.json())
        shown = (await client.get(f"/api/v1/bot/{bot_id}/")).json()
        assert shown["status"] == "not_admitted"
        assert "webhook_secret" not in shown


# --- list / get -----------------------------------------------------------------------------


async def test_list_newest_first_paginated_and_filtered(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    ids = []
    for i in range(5):
        plane.clock.advance(1)
        r = await create(
            client, join_at=later(plane, 3600 * (i + 1)), metadata={"team": "a" if i % 2 else "b"}
        )
        ids.append(r.json()["id"])
    page = (await client.get("/api/v1/bot/", params={"limit": 2})).json()
    assert [b["id"] for b in page["results"]] == ids[::-1][:2]
    seen = [b["id"] for b in page["results"]]
    while page["next"]:
        page = (await client.get("/api/v1/bot", params={"limit": 2, "cursor": page["next"]})).json()
        seen += [b["id"] for b in page["results"]]
    assert seen == ids[::-1]
    team_a = (await client.get("/api/v1/bot/?metadata__team=a")).json()["results"]
    assert {b["id"] for b in team_a} == {ids[1], ids[3]}
    window = {
        "join_at_after": later(plane, 3600 * 2 - 10),
        "join_at_before": later(plane, 3600 * 3 + 10),
    }
    assert {
        b["id"] for b in (await client.get("/api/v1/bot/", params=window)).json()["results"]
    } == {
        ids[1],
        ids[2],
    }
    assert (await client.get("/api/v1/bot/?status=booting")).json()["results"] == []
    assert len((await client.get("/api/v1/bot/?status=scheduled")).json()["results"]) == 5
    by_url = await client.get("/api/v1/bot/", params={"meeting_url": "meet.google.com/ABCDEFGHIJ"})
    assert len(by_url.json()["results"]) == 5
    assert (await client.get("/api/v1/bot/?cursor=garbage")).status_code == 400
    assert (await client.get("/api/v1/bot/?status=nope")).status_code == 400


# --- update / delete / leave ----------------------------------------------------------------


async def test_patch_rules(plane: TestPlane, client: httpx.AsyncClient) -> None:
    bot = (await create(client, join_at=later(plane, 3600))).json()
    url = f"/api/v1/bot/{bot['id']}/"
    r = await client.patch(url, json={"bot_name": "Renamed", "join_at": later(plane, 7200)})
    assert r.status_code == 200, r.text
    assert (r.json()["bot_name"], r.json()["join_at"]) == ("Renamed", later(plane, 7200))
    r = await client.patch(url, json={"join_at": later(plane, 300)})
    assert r.json() == {"code": "update_bot_failed", "detail": "Not enough time to launch new bot"}
    r = await client.patch(url, json={"stop_options": {"time_limit": 5}})
    assert r.json()["stop_options"]["time_limit"] == 5
    r = await client.patch(url, json={"join_at": None})
    assert (r.json()["status"], r.json()["kind"]) == ("booting", "adhoc")
    assigned = plane.launcher.assigned(bot["id"])
    assert assigned is not None
    r = await client.patch(url, json={"bot_name": "Late"})
    assert (r.status_code, r.json()["bot_name"]) == (200, "Late")  # booting: not joining yet
    r = await client.post(
        f"/internal/bots/{bot['id']}/join",
        json={"at": iso(plane.clock.now())},
        headers={"Authorization": f"Bearer {assigned.token}"},
    )
    assert r.json()["briefing"]["bot_name"] == "Late"
    r = await client.patch(url, json={"bot_name": "Too late"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "update_bot_failed",
        "detail": "Only non-dispatched bots can be updated",
    }
    r = await client.patch(url, json={"metadata": {"crm": "42"}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"crm": "42"}


async def test_patch_join_now_with_empty_pool_is_507(any_store: Any) -> None:
    plane = await build_test_plane(any_store, launcher=FakeLauncher(pool_size=0))
    async with plane.client() as client:
        bot = (await create(client, join_at=later(plane, 3600))).json()
        r = await client.patch(f"/api/v1/bot/{bot['id']}/", json={"join_at": None})
        assert r.status_code == 507
        assert (await client.get(f"/api/v1/bot/{bot['id']}/")).json()["status"] == "scheduled"


async def test_delete(plane: TestPlane, client: httpx.AsyncClient) -> None:
    bot = (await create(client, join_at=later(plane, 3600))).json()
    assert (await client.delete(f"/api/v1/bot/{bot['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/bot/{bot['id']}/")).status_code == 404
    live = (await create(client)).json()
    r = await client.delete(f"/api/v1/bot/{live['id']}/")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert "leave_call" in r.json()["detail"]


async def test_leave_call_rules(plane: TestPlane, client: httpx.AsyncClient) -> None:
    scheduled = (await create(client, join_at=later(plane, 3600))).json()
    r = await client.post(f"/api/v1/bot/{scheduled['id']}/leave_call/")
    assert r.json() == {
        "code": "bot_not_started",
        "detail": "Cannot send a command to a bot which has not been started.",
    }
    live = (await create(client)).json()
    r = await client.post(f"/api/v1/bot/{live['id']}/leave_call")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["stop_reason"]) == ("not_admitted", "manually_stopped")
    r = await client.post(f"/api/v1/bot/{live['id']}/leave_call/")
    assert r.status_code == 400
    assert r.json()["code"] == "bot_completed"


# --- errors ---------------------------------------------------------------------------------


async def test_error_shapes(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/bot/", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
    r = await client.get("/api/v1/nothing/")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await client.put("/api/v1/bot/")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    r = await client.post("/api/v1/bot/", json={})
    assert (r.status_code, r.json()["field"]) == (400, "meeting_url")
    r = await client.post("/api/v1/bot/", json=[1, 2])
    assert r.status_code == 400


async def test_rate_limit(any_store: Any) -> None:
    plane = await build_test_plane(any_store, rate_limit_read_per_minute=2)
    async with plane.client() as client:
        codes = [(await client.get("/api/v1/bot/")).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = await client.get("/api/v1/bot/")
        assert r.json()["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1


# --- scheduling -----------------------------------------------------------------------------


async def test_dispatch_at_join_at_minus_lead(plane: TestPlane, client: httpx.AsyncClient) -> None:
    bot = (await create(client, join_at=later(plane, 1800))).json()
    svc = plane.services
    assert await dispatch_due(svc) == 0
    plane.clock.advance(1800 - 600 - 1)
    assert await dispatch_due(svc) == 0
    plane.clock.advance(1)
    assert await dispatch_due(svc) == 1
    got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
    assert got["status"] == Status.BOOTING
    assigned = plane.launcher.assigned(bot["id"])
    assert assigned is not None
    assert iso(assigned.join_at) == bot["join_at"]  # type: ignore[arg-type]
    assert await dispatch_due(svc) == 0  # never dispatched twice


async def test_no_capacity_at_dispatch_fails_openly(any_store: Any) -> None:
    plane = await build_test_plane(any_store, launcher=FakeLauncher(pool_size=0, max_concurrent=1))
    async with plane.client() as client:
        a = (await create(client, join_at=later(plane, 700))).json()
        b = (await create(client, join_at=later(plane, 701))).json()
        plane.clock.advance(200)
        assert await dispatch_due(plane.services) == 2
        a = (await client.get(f"/api/v1/bot/{a['id']}/")).json()
        b = (await client.get(f"/api/v1/bot/{b['id']}/")).json()
        assert a["status"] == "booting"
        assert (b["status"], b["sub_code"]) == ("failed", "failed_to_launch_in_time")


async def test_deleting_a_bot_notifies_its_own_webhook_url() -> None:
    """Regression: the bot row was gone when the event was emitted, so its webhook_url was
    never a target of ``bot.deleted``."""
    from meetbot.testing.memory_store import MemoryStore

    store = MemoryStore()
    plane = await build_test_plane(store, webhook_allow_private=True)
    async with plane.client() as client:
        bot = (
            await create(client, join_at=later(plane, 3600), webhook_url="http://127.0.0.1:9/h")
        ).json()
        assert (await client.delete(f"/api/v1/bot/{bot['id']}/")).status_code == 204
    deliveries = store._state.webhooks.deliveries.values()
    to_bot_url = [d.event_type for d in deliveries if d.endpoint_id is None]
    assert to_bot_url == ["status_update", "bot.deleted"]


async def test_create_wakes_the_delivery_worker_only_when_it_queued_a_delivery(
    any_store: Any,
) -> None:
    """A create whose event has no webhook target (the common case) used to wake the delivery
    worker anyway: one extra write transaction per create, competing with the creates."""
    plane = await build_test_plane(any_store, webhook_allow_private=True)
    wakes: list[str] = []
    plane.reactions.on_events_committed.append(lambda: wakes.append("wake"))
    async with plane.client() as client:
        assert (await create(client)).status_code == 201
        assert wakes == []
        r = await create(client, webhook_url="http://127.0.0.1:9/h")
        assert r.status_code == 201
        assert wakes == ["wake"]


async def test_bot_detected_is_retried_three_times_with_fresh_runners(any_store: Any) -> None:
    from meetbot import errors
    from meetbot.contract.reports import BotDetected, Joining, ReportBatch
    from meetbot.control.service.runners import handle_reports

    plane = await build_test_plane(any_store, launcher=FakeLauncher(auto_refill=True))
    async with plane.client() as client:
        bot = (await create(client)).json()
        tokens = []
        for attempt in range(4):
            assigned = plane.launcher.assigned(bot["id"])
            assert assigned is not None
            tokens.append(assigned.token)
            batch = ReportBatch(
                events=[
                    Joining(at=plane.clock.now()),
                    BotDetected(at=plane.clock.now(), sub_code="google_meet_bot_blocked"),
                ]
            )
            commands = await handle_reports(plane.services, bot["id"], assigned.token, batch)
            got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
            if attempt < 3:
                assert got["status"] == "booting", got
                assert commands.commands[0].type == "stop"  # this runner is done
            else:
                assert (got["status"], got["sub_code"]) == (
                    "bot_detected",
                    "google_meet_bot_blocked",
                )
        assert len(set(tokens)) == 4  # a fresh runner (and browser profile) each time
        with pytest.raises(errors.Unauthorized):
            await handle_reports(plane.services, bot["id"], tokens[0], ReportBatch())
        assert [c["status"] for c in got["status_changes"]].count("bot_detected") == 4


async def test_dates_that_leave_the_calendar_in_utc_are_400_not_500(any_store: Any) -> None:
    """Regression (found by the OpenAPI fuzz test): converting year-1 dates with a positive
    offset to UTC overflowed into a 500."""
    plane = await build_test_plane(any_store, webhook_allow_private=True)
    early, late = "0001-01-01T01:00:00+05:08", "9999-12-31T23:59:00-05:00"
    async with plane.client() as client:
        for when in (early, late):
            r = await create(client, join_at=when)
            assert (r.status_code, r.json()["field"]) == (400, "join_at")
            r = await client.get("/api/v1/bot/", params={"join_at_after": when})
            assert r.status_code == 400
        ep = (
            await client.post("/api/v1/webhook_endpoints/", json={"url": "http://127.0.0.1:9/h"})
        ).json()
        r = await client.post(
            f"/api/v1/webhook_endpoints/{ep['id']}/replay/", json={"from": early, "to": late}
        )
        assert r.status_code == 400, r.text


async def test_a_whole_life_in_one_report_batch(any_store: Any) -> None:
    """A batch is applied in one transaction, the row written once and its events queued
    together: every status change is kept, the events and the bot's webhook deliveries keep
    the reports' order, and a wrong token stores nothing."""
    from meetbot import errors
    from meetbot.contract.lifecycle import StopReason
    from meetbot.contract.reports import (
        InCall,
        Joining,
        Leaving,
        Left,
        ParticipantJoined,
        ReportBatch,
        Waiting,
    )
    from meetbot.control.service.runners import handle_reports

    plane = await build_test_plane(any_store, webhook_allow_private=True)
    async with plane.client() as client:
        r = await client.post("/api/v1/webhook_endpoints/", json={"url": "http://127.0.0.1:9/h"})
        assert r.status_code == 201, r.text
        endpoint = r.json()["id"]
        bot = (await create(client)).json()
        assigned = plane.launcher.assigned(bot["id"])
        assert assigned is not None
        at = plane.clock.now()
        batch = ReportBatch(
            events=[
                Joining(at=at),
                Waiting(at=at),
                InCall(at=at),
                ParticipantJoined(at=at, participant_id="p1", name="Ada"),
                Leaving(at=at, stop_reason=StopReason.MANUALLY_STOPPED),
                Left(at=at),
            ]
        )
        with pytest.raises(errors.Unauthorized):
            await handle_reports(plane.services, bot["id"], "not-the-token", batch)
        before = (await client.get("/api/v1/events/")).json()["results"]
        await handle_reports(plane.services, bot["id"], assigned.token, batch)

        got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
        statuses = [c["status"] for c in got["status_changes"]]
        assert statuses == ["booting", "joining", "joining", "recording", "leaving", "processing"]
        feed = (await client.get("/api/v1/events/")).json()["results"][len(before) :]
        kinds = [(e["type"], e["data"].get("new_status")) for e in feed]
        assert kinds == [
            ("status_update", "joining"),
            ("status_update", "joining"),
            ("status_update", "recording"),
            ("participant.joined", None),
            ("status_update", "leaving"),
            ("status_update", "processing"),
        ]
        page = await client.get(f"/api/v1/webhook_endpoints/{endpoint}/deliveries/?limit=100")
        queued = [d["event_id"] for d in reversed(page.json()["results"])]
        assert queued == [e["id"] for e in before + feed]

"""The push worker on the shipped fakes: what a bot's endpoints get, in order, after an
outage, signed; audio only for the WebSocket that asked; the API's answers."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from harness.plane import TestPlane, build_test_plane
from harness.waiting import until
from meetbot.contract.media_format import chunk_key, participant_chunk_key
from meetbot.contract.reports import (
    AudioChunk,
    Failed,
    InCall,
    Joining,
    ParticipantAudioChunk,
    ParticipantJoined,
    ReportBatch,
)
from meetbot.control.realtime_push import PushOptions, RealtimePush
from meetbot.control.service.runners import handle_reports
from meetbot.control.service.stream import Pulse
from meetbot.testing.fake_push import FakePushTransport
from meetbot.testing.fakes_runner import MemoryStorage
from meetbot.testing.memory_store import MemoryStore

MEET = "https://meet.google.com/abc-defg-hij"
WS = "ws://127.0.0.1:9/rt?token=s3cret"
HOOK = "http://127.0.0.1:9/hook"
FAST = PushOptions(scan_interval=0.02, poll_interval=0.02, backoff_min=0.01, backoff_max=0.05)


@pytest.fixture
async def plane() -> TestPlane:
    return await build_test_plane(MemoryStore(), webhook_allow_private=True)


@pytest.fixture
async def pushing(plane: TestPlane) -> AsyncIterator[tuple[RealtimePush, FakePushTransport]]:
    fake = FakePushTransport()
    pulse = Pulse()
    plane.reactions.on_events_committed.append(pulse.wake)
    storage = plane.services.media_storage
    worker = RealtimePush(plane.services, fake, pulse, storage, FAST)
    await worker.start()
    try:
        yield worker, fake
    finally:
        await worker.stop()


async def _create(plane: TestPlane, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    return await _create_at(plane, MEET, endpoints)


async def _report(plane: TestPlane, bot_id: str, *events: Any) -> None:
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    await handle_reports(plane.services, bot_id, assigned.token, ReportBatch(events=list(events)))


async def test_create_refuses_bad_endpoints_with_a_code(plane: TestPlane) -> None:
    bad: list[Any] = [
        [{"type": "carrier-pigeon", "url": WS, "events": ["status_update"]}],
        [{"type": "websocket", "url": WS, "events": ["no.such.event"]}],
        [{"type": "webhook", "url": HOOK, "events": ["audio_mixed_raw.data"]}],
        [{"type": "websocket", "url": "ws://169.254.169.254/", "events": ["status_update"]}],
    ]
    async with plane.client() as client:
        for endpoints in bad:
            r = await client.post(
                "/api/v1/bot/", json={"meeting_url": MEET, "realtime_endpoints": endpoints}
            )
            assert r.status_code == 400, r.text
            assert r.json()["code"] == "invalid_realtime_endpoints", r.text
        r = await client.post(
            "/api/v1/bot/",
            json={"meeting_url": MEET, "realtime_endpoints": [{"type": "websocket"}]},
        )
        assert r.status_code == 400
        assert r.json()["code"] == "invalid_request"
        assert r.json()["field"].startswith("realtime_endpoints")
        r = await client.get("/api/v1/bot/")
        assert r.json()["results"] == []  # nothing was created


async def test_the_bot_shows_its_endpoints_without_secrets(plane: TestPlane) -> None:
    bot = await _create(
        plane,
        [
            {"type": "websocket", "url": WS, "events": ["status_update", "audio_mixed_raw.data"]},
            {"type": "webhook", "url": HOOK, "events": ["chat.message"]},
        ],
    )
    assert bot["realtime_endpoints"] == [
        {
            "type": "websocket",
            "url": "ws://127.0.0.1:9/rt",
            "events": ["status_update", "audio_mixed_raw.data"],
        },
        {"type": "webhook", "url": HOOK, "events": ["chat.message"]},
    ]
    assert bot["webhook_secret"].startswith("whsec_")  # signs the webhook endpoint, shown once
    async with plane.client() as client:
        again = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
    assert again["realtime_endpoints"] == bot["realtime_endpoints"]
    assert "webhook_secret" not in again


async def test_events_are_pushed_in_order_and_resume_after_an_outage(
    plane: TestPlane, pushing: tuple[RealtimePush, FakePushTransport]
) -> None:
    worker, fake = pushing
    events = ["status_update", "participant.joined"]
    bot = await _create(
        plane,
        [
            {"type": "websocket", "url": WS, "events": events},
            {"type": "webhook", "url": HOOK, "events": ["participant.joined"]},
        ],
    )
    bot_id = bot["id"]
    first = await fake.wait_for(WS, 1)
    assert first[0]["data"]["new_status"] == "booting"
    assert fake.secrets[HOOK] == bot["webhook_secret"]  # the webhook is signed with it
    fake.down.add(WS)
    fake.fail_sends = 1  # the open connection breaks on its next frame
    at = plane.clock.now()
    await _report(
        plane,
        bot_id,
        Joining(at=at),
        InCall(at=at + timedelta(seconds=1)),
        ParticipantJoined(at=at + timedelta(seconds=2), participant_id="p1", name="Ann"),
    )
    hooked = await fake.wait_for(HOOK, 1)
    assert hooked[0]["type"] == "participant.joined"
    await asyncio.sleep(0.2)  # the WebSocket is down meanwhile: retried with backoff
    assert fake.refused >= 2
    fake.down.clear()
    frames = await fake.wait_for(WS, 4)
    assert [f["type"] for f in frames] == [
        "status_update",
        "status_update",
        "status_update",
        "participant.joined",
    ]
    assert [f["data"].get("new_status") for f in frames[:3]] == ["booting", "joining", "recording"]
    assert len(set(fake.ids[WS])) == 4  # each once: nothing lost, nothing sent twice here
    assert worker.pushers[bot_id][0].failures >= 2


async def test_the_push_ends_with_the_bots_last_event(
    plane: TestPlane, pushing: tuple[RealtimePush, FakePushTransport]
) -> None:
    worker, fake = pushing
    bot = await _create(plane, [{"type": "websocket", "url": WS, "events": ["status_update"]}])
    await fake.wait_for(WS, 1)
    at = plane.clock.now()
    await _report(plane, bot["id"], Joining(at=at), Failed(at=at, sub_code="meeting_not_found"))
    await until(lambda: bot["id"] not in worker.pushers and fake.closed > 0, 10)
    statuses = [f["data"]["new_status"] for f in fake.frames[WS]]
    assert statuses == ["booting", "joining", "failed"]
    await asyncio.sleep(0.1)  # scans go on: a bot pushed to its end is not pushed again
    assert len(fake.frames[WS]) == 3


async def test_audio_goes_to_the_websocket_that_asked_from_now_on(
    plane: TestPlane, pushing: tuple[RealtimePush, FakePushTransport]
) -> None:
    _, fake = pushing
    storage = plane.services.media_storage
    assert isinstance(storage, MemoryStorage)
    quiet = "ws://127.0.0.1:9/events-only"
    bot = await _create(
        plane,
        [
            {"type": "websocket", "url": WS, "events": ["audio_mixed_raw.data"]},
            {"type": "websocket", "url": quiet, "events": ["status_update"]},
        ],
    )
    bot_id = bot["id"]
    await fake.wait_for(quiet, 1)
    await asyncio.sleep(0.1)  # the audio pusher is connected: audio from now on
    pcm = bytes(range(256)) * 10
    key = chunk_key(bot_id, 0)
    await storage.put(key, pcm)
    at = plane.clock.now()
    await _report(
        plane,
        bot_id,
        Joining(at=at),
        AudioChunk(at=at, seq=0, key=key, offset_s=0.0, duration_s=len(pcm) / 32000),
    )
    (frame,) = await fake.wait_for(WS, 1)
    assert frame["type"] == "audio_mixed_raw.data"
    assert frame["data"]["offset_s"] == 0.0
    assert base64.b64decode(frame["data"]["buffer"]) == pcm
    assert all(f["type"] == "status_update" for f in fake.frames[quiet])


async def test_separate_audio_is_pushed_where_the_platform_has_it() -> None:
    plane = await build_test_plane(
        MemoryStore(), webhook_allow_private=True, self_hosted_meeting_hosts="janus.example.com"
    )
    wanted = [{"type": "websocket", "url": WS, "events": ["audio_separate_raw.data"]}]
    async with plane.client() as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "realtime_endpoints": wanted}
        )
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "unsupported_for_platform"
    bot = await _create_at(plane, "http://janus.example.com/videoroomtest.html?room=5", wanted)
    fake = FakePushTransport()
    pulse = Pulse()
    plane.reactions.on_events_committed.append(pulse.wake)
    worker = RealtimePush(plane.services, fake, pulse, plane.services.media_storage, FAST)
    await worker.start()
    try:
        await until(lambda: bot["id"] in worker.pushers and fake.opened > 0, 10)
        await asyncio.sleep(0.1)
        storage = plane.services.media_storage
        assert storage is not None
        key = participant_chunk_key(bot["id"], 0)
        await storage.put(key, b"\x10\x00" * 800)
        at = plane.clock.now()
        chunk = ParticipantAudioChunk(
            at=at, seq=0, key=key, participant_id="77", offset_s=5.0, duration_s=0.05
        )
        await _report(plane, bot["id"], Joining(at=at), chunk)
        (frame,) = await fake.wait_for(WS, 1)
    finally:
        await worker.stop()
    assert frame["type"] == "audio_separate_raw.data"
    assert frame["data"]["participant"]["id"] == "77"
    assert frame["data"]["offset_s"] == 5.0
    assert base64.b64decode(frame["data"]["buffer"]) == b"\x10\x00" * 800


async def _create_at(plane: TestPlane, url: str, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    async with plane.client() as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": url, "realtime_endpoints": endpoints}
        )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_failing_webhook_backs_off_and_a_dead_one_is_given_up_after_the_bot_ended(
    plane: TestPlane,
) -> None:
    fake = FakePushTransport(fail_sends=10**6)  # every POST fails (a webhook "opens" anyway)
    pulse = Pulse()
    options = PushOptions(
        scan_interval=0.02, poll_interval=0.02, backoff_min=0.01, backoff_max=0.08, give_up=0.3
    )
    worker = RealtimePush(plane.services, fake, pulse, plane.services.media_storage, options)
    bot = await _create(plane, [{"type": "webhook", "url": HOOK, "events": ["status_update"]}])
    await worker.start()
    try:
        await until(lambda: bot["id"] in worker.pushers, 10)
        pusher = worker.pushers[bot["id"]][0]
        await asyncio.sleep(0.5)
        assert 3 <= pusher.failures <= 12  # backed off (0.01 doubling to 0.08), not spinning
        at = plane.clock.now()
        await _report(plane, bot["id"], Joining(at=at), Failed(at=at, sub_code="meeting_not_found"))
        await until(lambda: bot["id"] not in worker.pushers, 10)  # given up once it ended
    finally:
        await worker.stop()
    assert HOOK not in fake.frames

"""``output_audio`` through the HTTP API (issue 16 §2): a file or a text is decoded (ffmpeg,
espeak-ng) to 48 kHz PCM under the bot's prefix and queued; the runner gets the queue in its
answers and reads a clip with its token; ``DELETE`` and ``interrupt`` empty the queue; the
runner's reports become ``output_audio.started`` / ``.finished``; 409 out of the call, 400 on
a platform whose adapter cannot unmute."""

from __future__ import annotations

import asyncio
import io
import json
import math
import struct
import wave
from typing import Any

import pytest
from websockets.asyncio.client import connect

from harness.live_server import serving
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.reports import (
    InCall,
    Joining,
    OutputAudioFinished,
    OutputAudioStarted,
    ReportBatch,
)
from meetbot.control.ports import Store
from meetbot.control.service.runners import handle_reports, heartbeat_commands
from meetbot.testing.fakes_runner import MemoryStorage

JANUS = "http://janus.example.com:8000/videoroomtest.html?room=7"
MEET = "https://meet.google.com/abc-defg-hij"


def tone_wav(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                for i in range(n)
            )
        )
    return out.getvalue()


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    return await build_test_plane(any_store, self_hosted_meeting_hosts="janus.example.com:8000")


async def _bot(plane: TestPlane, url: str = JANUS, *, in_call: bool = True) -> tuple[str, str]:
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": url})
        assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    if in_call:
        t = plane.clock.now()
        batch = ReportBatch(events=[Joining(at=t), InCall(at=t)])
        await handle_reports(plane.services, bot_id, assigned.token, batch)
    return bot_id, assigned.token


def _objects(plane: TestPlane) -> dict[str, bytes]:
    storage = plane.services.media_storage
    assert isinstance(storage, MemoryStorage)
    return storage.objects


async def test_a_file_is_decoded_stored_and_handed_to_the_runner(plane: TestPlane) -> None:
    bot_id, token = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(
            f"/api/v1/bot/{bot_id}/output_audio/",
            content=tone_wav(0.5),
            headers={"Content-Type": "audio/wav"},
        )
        assert r.status_code == 202, r.text
        clip = r.json()
        assert clip["status"] == "queued"
        assert clip["duration_s"] == pytest.approx(0.5, abs=0.01)
        queue = (await heartbeat_commands(plane.services, bot_id, token)).output_audio
        assert [c.id for c in queue] == [clip["id"]]
        key = queue[0].key
        assert key == f"bots/{bot_id}/output_audio/{clip['id']}.pcm"
        assert len(_objects(plane)[key]) == pytest.approx(48_000 * 2 * 0.5, rel=0.01)

        runner = {"Authorization": f"Bearer {token}"}
        path = f"/internal/bots/{bot_id}/output_audio"
        r = await client.get(path, params={"key": key}, headers=runner)
        assert r.status_code == 200
        assert r.content == _objects(plane)[key]
        r = await client.get(path, params={"key": key}, headers={"Authorization": "Bearer x"})
        assert r.status_code == 401
        other, _ = await _bot(plane)
        r = await client.get(
            path, params={"key": f"bots/{other}/output_audio/a.pcm"}, headers=runner
        )
        assert r.status_code == 404


async def test_a_text_is_spoken_by_espeak(plane: TestPlane) -> None:
    bot_id, token = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(
            f"/api/v1/bot/{bot_id}/output_audio/",
            json={"text": "Hello, I am the notetaker.", "voice": "en-us"},
        )
        assert r.status_code == 202, r.text
        assert r.json()["duration_s"] > 0.5
    queue = (await heartbeat_commands(plane.services, bot_id, token)).output_audio
    assert len(queue) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "hello", "voice": "klingon"}, "invalid_voice"),
        ({"text": "hello", "b64_data": "AAAA"}, "invalid_request"),
        ({}, "invalid_request"),
        ({"text": ""}, "invalid_request"),
        ({"b64_data": "%%%"}, "invalid_audio"),
        ({"b64_data": "R0lGODlhAAAA"}, "invalid_audio"),  # a GIF
        ({"text": "hello", "colour": "red"}, "invalid_request"),
    ],
)
async def test_invalid_bodies_are_400(plane: TestPlane, body: dict[str, Any], code: str) -> None:
    bot_id, token = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/output_audio/", json=body)
    assert (r.status_code, r.json()["code"]) == (400, code), r.text
    assert r.json()["detail"]
    assert (await heartbeat_commands(plane.services, bot_id, token)).output_audio == []


async def test_a_file_that_does_not_decode_is_invalid_audio(plane: TestPlane) -> None:
    bot_id, _ = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(
            f"/api/v1/bot/{bot_id}/output_audio/", content=b"OggS" + b"\x00" * 500
        )
    assert (r.status_code, r.json()["code"]) == (400, "invalid_audio"), r.text
    assert not any("/output_audio/" in k for k in _objects(plane))


async def test_second_post_queues_interrupt_replaces_delete_stops(plane: TestPlane) -> None:
    bot_id, token = await _bot(plane)
    path = f"/api/v1/bot/{bot_id}/output_audio/"
    async with plane.client() as client:
        a = (await client.post(path, content=tone_wav(0.2))).json()["id"]
        b = (await client.post(path, content=tone_wav(0.2))).json()["id"]
        queue = (await heartbeat_commands(plane.services, bot_id, token)).output_audio
        assert [c.id for c in queue] == [a, b]
        c = (await client.post(f"{path}?interrupt=true", content=tone_wav(0.2))).json()["id"]
        queue = (await heartbeat_commands(plane.services, bot_id, token)).output_audio
        assert [c.id for c in queue] == [c]
        d = (await client.post(path, json={"text": "and more", "interrupt": False})).json()["id"]
        queue = (await heartbeat_commands(plane.services, bot_id, token)).output_audio
        assert [q.id for q in queue] == [c, d]
        r = await client.delete(path)
        assert r.status_code == 204, r.text
    assert (await heartbeat_commands(plane.services, bot_id, token)).output_audio == []


async def test_runner_reports_are_started_and_finished_events(plane: TestPlane) -> None:
    bot_id, token = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/output_audio/", content=tone_wav(0.2))
        clip = r.json()["id"]
        t = plane.clock.now()
        started = ReportBatch(events=[OutputAudioStarted(at=t, id=clip)])
        answer = await handle_reports(plane.services, bot_id, token, started)
        assert [c.id for c in answer.output_audio] == [clip]  # still playing
        finished = ReportBatch(events=[OutputAudioFinished(at=t, id=clip)])
        answer = await handle_reports(plane.services, bot_id, token, finished)
        assert answer.output_audio == []
        feed = (await client.get("/api/v1/events/")).json()["results"]
    said = [(e["type"], e["data"]["id"]) for e in feed if e["type"].startswith("output_audio")]
    assert said == [("output_audio.started", clip), ("output_audio.finished", clip)]
    finished_event = next(e for e in feed if e["type"] == "output_audio.finished")
    assert finished_event["data"]["stopped"] is False


async def test_a_bot_not_in_the_call_is_409(plane: TestPlane) -> None:
    bot_id, _ = await _bot(plane, in_call=False)
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/output_audio/", json={"text": "hi"})
        assert (r.status_code, r.json()["code"]) == (409, "bot_not_in_call"), r.text
        r = await client.delete(f"/api/v1/bot/{bot_id}/output_audio/")
        assert (r.status_code, r.json()["code"]) == (409, "bot_not_in_call"), r.text


async def test_the_web_platforms_adapters_unmute_too(plane: TestPlane) -> None:
    """Meet, Teams, Zoom and Webex unmute their call's microphone (runner/platforms/devices.py,
    tested against the fixtures): a clip for a Meet bot in the call is taken, not 400."""
    bot_id, _ = await _bot(plane, MEET)
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/output_audio/", content=tone_wav(0.1))
        assert r.status_code == 202, r.text


async def test_another_workspaces_bot_is_not_found(plane: TestPlane) -> None:
    bot_id, _ = await _bot(plane)
    other = await plane.new_key()
    async with plane.client(other) as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/output_audio/", json={"text": "hi"})
        assert r.status_code == 404, r.text
        assert (await client.delete(f"/api/v1/bot/{bot_id}/output_audio/")).status_code == 404


async def test_the_events_reach_the_bots_stream(plane: TestPlane) -> None:
    bot_id, token = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/output_audio/", content=tone_wav(0.2))
    clip = r.json()["id"]
    t = plane.clock.now()
    reports = [OutputAudioStarted(at=t, id=clip), OutputAudioFinished(at=t, id=clip, stopped=True)]
    await handle_reports(plane.services, bot_id, token, ReportBatch(events=reports))
    seen: list[tuple[str, Any]] = []
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        headers = {"Authorization": f"Token {plane.key}"}
        async with connect(url, additional_headers=headers) as ws:
            async with asyncio.timeout(10):
                while len(seen) < 2:
                    frame = json.loads(await ws.recv())
                    if frame["type"].startswith("output_audio."):
                        seen.append((frame["type"], frame["data"]))
    assert [(kind, data["id"]) for kind, data in seen] == [
        ("output_audio.started", clip),
        ("output_audio.finished", clip),
    ]
    assert seen[1][1]["stopped"] is True

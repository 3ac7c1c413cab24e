"""``pause_recording`` / ``resume_recording`` through the HTTP API: the bot's sub_status, the
wish in the runner's answers (and its long poll woken), the runner's reports as events, and
the gap marked in the final transcript."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from media_helpers import Call, bot_json, create_bot, fixed, media_storage, tone

from harness.plane import TestPlane, build_test_plane
from harness.waiting import until
from meetbot.contract.reports import RecordingPaused, RecordingResumed
from meetbot.control.media.pauses import GAP_TEXT
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.ports import Store
from meetbot.control.service.runners import heartbeat_commands
from meetbot.testing.fakes_transcription import FakeTranscriber, script

SPEAKERS = [("Alice", 0.0, 3.0), ("Bob", 3.0, 8.0)]
WORDS = script((0.2, "hello everyone and welcome"), (3.2, "thanks alice great to be here"))


@pytest.fixture
async def plane(any_store: Store, tmp_path: Path) -> TestPlane:
    return await build_test_plane(any_store, data_dir=tmp_path)


async def _post(plane: TestPlane, bot_id: str, what: str) -> httpx.Response:
    async with plane.client() as client:
        return await client.post(f"/api/v1/bot/{bot_id}/{what}/")


async def _events(plane: TestPlane, bot_id: str) -> list[dict[str, Any]]:
    async with plane.client() as client:
        r = await client.get("/api/v1/events/", params={"limit": 500})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["results"] if e["data"]["bot_id"] == bot_id]


async def test_pause_and_resume_reach_the_runner_and_become_events(
    plane: TestPlane, tmp_path: Path
) -> None:
    c = Call(plane, media_storage(plane, tmp_path / "media"), await create_bot(plane))
    await c.join()
    assert (await heartbeat_commands(plane.services, c.bot_id, c.token)).paused is False

    # The runner's long poll waits; the pause wakes it with the wish.
    poll = asyncio.create_task(_long_poll(plane, c.bot_id, c.token))
    await until(lambda: len(plane.services.commands) == 1, what="the long poll to wait")
    r = await _post(plane, c.bot_id, "pause_recording")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["sub_status"]) == ("recording", "paused")
    async with asyncio.timeout(10):  # well before the poll's 30 s
        assert (await poll)["paused"] is True
    again = await _post(plane, c.bot_id, "pause_recording")  # paused already: as it is
    assert again.status_code == 200, again.text

    t = plane.clock.now()
    await c.report(RecordingPaused(at=t, offset_s=2.0))
    r = await _post(plane, c.bot_id, "resume_recording")
    assert r.status_code == 200, r.text
    assert r.json()["sub_status"] is None
    assert (await heartbeat_commands(plane.services, c.bot_id, c.token)).paused is False
    await c.report(RecordingResumed(at=t, offset_s=5.0))

    found = await _events(plane, c.bot_id)
    tail = [(e["type"], e["data"].get("sub_status"), e["data"].get("offset_s")) for e in found]
    assert tail[-4:] == [
        ("status_update", "paused", None),
        ("recording.paused", None, 2.0),
        ("status_update", None, None),
        ("recording.resumed", None, 5.0),
    ]


async def _long_poll(plane: TestPlane, bot_id: str, token: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        r = await client.get(
            f"/internal/bots/{bot_id}/commands",
            params={"wait": 30},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_only_a_bot_in_the_call_pauses(plane: TestPlane) -> None:
    booting = await create_bot(plane)
    r = await _post(plane, booting, "pause_recording")
    assert (r.status_code, r.json()["code"]) == (400, "bot_not_recording")
    future = (plane.clock.now().replace(year=plane.clock.now().year + 1)).isoformat()
    scheduled = await create_bot(plane, join_at=future)
    r = await _post(plane, scheduled, "resume_recording")
    assert (r.status_code, r.json()["code"]) == (400, "bot_not_started")
    other = await plane.new_key()
    async with plane.client(other) as client:
        r = await client.post(f"/api/v1/bot/{booting}/pause_recording/")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_the_final_transcript_marks_the_gap(plane: TestPlane, tmp_path: Path) -> None:
    storage = media_storage(plane, tmp_path / "media")
    c = Call(plane, storage, await create_bot(plane), speakers=list(SPEAKERS))
    await c.join()
    assert (await _post(plane, c.bot_id, "pause_recording")).status_code == 200
    t = plane.clock.now()
    await c.report(RecordingPaused(at=t, offset_s=2.0))
    assert (await _post(plane, c.bot_id, "resume_recording")).status_code == 200
    await c.report(RecordingResumed(at=t, offset_s=7.0))
    await c.record(tone(8.0))
    await c.leave()
    await MediaPipeline(plane.services, storage, fixed(FakeTranscriber(WORDS))).process(c.bot_id)

    assert (await bot_json(plane, c.bot_id))["status"] == "finished"
    doc = json.loads(await storage.get(f"bots/{c.bot_id}/transcript.json"))
    texts = [(s["start"], s["end"], s["speaker"], s["text"]) for s in doc["segments"]]
    assert texts[0][2:] == ("Alice", "hello everyone and welcome")  # the recording's origin
    assert texts[1] == (2.0, 7.0, None, GAP_TEXT)  # Bob's words at 3.2 s were in the gap
    assert len(texts) == 2

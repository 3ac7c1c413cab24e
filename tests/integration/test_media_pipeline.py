"""Recordings and transcripts end to end: reports → processing → the media worker → API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from media_helpers import (
    Call,
    bot_json,
    create_bot,
    events,
    fixed,
    media_storage,
    tone,
    types,
)

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.models import Segment
from meetbot.contract.reports import DebugArtifact
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.transcribers import VendorCredentials
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.ports import Store
from meetbot.control.service.lost_runners import runner_lost
from meetbot.ports import Transcriber
from meetbot.storage import LocalStorage
from meetbot.testing.fakes_transcription import FakeTranscriber, script
from meetbot.transcription.vendors.base import VendorAuthError

SPEAKERS = [("Alice", 0.0, 3.0), ("Bob", 3.0, 8.0)]
WORDS = script((0.2, "hello everyone and welcome"), (3.2, "thanks alice great to be here"))


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


@pytest.fixture
async def plane(store: Store, tmp_path: Path) -> TestPlane:
    return await build_test_plane(store, data_dir=tmp_path)


@pytest.fixture
def storage(plane: TestPlane, tmp_path: Path) -> LocalStorage:
    return media_storage(plane, tmp_path / "media")


async def call(
    plane: TestPlane,
    storage: LocalStorage,
    *,
    seconds: float = 8.0,
    live: LiveTranscription | None = None,
    **body: Any,
) -> Call:
    bot_id = await create_bot(plane, **body)
    c = Call(plane, storage, bot_id, live=live, speakers=list(SPEAKERS))
    await c.join()
    await c.record(tone(seconds))
    await c.leave()
    assert (await bot_json(plane, bot_id))["status"] == "processing"
    return c


async def test_processing_bot_gets_recording_and_transcript(
    plane: TestPlane, storage: LocalStorage
) -> None:
    fake = FakeTranscriber(WORDS)
    c = await call(plane, storage, transcription_model="whisper-tiny.en")
    pipeline = MediaPipeline(plane.services, storage, fixed(fake))
    await pipeline.process(c.bot_id)

    bot = await bot_json(plane, c.bot_id)
    assert bot["status"] == "finished"
    statuses = [s["status"] for s in bot["status_changes"]]
    assert statuses[-3:] == ["processing", "transcribing", "finished"]

    meta = json.loads(await storage.get(f"bots/{c.bot_id}/recording.json"))
    assert meta["format"] == "ogg"
    assert meta["content_type"] == "audio/ogg"
    assert meta["duration_s"] == pytest.approx(8.0)
    assert meta["key"] == f"bots/{c.bot_id}/recording.ogg"
    assert meta["size_bytes"] == len(await storage.get(meta["key"])) > 0

    doc = json.loads(await storage.get(f"bots/{c.bot_id}/transcript.json"))
    assert doc["final"] is True
    texts = [(s["speaker"], s["text"]) for s in doc["segments"]]
    assert texts == [
        ("Alice", "hello everyone and welcome"),
        ("Bob", "thanks alice great to be here"),
    ]
    first_word = doc["segments"][0]["words"][0]
    assert first_word == {"start": 0.2, "end": 0.6, "text": "hello"}
    assert [call.offset for call in fake.calls] == [0.0]  # no live: the whole recording

    found = await events(plane, c.bot_id)
    assert types(found)[-2:] == ["recording.ready", "transcript.ready"]
    ready = next(e for e in found if e.type == "recording.ready")
    assert ready.data["recording"]["duration_s"] == pytest.approx(8.0)
    assert "key" not in ready.data["recording"]
    transcript = next(e for e in found if e.type == "transcript.ready")
    assert transcript.data["transcript"]["segments"] == 2

    await pipeline.process(c.bot_id)  # repeating is harmless
    assert types(await events(plane, c.bot_id)) == types(found)


async def test_model_none_finishes_without_transcript(
    plane: TestPlane, storage: LocalStorage
) -> None:
    c = await call(plane, storage, transcription_model="none", recording={"audio_format": "wav"})
    await MediaPipeline(plane.services, storage, fixed(None)).process(c.bot_id)
    bot = await bot_json(plane, c.bot_id)
    assert bot["status"] == "finished"
    assert "transcribing" not in [s["status"] for s in bot["status_changes"]]
    assert await storage.exists(f"bots/{c.bot_id}/recording.wav")
    assert not await storage.exists(f"bots/{c.bot_id}/transcript.json")
    assert "transcript.ready" not in types(await events(plane, c.bot_id))
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{c.bot_id}/transcript/")
        assert r.status_code == 404
        assert r.json()["code"] == "not_ready"


async def test_no_audio_finishes_without_recording(plane: TestPlane, storage: LocalStorage) -> None:
    c = await call(plane, storage, seconds=0.0)
    await MediaPipeline(plane.services, storage, fixed(FakeTranscriber(WORDS))).process(c.bot_id)
    assert (await bot_json(plane, c.bot_id))["status"] == "finished"
    assert types(await events(plane, c.bot_id))[-1:] != ["recording.ready"]
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{c.bot_id}/recording/")
        assert r.status_code == 404
        assert r.json()["code"] == "not_ready"


class RejectingTranscriber:
    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        raise VendorAuthError("deepgram", "Invalid credentials.", status_code=401)


class BrokenTranscriber:
    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        raise RuntimeError("decoder exploded")


async def test_vendor_auth_failure_ends_invalid_api_key_and_keeps_recording(
    plane: TestPlane, storage: LocalStorage
) -> None:
    c = await call(
        plane,
        storage,
        transcription_model="deepgram/nova-3",
        credentials={"deepgram_api_key": "dg-revoked"},
    )
    await MediaPipeline(plane.services, storage, fixed(RejectingTranscriber())).process(c.bot_id)
    bot = await bot_json(plane, c.bot_id)
    assert bot["status"] == "invalid_api_key"
    assert bot["sub_code"] == "invalid_api_key"
    assert "recording.ready" in types(await events(plane, c.bot_id))
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{c.bot_id}/recording/")
        assert r.status_code == 200, r.text
        media = await client.get(r.json()["url"])
        assert media.status_code == 200
        assert media.content == await storage.get(f"bots/{c.bot_id}/recording.ogg")


async def test_other_transcription_error_fails_the_bot(
    plane: TestPlane, storage: LocalStorage
) -> None:
    c = await call(plane, storage, transcription_model="whisper-tiny.en")
    await MediaPipeline(plane.services, storage, fixed(BrokenTranscriber())).process(c.bot_id)
    bot = await bot_json(plane, c.bot_id)
    assert (bot["status"], bot["sub_code"]) == ("failed", "transcription_failed")
    assert await storage.exists(f"bots/{c.bot_id}/recording.json")


async def test_lost_runner_leaves_a_playable_recording(
    plane: TestPlane, storage: LocalStorage
) -> None:
    bot_id = await create_bot(plane, recording={"audio_format": "wav"})
    c = Call(plane, storage, bot_id, speakers=list(SPEAKERS))
    await c.join()
    await c.record(tone(3.0))
    await runner_lost(plane.services, bot_id)
    pipeline = MediaPipeline(plane.services, storage, fixed(None))
    assert await pipeline.scan() == 1
    await pipeline.process(bot_id)
    bot = await bot_json(plane, bot_id)
    assert (bot["status"], bot["sub_code"]) == ("failed", "bot_process_lost")
    found = await events(plane, bot_id)
    ready = [e for e in found if e.type == "recording.ready"]
    assert len(ready) == 1
    assert ready[0].data["recording"]["salvaged"] is True
    wav = await storage.get(f"bots/{bot_id}/recording.wav")
    assert wav[:4] == b"RIFF"
    assert len(wav) == 44 + 3 * 16_000 * 2
    await pipeline.process(bot_id)
    assert len([e for e in await events(plane, bot_id) if e.type == "recording.ready"]) == 1
    assert await pipeline.scan() == 0


async def test_live_transcript_grows_and_the_tail_pass_finishes_it(
    plane: TestPlane, storage: LocalStorage
) -> None:
    fake = FakeTranscriber(WORDS)
    pool = TranscriptionPool(1)
    live = LiveTranscription(plane.services, storage, fixed(fake), pool)
    bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
    c = Call(plane, storage, bot_id, live=live, speakers=list(SPEAKERS))
    await c.join()
    await c.record(tone(8.0))

    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{bot_id}/transcript/")
        assert r.status_code == 200
        during = r.json()
    assert during["final"] is False
    assert [s["text"] for s in during["segments"]] == ["hello everyone and welcome"]
    assert during["segments"][0]["speaker"] == "Alice"
    data = [e for e in await events(plane, bot_id) if e.type == "transcript.data"]
    assert data
    assert data[0].data["segments"][0]["text"] == "hello everyone and welcome"

    await c.leave()
    live_calls = len(fake.calls)
    pipeline = MediaPipeline(plane.services, storage, fixed(fake), pool=pool, live=live)
    await pipeline.process(bot_id)
    tail = fake.calls[live_calls:]
    assert len(tail) == 1
    assert tail[0].offset > 1.0
    doc = json.loads(await storage.get(f"bots/{bot_id}/transcript.json"))
    assert doc["final"] is True
    assert [(s["speaker"], s["text"]) for s in doc["segments"]] == [
        ("Alice", "hello everyone and welcome"),
        ("Bob", "thanks alice great to be here"),
    ]
    assert (await bot_json(plane, bot_id))["status"] == "finished"
    pool.close()


async def test_worker_is_woken_by_the_processing_hook(
    plane: TestPlane, storage: LocalStorage
) -> None:
    fake = FakeTranscriber(WORDS)
    pipeline = MediaPipeline(plane.services, storage, fixed(fake), scan_interval=3600)
    plane.reactions.on_processing_started.append(pipeline.wake)
    await pipeline.start()
    try:
        c = await call(plane, storage, transcription_model="whisper-tiny.en")
        for _ in range(500):
            if (await bot_json(plane, c.bot_id))["status"] == "finished":
                break
            await _tick()
        assert (await bot_json(plane, c.bot_id))["status"] == "finished"
    finally:
        await pipeline.stop()


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.02)


# --- API ------------------------------------------------------------------------------------


@pytest.fixture
async def finished(plane: TestPlane, storage: LocalStorage) -> Call:
    c = await call(plane, storage, transcription_model="whisper-tiny.en")
    await MediaPipeline(plane.services, storage, fixed(FakeTranscriber(WORDS))).process(c.bot_id)
    return c


async def test_recording_endpoint_signs_a_link_that_serves_the_bytes(
    plane: TestPlane, storage: LocalStorage, finished: Call
) -> None:
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{finished.bot_id}/recording/")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["format"] == "ogg"
        assert body["duration_s"] == pytest.approx(8.0)
        assert body["url_expires_in"] == plane.services.settings.signed_url_ttl
        media = await client.get(body["url"])
        assert media.status_code == 200
        assert media.headers["content-type"] == "audio/ogg"
        assert media.content == await storage.get(f"bots/{finished.bot_id}/recording.ogg")
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as anon:
        assert (await anon.get(body["url"])).status_code == 200  # no API key needed
        tampered = body["url"].replace("signature=", "signature=0")
        assert (await anon.get(tampered)).status_code == 403
        r = await anon.get(f"/api/v1/bot/{finished.bot_id}/recording/")
        assert r.status_code == 401


@pytest.mark.parametrize(
    ("fmt", "content_type", "expected"),
    [
        ("txt", "text/plain", "[00:00:00] Alice: hello everyone and welcome\n"),
        ("srt", "application/x-subrip", "1\n00:00:00,200 --> 00:00:02,100\nAlice: hello"),
        ("vtt", "text/vtt", "WEBVTT\n\n1\n00:00:00.200 --> 00:00:02.100\n<v Alice>hello"),
    ],
)
async def test_transcript_formats(
    plane: TestPlane, finished: Call, fmt: str, content_type: str, expected: str
) -> None:
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{finished.bot_id}/transcript/?format={fmt}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith(content_type)
        assert r.text.startswith(expected)
        r = await client.get(f"/api/v1/bot/{finished.bot_id}/transcript/")
        assert r.json()["final"] is True
        assert len(r.json()["segments"]) == 2
        r = await client.get(f"/api/v1/bot/{finished.bot_id}/transcript/?format=doc")
        assert r.status_code == 400


async def test_participants_endpoint(plane: TestPlane, finished: Call) -> None:
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{finished.bot_id}/participants/")
    assert r.status_code == 200, r.text
    people = r.json()["results"]
    assert [(p["name"], p["speaking_time_s"]) for p in people] == [("Alice", 3.0), ("Bob", 5.0)]
    assert people[0]["first_join"]
    assert people[0]["last_leave"]


async def test_delete_data_removes_media_and_observations_but_keeps_the_bot(
    plane: TestPlane, storage: LocalStorage, finished: Call
) -> None:
    bot_id = finished.bot_id
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/delete_data/")
        assert r.status_code == 200, r.text
        assert await storage.list(f"bots/{bot_id}/") == []
        for path in ("recording", "transcript"):
            r = await client.get(f"/api/v1/bot/{bot_id}/{path}/")
            assert r.status_code == 404
        r = await client.get(f"/api/v1/bot/{bot_id}/participants/")
        assert r.json()["results"] == []
    bot = await bot_json(plane, bot_id)
    assert bot["status"] == "finished"
    assert len(bot["status_changes"]) >= 5


async def test_delete_data_refused_during_the_call(plane: TestPlane, storage: LocalStorage) -> None:
    bot_id = await create_bot(plane)
    c = Call(plane, storage, bot_id)
    await c.join()
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/delete_data/")
        assert r.status_code == 400
        assert r.json()["code"] == "bot_in_call"
        async with plane.client(await plane.new_key()) as other:
            r = await other.post(f"/api/v1/bot/{bot_id}/delete_data/")
            assert r.status_code == 404


async def test_vendor_models_get_the_bots_key_else_the_workspaces(
    plane: TestPlane, storage: LocalStorage
) -> None:
    async with plane.client() as client:
        r = await client.put(
            "/api/v1/credentials/", json={"deepgram_api_key": "ws-dg", "openai_api_key": "ws-oa"}
        )
        assert r.status_code == 200
    seen: list[VendorCredentials | None] = []

    def recording(
        model_name: str, *, live: bool = False, credentials: VendorCredentials | None = None
    ) -> Transcriber | None:
        seen.append(credentials)
        return FakeTranscriber(WORDS)

    own = await call(
        plane,
        storage,
        transcription_model="deepgram/nova-3",
        credentials={"deepgram_api_key": "bot-dg"},
    )
    await MediaPipeline(plane.services, storage, recording).process(own.bot_id)
    shared = await call(plane, storage, transcription_model="openai/whisper-1")
    await MediaPipeline(plane.services, storage, recording).process(shared.bot_id)
    plane.launcher.refill()
    local = await call(plane, storage, transcription_model="whisper-tiny.en")
    await MediaPipeline(plane.services, storage, recording).process(local.bot_id)
    assert seen == [
        VendorCredentials(deepgram_api_key="bot-dg", openai_api_key="ws-oa"),
        VendorCredentials(deepgram_api_key="ws-dg", openai_api_key="ws-oa"),
        None,  # Whisper needs no key: nothing is decrypted
    ]
    for bot_id in (own.bot_id, shared.bot_id, local.bot_id):
        assert (await bot_json(plane, bot_id))["status"] == "finished"


async def test_debug_artifacts_are_listed_with_signed_links(
    plane: TestPlane, storage: LocalStorage
) -> None:
    c = await call(plane, storage)
    key = f"bots/{c.bot_id}/debug/0001.png"
    await storage.put(key, b"\x89PNG fake")
    at = plane.clock.now()
    await c.report(DebugArtifact(at=at, key=key, kind="screenshot", reason="ui_element_not_found"))
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{c.bot_id}/debug_artifacts/")
        assert r.status_code == 200, r.text
        (item,) = r.json()["results"]
        assert (item["kind"], item["reason"]) == ("screenshot", "ui_element_not_found")
        assert (await client.get(item["url"])).content == b"\x89PNG fake"
    async with plane.client(await plane.new_key()) as other:
        assert (await other.get(f"/api/v1/bot/{c.bot_id}/debug_artifacts/")).status_code == 404


async def test_a_runner_cannot_report_another_bots_media_as_its_debug_artifact(
    plane: TestPlane, storage: LocalStorage
) -> None:
    """Regression (issue 12): a debug artifact's key was signed as reported, so a runner could
    make the API hand out a link to any stored object (another bot's recording)."""
    c = await call(plane, storage)
    at = plane.clock.now()
    for key in ("bots/another-bot/recording.ogg", "secret.key", f"bots/{c.bot_id}/../x/y.png"):
        await c.report(DebugArtifact(at=at, key=key, kind="screenshot", reason="forged"))
    own = f"bots/{c.bot_id}/debug/0001.png"
    await storage.put(own, b"\x89PNG fake")
    await c.report(DebugArtifact(at=at, key=own, kind="screenshot", reason="real"))
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{c.bot_id}/debug_artifacts/")
        assert r.status_code == 200, r.text
        assert [item["reason"] for item in r.json()["results"]] == ["real"]


async def test_debug_artifacts_are_downloads_never_pages_on_the_api_origin(
    plane: TestPlane, storage: LocalStorage
) -> None:
    """The HTML of whatever page the bot met must not run on the API's origin (issue 12)."""
    c = await call(plane, storage)
    key = f"bots/{c.bot_id}/debug/0001-odd.html"
    await storage.put(key, b"<script>fetch('/api/v1/bot/')</script>", "text/html")
    await c.report(DebugArtifact(at=plane.clock.now(), key=key, kind="html", reason="odd"))
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{c.bot_id}/debug_artifacts/")
        (item,) = r.json()["results"]
        page = await client.get(item["url"])
    assert page.status_code == 200
    assert page.headers["content-disposition"].startswith("attachment")
    assert 'filename="0001-odd.html"' in page.headers["content-disposition"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["content-security-policy"] == "sandbox"


async def test_the_tail_pass_runs_while_the_recording_is_encoded(
    plane: TestPlane, storage: LocalStorage
) -> None:
    """Leave → finished costs the longer of the two, not their sum: the transcriber is called
    before ``recording.json`` exists (a minute of audio takes ffmpeg a while to encode)."""
    fake = FakeTranscriber(WORDS)
    seen: list[bool] = []
    c = await call(plane, storage, seconds=60.0, transcription_model="whisper-tiny.en")
    meta = storage.root / "bots" / c.bot_id / "recording.json"

    class Watching:
        def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
            seen.append(meta.exists())
            return fake.transcribe(pcm16k, offset=offset)

    await MediaPipeline(plane.services, storage, fixed(Watching())).process(c.bot_id)
    assert seen == [False]
    assert [(call.offset, call.duration) for call in fake.calls] == [(0.0, 60.0)]
    bot = await bot_json(plane, c.bot_id)
    assert [s["status"] for s in bot["status_changes"]][-3:] == [
        "processing",
        "transcribing",
        "finished",
    ]
    assert meta.exists()


async def test_every_log_line_of_a_bots_media_work_names_the_bot(
    plane: TestPlane, storage: LocalStorage
) -> None:
    import io
    import logging

    from meetbot import logs

    c = await call(plane, storage, transcription_model="whisper-tiny.en")
    out = io.StringIO()
    handler = logs.handler("json", stream=out)
    media_log = logging.getLogger("meetbot.control.media")
    media_log.addHandler(handler)
    try:
        await MediaPipeline(plane.services, storage, fixed(BrokenTranscriber())).process(c.bot_id)
    finally:
        media_log.removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines, "the failed transcription is logged"
    assert {line.get("bot_id") for line in lines} == {c.bot_id}

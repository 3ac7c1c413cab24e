"""Live ``transcript.data`` from a vendor's streaming API (AssemblyAI look-alikes on loopback):
the bot's key opens one session, turns become events during the call, the session is
terminated when the call ends, and the pre-recorded API transcribes the tail after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from media_helpers import Call, bot_json, create_bot, events, media_storage, tone

from harness.plane import TestPlane, build_test_plane
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.transcribers import Transcribers
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.ports import Store
from meetbot.storage import LocalStorage
from meetbot.testing.fake_assemblyai import AssemblyAIBatch, AssemblyAIStreamServer, turn
from meetbot.testing.fakes_transcription import VendorServer

KEY = "aai-test-key"
SPEAKERS = [("Alice", 0.0, 2.6), ("Bob", 2.6, 5.0)]
TURNS = [turn(0.2, "Hello everyone and welcome."), turn(3.2, "Thanks, Alice.")]


@pytest.fixture
def servers() -> Iterator[tuple[AssemblyAIStreamServer, VendorServer]]:
    with (
        AssemblyAIStreamServer(KEY, TURNS) as live,
        VendorServer(AssemblyAIBatch(KEY, polls=0)) as rest,
    ):
        yield live, rest


@pytest.fixture
async def plane(
    any_store: Store, tmp_path: Path, servers: tuple[AssemblyAIStreamServer, VendorServer]
) -> TestPlane:
    live, rest = servers
    return await build_test_plane(
        any_store,
        data_dir=tmp_path,
        assemblyai_base_url=rest.url,
        assemblyai_streaming_url=live.url,
    )


async def test_assemblyai_turns_are_live_events_and_the_tail_is_transcribed_after(
    plane: TestPlane, tmp_path: Path, servers: tuple[AssemblyAIStreamServer, VendorServer]
) -> None:
    live_server, rest = servers
    storage: LocalStorage = media_storage(plane, tmp_path / "media")
    transcribers = Transcribers(plane.services.settings)
    pool = TranscriptionPool(1)
    live = LiveTranscription(
        plane.services, storage, transcribers, pool, streams=transcribers.stream
    )
    bot_id = await create_bot(
        plane, transcription_model="assemblyai/universal-2", credentials={"assemblyai_api_key": KEY}
    )
    c = Call(plane, storage, bot_id, live=live, speakers=list(SPEAKERS))
    await c.join()
    await c.record(tone(5.0))

    data = [e for e in await events(plane, bot_id) if e.type == "transcript.data"]
    assert data, "no live transcript.data"
    first = data[0].data["segments"][0]
    assert (first["text"], first["speaker"]) == ("Hello everyone and welcome.", "Alice")
    (session,) = live_server.sessions
    assert session.headers["authorization"] == KEY
    assert session.query["speech_model"] == ["universal-streaming-multilingual"]

    await c.leave()
    await MediaPipeline(plane.services, storage, transcribers, pool=pool, live=live).process(bot_id)
    assert session.terminated
    assert session.close_code == 1000
    doc = json.loads(await storage.get(f"bots/{bot_id}/transcript.json"))
    assert doc["final"] is True
    texts = [s["text"] for s in doc["segments"]]
    assert texts[0] == "Hello everyone and welcome."
    committed_live = first["end"]
    (upload,) = [r for r in rest.received if r.path == "/v2/upload"]
    assert upload.headers["authorization"] == KEY
    tail = doc["segments"][1:]
    assert tail
    assert all(s["start"] >= committed_live for s in tail)
    assert (await bot_json(plane, bot_id))["status"] == "finished"
    pool.close()

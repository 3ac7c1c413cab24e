"""Live transcription from the live copy of the audio (issue 16 §1): decoded as its pieces
come, before any chunk is stored; the stored chunks are checked against it, and where the live
copy missed something (a packet later than its holdback) the transcript after the call is
decoded again from there."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from media_helpers import Call, create_bot, events, fixed, media_storage, tone

from harness.plane import TestPlane, build_test_plane
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.ports import Store
from meetbot.storage import LocalStorage
from meetbot.testing.fakes_transcription import FakeTranscriber, script

RATE = 16_000
PIECE = RATE // 4  # samples of a 250 ms piece
SPEAKERS = [("Alice", 0.0, 3.0), ("Bob", 3.0, 8.0)]
WORDS = script((0.2, "hello everyone and welcome"), (3.2, "thanks alice great to be here"))


@pytest.fixture
async def plane(any_store: Store, tmp_path: Path) -> TestPlane:
    return await build_test_plane(any_store, data_dir=tmp_path)


async def _live_call(
    plane: TestPlane, storage: LocalStorage, live: LiveTranscription, audio: bytes
) -> Call:
    """A bot whose runner sends ``audio`` as its live copy, 250 ms a piece (no chunk yet)."""
    bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
    c = Call(plane, storage, bot_id, speakers=list(SPEAKERS))
    await c.join()
    for begin in range(0, len(audio), PIECE * 2):
        live.on_live(bot_id, begin // 2, audio[begin : begin + PIECE * 2])
        await live.idle(bot_id)
    return c


async def test_the_live_copy_is_transcribed_before_any_chunk_is_stored(
    plane: TestPlane, tmp_path: Path
) -> None:
    storage = media_storage(plane, tmp_path / "media")
    fake, pool = FakeTranscriber(WORDS), TranscriptionPool(1)
    live = LiveTranscription(plane.services, storage, fixed(fake), pool)
    audio = tone(8.0)
    c = await _live_call(plane, storage, live, audio)

    found = [e for e in await events(plane, c.bot_id) if e.type.startswith("transcript.")]
    partial = [e for e in found if e.type == "transcript.partial"]
    data = [e for e in found if e.type == "transcript.data"]
    assert any("hello" in s["text"] for e in partial for s in e.data["segments"])
    assert data[0].data["segments"][0]["text"] == "hello everyone and welcome"
    ends = [call.offset + call.duration for call in fake.calls]
    assert len(fake.calls) >= 12  # a decode every 0.5 s of new audio (8 s: 16)
    assert min(b - a for a, b in itertools.pairwise(ends)) >= 0.5 - 1e-6

    c.live = live  # the stored chunks come: the same audio, checked, not decoded again
    live_calls = len(fake.calls)
    await c.record(audio)
    assert len(fake.calls) == live_calls
    doc = json.loads(await storage.get(f"bots/{c.bot_id}/transcript.json"))
    assert "complete_until" not in doc

    await c.leave()
    await MediaPipeline(plane.services, storage, fixed(fake), pool=pool, live=live).process(
        c.bot_id
    )
    tail = fake.calls[live_calls:]
    assert len(tail) == 1
    assert tail[0].offset > 1.0  # the tail after what live committed, as before
    doc = json.loads(await storage.get(f"bots/{c.bot_id}/transcript.json"))
    assert [(s["speaker"], s["text"]) for s in doc["segments"]] == [
        ("Alice", "hello everyone and welcome"),
        ("Bob", "thanks alice great to be here"),
    ]
    pool.close()


async def test_what_the_live_copy_missed_is_decoded_again_after_the_call(
    plane: TestPlane, tmp_path: Path
) -> None:
    storage = media_storage(plane, tmp_path / "media")
    fake, pool = FakeTranscriber(WORDS), TranscriptionPool(1)
    live = LiveTranscription(plane.services, storage, fixed(fake), pool)
    recorded = tone(12.0)
    missed = 4 * RATE * 2  # a packet at 4.0 s came later than the live holdback
    sent = recorded[:missed] + bytes(PIECE * 2) + recorded[missed + PIECE * 2 :]
    c = await _live_call(plane, storage, live, sent)
    live_calls = len(fake.calls)
    c.live = live
    await c.record(recorded)
    assert len(fake.calls) == live_calls  # checked only
    doc = json.loads(await storage.get(f"bots/{c.bot_id}/transcript.json"))
    assert doc["complete_until"] == 4.0
    assert doc["final"] is False

    await c.leave()
    await MediaPipeline(plane.services, storage, fixed(fake), pool=pool, live=live).process(
        c.bot_id
    )
    tail = fake.calls[live_calls:]
    assert len(tail) == 1
    assert tail[0].offset <= 3.2  # from the start of the segment the missed packet was in
    doc = json.loads(await storage.get(f"bots/{c.bot_id}/transcript.json"))
    assert "complete_until" not in doc
    assert [(s["speaker"], s["text"]) for s in doc["segments"]] == [
        ("Alice", "hello everyone and welcome"),
        ("Bob", "thanks alice great to be here"),
    ]
    pool.close()


async def test_a_live_copy_that_starts_late_is_marked_incomplete_from_the_start(
    plane: TestPlane, tmp_path: Path
) -> None:
    storage = media_storage(plane, tmp_path / "media")
    fake, pool = FakeTranscriber(WORDS), TranscriptionPool(1)
    live = LiveTranscription(plane.services, storage, fixed(fake), pool)
    bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
    c = Call(plane, storage, bot_id)
    await c.join()
    audio = tone(4.0)
    for begin in range(RATE * 2, len(audio), PIECE * 2):  # from 1 s on: the first chunks
        live.on_live(bot_id, begin // 2, audio[begin : begin + PIECE * 2])  # may never come
        await live.idle(bot_id)
    doc = json.loads(await storage.get(f"bots/{bot_id}/transcript.json"))
    assert doc["complete_until"] == 0.0
    pool.close()

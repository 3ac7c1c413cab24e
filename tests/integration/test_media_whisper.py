"""The media worker with the real whisper-tiny.en model on espeak-ng speech (offline)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from media_helpers import Call, bot_json, create_bot, media_storage

from harness.plane import build_test_plane
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.transcribers import Transcribers
from meetbot.testing.memory_store import MemoryStore
from meetbot.transcription.wer import wer

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox make the test speech",
)

TEXT = (
    "Please send the quarterly report to the finance team before Friday. "
    "We agreed to review the budget together after lunch."
)


def speech_pcm(folder: Path) -> bytes:
    wav = folder / "speech.wav"
    raw = folder / "speech.raw"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), TEXT], check=True)
    subprocess.run(
        ["sox", str(wav), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", str(raw)],
        check=True,
    )
    return raw.read_bytes()


async def test_real_whisper_tiny_en_through_the_pipeline(tmp_path: Path) -> None:
    store = MemoryStore()
    plane = await build_test_plane(store, data_dir=tmp_path)
    storage = media_storage(plane, tmp_path / "media")
    bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
    c = Call(plane, storage, bot_id, speakers=[("Alice", 0.0, 60.0)])
    await c.join()
    await c.record(speech_pcm(tmp_path))
    await c.leave()

    await MediaPipeline(plane.services, storage, Transcribers(plane.services.settings)).process(
        bot_id
    )

    assert (await bot_json(plane, bot_id))["status"] == "finished"
    doc = json.loads(await storage.get(f"bots/{bot_id}/transcript.json"))
    assert doc["final"] is True
    hypothesis = " ".join(s["text"] for s in doc["segments"])
    assert wer(TEXT, hypothesis) <= 0.15, hypothesis
    assert {s["speaker"] for s in doc["segments"]} == {"Alice"}
    words = [w for s in doc["segments"] for w in s["words"]]
    assert words
    assert all(w["start"] <= w["end"] for w in words)
    await store.close()

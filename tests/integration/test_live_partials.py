"""``transcript.partial``: live transcription's hypothesis, sent before it is committed."""

from __future__ import annotations

import itertools
from pathlib import Path

from media_helpers import Call, create_bot, events, fixed, media_storage, tone

from harness.plane import build_test_plane
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.ports import Store
from meetbot.testing.fakes_transcription import FakeTranscriber, script

SPEAKERS = [("Alice", 0.0, 3.0), ("Bob", 3.0, 8.0)]
WORDS = script((0.2, "hello everyone and welcome"), (3.2, "thanks alice great to be here"))


async def test_words_are_partial_before_they_are_committed(
    any_store: Store, tmp_path: Path
) -> None:
    plane = await build_test_plane(any_store, data_dir=tmp_path)
    storage = media_storage(plane, tmp_path / "media")
    pool = TranscriptionPool(1)
    try:
        live = LiveTranscription(plane.services, storage, fixed(FakeTranscriber(WORDS)), pool)
        bot_id = await create_bot(plane, transcription_model="whisper-tiny.en")
        c = Call(plane, storage, bot_id, live=live, speakers=list(SPEAKERS))
        await c.join()
        await c.record(tone(8.0))
    finally:
        pool.close()

    found = [e for e in await events(plane, bot_id) if e.type.startswith("transcript.")]

    def first(type_: str, word: str) -> int:
        return next(
            i
            for i, e in enumerate(found)
            if e.type == type_ and any(word in s["text"] for s in e.data["segments"])
        )

    assert first("transcript.partial", "hello") < first("transcript.data", "hello")
    partials = [e for e in found if e.type == "transcript.partial"]
    texts = [[s["text"] for s in e.data["segments"]] for e in partials]
    assert all(texts), "an empty hypothesis is not sent"
    sent = [e.data["segments"] for e in partials]
    assert all(a != b for a, b in itertools.pairwise(sent)), "only changes are sent"
    assert any("thanks" in t for ts in texts for t in ts)

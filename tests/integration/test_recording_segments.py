"""The recording encoded during the call, a segment at a time, and reused at the end.

Real ffmpeg, a few seconds of audio: 1 s chunks and segments of 3 chunks (the product's are
1.5 s and 200). The store and the media storage are the package's fakes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from media_helpers import Call, bot_json, create_bot, fixed

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.media_format import (
    SAMPLE_RATE,
    RecordingFormat,
    chunk_key,
    recording_key,
    runner_may_store,
    segment_prefix,
)
from meetbot.control.media.audio_file import assemble_recording, spooled
from meetbot.control.media.ffmpeg import audio_codec_args
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.recording_segments import encode_recording, segment_audio_key
from meetbot.control.media.segment_recorder import SegmentRecorder
from meetbot.testing.fakes_runner import MemoryStorage
from meetbot.testing.memory_store import MemoryStore

SEG = 3
"""Chunks per segment in these tests."""
CHUNK = SAMPLE_RATE  # 1 s
SECONDS = 8  # segments 0-2 and 3-5 during the call, chunks 6-7 are the tail
SLACK = {"ogg": 0.025, "mp3": 0.1}
"""How much longer than the PCM a join may make the file, per segment boundary (Opus: one
20 ms frame of padding; MP3: LAME's delay and padding, ~96 ms)."""


def speech_like(seconds: int) -> npt.NDArray[np.int16]:
    """A different tone each second, so that every chunk's content shows."""
    t = np.arange(CHUNK) / SAMPLE_RATE
    parts = [0.3 * np.sin(2 * np.pi * (300 + 60 * n) * t) for n in range(seconds)]
    return (np.concatenate(parts) * 32767).astype("<i2")


def decode(data: bytes, tmp_path: Path, fmt: str) -> npt.NDArray[np.int16]:
    path = tmp_path / f"decoded.{fmt}"
    path.write_bytes(data)
    args = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ar", str(SAMPLE_RATE)]
    out = subprocess.run([*args, "-ac", "1", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(out, dtype="<i2")


def encoded_in_one_piece(pcm: npt.NDArray[np.int16], tmp_path: Path) -> bytes:
    """``pcm`` encoded by one ffmpeg, as the recording was before segments."""
    raw = tmp_path / "audio.pcm"
    raw.write_bytes(pcm.tobytes())
    out = tmp_path / "direct.ogg"
    args = ["ffmpeg", "-v", "error", "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1"]
    codec = audio_codec_args("ogg")
    subprocess.run([*args, "-i", str(raw), "-threads", "1", *codec, str(out)], check=True)
    return out.read_bytes()


def rms(samples: npt.NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@pytest.fixture
async def plane(tmp_path: Path) -> TestPlane:
    return await build_test_plane(MemoryStore(), data_dir=tmp_path)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


async def new_bot(plane: TestPlane, fmt: RecordingFormat = "ogg") -> str:
    return await create_bot(plane, transcription_model="none", recording={"audio_format": fmt})


async def feed(
    recorder: SegmentRecorder,
    storage: MemoryStorage,
    bot_id: str,
    pcm: npt.NDArray[np.int16],
    skip: frozenset[int] = frozenset(),
) -> None:
    """Store ``pcm`` as 1 s chunks (leaving out ``skip``) and report each to the recorder."""
    for seq in range(len(pcm) // CHUNK):
        if seq in skip:
            continue
        key = chunk_key(bot_id, seq)
        await storage.put(key, pcm[seq * CHUNK : (seq + 1) * CHUNK].tobytes())
        recorder.on_chunk(bot_id, key, float(seq))
        await recorder.idle(bot_id)


async def final(storage: MemoryStorage, bot_id: str, fmt: RecordingFormat) -> tuple[bytes, int]:
    """The recording as the final pass makes it, and how many segments it reused."""
    async with spooled(storage, bot_id) as spool:
        return await encode_recording(
            storage, bot_id, spool.path, spool.chunks, audio_codec_args(fmt)
        )


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
async def test_segments_made_during_the_call_are_reused_and_joined_to_the_pcms_length(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path, fmt: RecordingFormat
) -> None:
    bot_id = await new_bot(plane, fmt)
    recorder = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    pcm = speech_like(SECONDS)
    await feed(recorder, storage, bot_id, pcm)
    assert recorder.encoded == 2
    assert await storage.exists(segment_audio_key(bot_id, 3, fmt))

    data, reused = await final(storage, bot_id, fmt)
    assert reused == 2
    decoded = decode(data, tmp_path, fmt)
    boundaries = 2  # segment 0 | segment 1 | the tail
    extra = (len(decoded) - len(pcm)) / SAMPLE_RATE
    assert 0 <= extra <= boundaries * SLACK[fmt]
    # the audio is the PCM's, in order: each second's tone where it belongs (give or take
    # the boundaries' padding)
    for second in range(SECONDS):
        window = decoded[second * CHUNK + 2000 : (second + 1) * CHUNK - 2000]
        spectrum = np.abs(np.fft.rfft(window))
        peak = np.argmax(spectrum) * SAMPLE_RATE / len(window)
        assert abs(peak - (300 + 60 * second)) < 10


async def test_no_segments_gives_the_recording_encoded_in_one_piece(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path
) -> None:
    bot_id = await new_bot(plane)
    pcm = speech_like(SECONDS)
    for seq in range(SECONDS):
        await storage.put(chunk_key(bot_id, seq), pcm[seq * CHUNK : (seq + 1) * CHUNK].tobytes())
    data, reused = await final(storage, bot_id, "ogg")
    assert reused == 0
    direct = encoded_in_one_piece(pcm, tmp_path)
    assert np.array_equal(decode(data, tmp_path, "ogg"), decode(direct, tmp_path, "ogg"))


async def test_a_late_chunk_invalidates_its_segment(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path
) -> None:
    bot_id = await new_bot(plane)
    recorder = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    await feed(recorder, storage, bot_id, speech_like(SECONDS))
    assert recorder.encoded == 2
    # chunk 4 is written again (silence) after its segment was encoded, not yet reported
    quiet = np.zeros(CHUNK, dtype="<i2").tobytes()
    await storage.put(chunk_key(bot_id, 4), quiet)
    data, reused = await final(storage, bot_id, "ogg")
    assert reused == 1  # segment 0 only: segment 1 is encoded again, from the chunks as they are
    decoded = decode(data, tmp_path, "ogg")
    assert rms(decoded[4 * CHUNK + 1000 : 5 * CHUNK - 1000]) < 50
    assert rms(decoded[3 * CHUNK + 1000 : 4 * CHUNK - 1000]) > 3000

    recorder.on_chunk(bot_id, chunk_key(bot_id, 4), 4.0)  # reported late: encoded again now
    await recorder.idle(bot_id)
    assert recorder.encoded == 3
    data, reused = await final(storage, bot_id, "ogg")
    assert reused == 2
    assert rms(decode(data, tmp_path, "ogg")[4 * CHUNK + 1000 : 5 * CHUNK - 1000]) < 50


async def test_a_gap_leaves_its_segment_to_the_end(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path
) -> None:
    bot_id = await new_bot(plane)
    recorder = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    pcm = speech_like(SECONDS)
    await feed(recorder, storage, bot_id, pcm, skip=frozenset({1}))
    assert recorder.encoded == 1  # segment 1 (chunks 3-5); segment 0 is never complete
    data, reused = await final(storage, bot_id, "ogg")
    assert reused == 1
    extra = (len(decode(data, tmp_path, "ogg")) - (len(pcm) - CHUNK)) / SAMPLE_RATE
    assert 0 <= extra <= 2 * SLACK["ogg"]


async def test_a_restart_mid_call_leaves_the_unfinished_segment_to_the_end(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path
) -> None:
    """A new process (or another replica) sees only the chunks reported to it."""
    bot_id = await new_bot(plane)
    before = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    pcm = speech_like(SECONDS)
    await feed(before, storage, bot_id, pcm[: 4 * CHUNK])  # chunks 0-3: segment 0 is made
    after = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    for seq in range(4, SECONDS):  # segment 1 (3-5) is never complete for this one
        key = chunk_key(bot_id, seq)
        await storage.put(key, pcm[seq * CHUNK : (seq + 1) * CHUNK].tobytes())
        after.on_chunk(bot_id, key, float(seq))
        await after.idle(bot_id)
    assert (before.encoded, after.encoded) == (1, 0)
    data, reused = await final(storage, bot_id, "ogg")
    assert reused == 1
    extra = (len(decode(data, tmp_path, "ogg")) - len(pcm)) / SAMPLE_RATE
    assert 0 <= extra <= SLACK["ogg"]


async def test_a_segment_that_is_not_what_its_manifest_says_is_encoded_again(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path
) -> None:
    """Two replicas raced, or anything else wrote there: the manifest's hash decides."""
    bot_id = await new_bot(plane)
    recorder = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    pcm = speech_like(SECONDS)
    await feed(recorder, storage, bot_id, pcm)
    first, second = segment_audio_key(bot_id, 0, "ogg"), segment_audio_key(bot_id, 3, "ogg")
    await storage.put(first, await storage.get(second))
    data, reused = await final(storage, bot_id, "ogg")
    assert reused == 1
    decoded = decode(data, tmp_path, "ogg")
    window = decoded[1000 : CHUNK - 1000]
    peak = np.argmax(np.abs(np.fft.rfft(window))) * SAMPLE_RATE / len(window)
    assert abs(peak - 300) < 10  # the first second is the PCM's, not the other segment's


async def test_wav_and_stopped_bots_get_no_segments(
    plane: TestPlane, storage: MemoryStorage
) -> None:
    bot_id = await new_bot(plane, "wav")
    recorder = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    await feed(recorder, storage, bot_id, speech_like(SECONDS))
    assert recorder.encoded == 0
    assert await storage.list(segment_prefix(bot_id)) == []

    other = await new_bot(plane)
    await recorder.close_bot(other)  # the call is over: chunks reported late are left alone
    await feed(recorder, storage, other, speech_like(SECONDS))
    assert recorder.encoded == 0


async def test_the_pipeline_reuses_the_segments_and_deletes_them(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path
) -> None:
    recorder = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    bot_id = await new_bot(plane)
    call = Call(plane, storage, bot_id, segments=recorder, chunk_seconds=1.0)
    await call.join()
    pcm = speech_like(SECONDS)
    await call.record(pcm.tobytes())
    await call.leave()
    assert recorder.encoded == 2
    pipeline = MediaPipeline(plane.services, storage, fixed(None), segments=recorder)
    await pipeline.process(bot_id)

    assert (await bot_json(plane, bot_id))["status"] == "finished"
    decoded = decode(await storage.get(recording_key(bot_id, "ogg")), tmp_path, "ogg")
    assert 0 <= (len(decoded) - len(pcm)) / SAMPLE_RATE <= 2 * SLACK["ogg"]
    assert await storage.list(segment_prefix(bot_id)) == []


async def test_assemble_recording_reuses_the_segments(
    plane: TestPlane, storage: MemoryStorage, tmp_path: Path
) -> None:
    bot_id = await new_bot(plane)
    recorder = SegmentRecorder(plane.services, storage, segment_chunks=SEG)
    pcm = speech_like(SECONDS)
    await feed(recorder, storage, bot_id, pcm)
    info = await assemble_recording(storage, bot_id, "ogg")
    assert info.duration_s == SECONDS  # the PCM's duration, as before
    decoded = decode(await storage.get(info.key), tmp_path, "ogg")
    assert 0 <= (len(decoded) - len(pcm)) / SAMPLE_RATE <= 2 * SLACK["ogg"]


def test_a_runner_may_not_store_segments() -> None:
    assert runner_may_store("b1", chunk_key("b1", 0))
    assert not runner_may_store("b1", segment_audio_key("b1", 0, "ogg"))
    assert not runner_may_store("b1", "bots/b1/segments/00000000.json")
    assert not runner_may_store("b1", chunk_key("b2", 0))

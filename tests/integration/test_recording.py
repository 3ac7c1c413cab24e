"""Chunks → one recording, encoded by the real Debian ffmpeg and checked with ffprobe."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from meetbot.contract.media_format import (
    SAMPLE_RATE,
    RecordingFormat,
    chunk_key,
    chunk_seq,
    recording_key,
)
from meetbot.control.media.audio_file import NoAudio, assemble_recording, load_pcm, spooled
from meetbot.control.media.ffmpeg import RecordingFailed
from meetbot.storage import LocalStorage

BOT = "bot_rec1"
CHUNK_SAMPLES = SAMPLE_RATE // 4  # 250 ms
CHUNKS = 40  # 10 s
MISSING = 7


def sine(seconds: float, freq: float = 440.0, amplitude: float = 0.3) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")


async def write_chunks(
    storage: LocalStorage, samples: npt.NDArray[np.int16], skip: set[int]
) -> list[int]:
    """Store ``samples`` as 250 ms chunks, leaving out the ``skip`` ones; return seqs written."""
    written = []
    for seq in range(len(samples) // CHUNK_SAMPLES):
        if seq in skip:
            continue
        part = samples[seq * CHUNK_SAMPLES : (seq + 1) * CHUNK_SAMPLES]
        await storage.put(chunk_key(BOT, seq), part.tobytes())
        written.append(seq)
    return written


def without_missing(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    return np.delete(samples, np.s_[MISSING * CHUNK_SAMPLES : (MISSING + 1) * CHUNK_SAMPLES])


def ffprobe(path: Path) -> dict[str, Any]:
    args = ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format"]
    out = subprocess.run([*args, str(path)], check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out))


def decode(path: Path) -> tuple[npt.NDArray[np.int16], str]:
    """Decode a file back to 16 kHz mono s16le with ffmpeg; return samples and its stderr."""
    output = ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-"]
    args = ["ffmpeg", "-v", "error", "-i", str(path), *output]
    result = subprocess.run(args, check=True, capture_output=True)
    return np.frombuffer(result.stdout, dtype="<i2"), result.stderr.decode()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


def test_keys() -> None:
    assert chunk_key(BOT, 12) == "bots/bot_rec1/chunks/00000012.pcm"
    assert chunk_seq(chunk_key(BOT, 12)) == 12
    assert chunk_seq("bots/x/chunks/notes.txt") is None
    assert recording_key(BOT, "ogg") == "bots/bot_rec1/recording.ogg"
    with pytest.raises(ValueError, match="bot id"):
        chunk_key("a/b", 0)
    with pytest.raises(ValueError, match="start at 0"):
        chunk_key(BOT, -1)


async def test_load_pcm_skips_gaps(storage: LocalStorage) -> None:
    samples = sine(CHUNKS / 4)
    await write_chunks(storage, samples, {MISSING})
    await storage.put(f"bots/{BOT}/chunks/readme.txt", b"not a chunk")
    pcm = await load_pcm(storage, BOT)
    expected = without_missing(samples)
    assert pcm.dtype == np.float32
    assert len(pcm) == len(expected)
    np.testing.assert_array_equal(pcm, expected.astype(np.float32) / 32768)
    assert len(await load_pcm(storage, "no_such_bot")) == 0


@pytest.mark.parametrize(
    ("fmt", "codec", "content_type"),
    [("ogg", "opus", "audio/ogg"), ("mp3", "mp3", "audio/mpeg"), ("wav", "pcm_s16le", "audio/wav")],
)
async def test_assemble(
    storage: LocalStorage, tmp_path: Path, fmt: RecordingFormat, codec: str, content_type: str
) -> None:
    samples = sine(CHUNKS / 4)
    await write_chunks(storage, samples, {MISSING})
    expected_s = (CHUNKS - 1) * 0.25

    info = await assemble_recording(storage, BOT, fmt)

    assert info.key == f"bots/{BOT}/recording.{fmt}"
    assert info.format == fmt
    assert info.content_type == content_type
    assert info.duration_s == pytest.approx(expected_s)
    data = await storage.get(info.key)
    assert info.size_bytes == len(data)
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(data)
    probe = await asyncio.to_thread(ffprobe, path)
    (stream,) = probe["streams"]
    assert stream["codec_name"] == codec
    assert stream["channels"] == 1
    assert float(probe["format"]["duration"]) == pytest.approx(expected_s, abs=0.1)
    decoded, errors = await asyncio.to_thread(decode, path)
    assert errors == ""
    assert len(decoded) / SAMPLE_RATE == pytest.approx(expected_s, abs=0.1)
    if fmt == "wav":
        assert stream["sample_rate"] == "16000"
        expected = np.delete(
            samples, np.s_[MISSING * CHUNK_SAMPLES : (MISSING + 1) * CHUNK_SAMPLES]
        )
        np.testing.assert_array_equal(decoded, expected)
    else:  # lossy, but the tone is there at about the same loudness (RMS of 0.3 sine ≈ 0.212)
        rms = float(np.sqrt(np.mean((decoded[1600:-1600] / 32768.0) ** 2)))
        assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.1)
    assert len(data) < len(samples) * 2 / 4 or fmt == "wav"  # lossy formats really compress


async def test_recording_after_a_crash_is_playable(storage: LocalStorage, tmp_path: Path) -> None:
    """The runner died after chunk 13: a half-written chunk 14 was never renamed into place."""
    samples = sine(6.0)
    written = await write_chunks(storage, samples[: 14 * CHUNK_SAMPLES], set())
    chunks_dir = storage.root / "bots" / BOT / "chunks"
    (chunks_dir / ".00000014.pcm.x1y2z3.tmp").write_bytes(b"\x01" * 3001)
    assert written == list(range(14))

    info = await assemble_recording(storage, BOT, "ogg")

    path = tmp_path / "crash.ogg"
    path.write_bytes(await storage.get(info.key))
    decoded, errors = await asyncio.to_thread(decode, path)
    assert errors == ""
    assert info.duration_s == pytest.approx(3.5)
    assert len(decoded) / SAMPLE_RATE == pytest.approx(3.5, abs=0.1)


async def test_odd_length_chunk_keeps_samples_aligned(storage: LocalStorage) -> None:
    await storage.put(chunk_key(BOT, 0), np.array([1, 2, 3], "<i2").tobytes() + b"\x7f")
    await storage.put(chunk_key(BOT, 1), np.array([4, 5], "<i2").tobytes())
    pcm = await load_pcm(storage, BOT)
    np.testing.assert_array_equal(pcm * 32768, [1, 2, 3, 4, 5])


async def test_no_chunks_is_no_audio(storage: LocalStorage) -> None:
    with pytest.raises(NoAudio):
        await assemble_recording(storage, BOT, "ogg")


async def test_missing_ffmpeg_is_reported(storage: LocalStorage) -> None:
    await write_chunks(storage, sine(0.5), set())
    with pytest.raises(RecordingFailed, match="ffmpeg not found"):
        await assemble_recording(storage, BOT, "mp3", ffmpeg="/nonexistent/ffmpeg")


async def test_ffmpeg_error_is_reported(storage: LocalStorage) -> None:
    await write_chunks(storage, sine(0.5), set())
    with pytest.raises(RecordingFailed, match="ffmpeg exited"):
        await assemble_recording(storage, BOT, "ogg", bitrate_kbps=-5)
    assert not await storage.exists(recording_key(BOT, "ogg"))


async def test_the_spool_reads_the_chunks_once_and_serves_any_tail(storage: LocalStorage) -> None:
    samples = sine(CHUNKS / 4)
    await write_chunks(storage, samples, {MISSING})
    expected = without_missing(samples)
    async with spooled(storage, BOT) as spool:
        assert spool.pcm_bytes == len(expected) * 2
        assert spool.duration_s == pytest.approx((CHUNKS - 1) * 0.25)
        tail = spool.tail(2.5)
        assert tail.dtype == np.float32
        np.testing.assert_array_equal(tail, expected[40_000:].astype(np.float32) / 32768)
        assert len(spool.tail(0.0)) == len(expected)
        assert len(spool.tail(-1.0)) == len(expected)
        assert len(spool.tail(999.0)) == 0
        path = spool.path
        assert path.exists()
    assert not path.exists()

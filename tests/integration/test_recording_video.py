"""``recording.video``: frame chunks + audio → ``recording.mp4`` by the real ffmpeg (checked
with ffprobe), exposed by the recording endpoint, removed by delete_data, salvaged after a
crash."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from media_helpers import Call, bot_json, create_bot, events, fixed, media_storage, tone
from test_recording import ffprobe

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.media_format import Frame, pack_frames, video_chunk_key, video_key
from meetbot.control.media.audio_file import spooled
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.video_file import NoVideo, build_video
from meetbot.control.ports import Store
from meetbot.control.service.lost_runners import runner_lost
from meetbot.storage import LocalStorage

BOT = "bot_vid1"


def jpeg(color: str, size: str = "320x180") -> bytes:
    args = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c={color}:s={size}"]
    args += ["-frames:v", "1", "-f", "mjpeg", "pipe:1"]
    return subprocess.run(args, check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def jpegs() -> dict[str, bytes]:
    return {c: jpeg(c) for c in ("red", "green", "blue")}


async def store_frames(
    storage: LocalStorage, bot_id: str, jpegs: dict[str, bytes], seconds: float, per_chunk: int
) -> None:
    """A frame every 0.4 s (cycling colours) from 0.1 s on, ``per_chunk`` frames a chunk."""
    colours = list(jpegs.values())
    frames = [Frame(0.1 + i * 0.4, colours[i % 3]) for i in range(int((seconds - 0.1) / 0.4) + 1)]
    for seq, start in enumerate(range(0, len(frames), per_chunk)):
        await storage.put(
            video_chunk_key(bot_id, seq), pack_frames(frames[start : start + per_chunk])
        )


def probe(data: bytes, path: Path) -> dict[str, dict[str, object]]:
    path.write_bytes(data)
    found = ffprobe(path)
    streams = {str(s["codec_type"]): s for s in found["streams"]}
    return {**streams, "format": found["format"]}


async def test_build_video_from_frames_and_audio(tmp_path: Path, jpegs: dict[str, bytes]) -> None:
    storage = LocalStorage(tmp_path / "media")
    for seq in range(4):  # 6 s of audio in 1.5 s chunks
        await storage.put(f"bots/{BOT}/chunks/{seq:08d}.pcm", tone(1.5))
    await store_frames(storage, BOT, jpegs, seconds=7.0, per_chunk=4)  # frames past the audio

    async with spooled(storage, BOT) as spool:
        info = await build_video(storage, BOT, spool, fps=5)

    assert info.key == video_key(BOT) == f"bots/{BOT}/recording.mp4"
    assert info.duration_s == pytest.approx(6.0)
    assert (info.width, info.height, info.fps) == (1280, 720, 5)
    data = await storage.get(info.key)
    assert info.size_bytes == len(data)
    found = await asyncio.to_thread(probe, data, tmp_path / "out.mp4")
    video, audio = found["video"], found["audio"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)
    assert video["pix_fmt"] == "yuv420p"
    assert float(str(video["duration"])) == pytest.approx(6.0, abs=0.25)
    assert audio["codec_name"] == "aac"
    assert float(str(audio["duration"])) == pytest.approx(6.0, abs=0.1)
    assert float(str(found["format"]["duration"])) == pytest.approx(6.0, abs=0.25)


async def test_build_video_without_audio_spans_the_frames(
    tmp_path: Path, jpegs: dict[str, bytes]
) -> None:
    storage = LocalStorage(tmp_path / "media")
    await store_frames(storage, BOT, jpegs, seconds=3.0, per_chunk=2)
    info = await build_video(storage, BOT, None, fps=5)
    found = await asyncio.to_thread(probe, await storage.get(info.key), tmp_path / "v.mp4")
    assert "audio" not in found
    assert info.duration_s == pytest.approx(3.0, abs=0.21)  # last frame at 2.9 s + one tick
    with pytest.raises(NoVideo):
        await build_video(storage, "no_frames", None)


@pytest.fixture
async def plane(any_store: Store, tmp_path: Path) -> TestPlane:
    return await build_test_plane(any_store, data_dir=tmp_path)


@pytest.fixture
def storage(plane: TestPlane, tmp_path: Path) -> LocalStorage:
    return media_storage(plane, tmp_path / "media")


async def test_a_bot_with_recording_video_gets_an_mp4_behind_the_recording_endpoint(
    plane: TestPlane, storage: LocalStorage, jpegs: dict[str, bytes]
) -> None:
    bot_id = await create_bot(
        plane, transcription_model="none", recording={"audio_format": "ogg", "video": True}
    )
    c = Call(plane, storage, bot_id)
    await c.join()
    await c.record(tone(4.0))
    await store_frames(storage, bot_id, jpegs, seconds=4.0, per_chunk=5)
    await c.leave()
    await MediaPipeline(plane.services, storage, fixed(None)).process(bot_id)
    assert (await bot_json(plane, bot_id))["status"] == "finished"
    assert await storage.list(f"bots/{bot_id}/video/") == []  # the frames are in the MP4
    (ready,) = [e for e in await events(plane, bot_id) if e.type == "recording.ready"]
    assert ready.data["recording"]["video"]["format"] == "mp4"
    assert "key" not in ready.data["recording"]["video"]
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{bot_id}/recording/")
        assert r.status_code == 200, r.text
        video = r.json()["video"]
        assert video["format"] == "mp4"
        assert video["content_type"] == "video/mp4"
        assert video["duration_s"] == pytest.approx(4.0, abs=0.2)
        assert (video["width"], video["height"]) == (1280, 720)
        media = await client.get(video["url"])
        assert media.status_code == 200
        assert media.headers["content-type"] == "video/mp4"
        assert media.content == await storage.get(f"bots/{bot_id}/recording.mp4")
        assert video["size_bytes"] == len(media.content)
        r = await client.post(f"/api/v1/bot/{bot_id}/delete_data/")
        assert r.status_code == 200
    assert await storage.list(f"bots/{bot_id}/") == []


async def test_without_recording_video_nothing_changes(
    plane: TestPlane, storage: LocalStorage, jpegs: dict[str, bytes]
) -> None:
    bot_id = await create_bot(plane, transcription_model="none")
    c = Call(plane, storage, bot_id)
    await c.join()
    await c.record(tone(2.0))
    await store_frames(storage, bot_id, jpegs, seconds=2.0, per_chunk=5)  # ignored
    await c.leave()
    await MediaPipeline(plane.services, storage, fixed(None)).process(bot_id)
    assert not await storage.exists(video_key(bot_id))
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{bot_id}/recording/")
    assert r.json()["video"] is None


async def test_video_without_frames_still_finishes_with_the_audio(
    plane: TestPlane, storage: LocalStorage
) -> None:
    bot_id = await create_bot(plane, transcription_model="none", recording={"video": True})
    c = Call(plane, storage, bot_id)
    await c.join()
    await c.record(tone(2.0))
    await c.leave()
    await MediaPipeline(plane.services, storage, fixed(None)).process(bot_id)
    assert (await bot_json(plane, bot_id))["status"] == "finished"
    async with plane.client() as client:
        body = (await client.get(f"/api/v1/bot/{bot_id}/recording/")).json()
    assert body["video"] is None
    assert body["duration_s"] == pytest.approx(2.0)


async def test_a_crashed_runner_leaves_a_playable_video(
    plane: TestPlane, storage: LocalStorage, jpegs: dict[str, bytes], tmp_path: Path
) -> None:
    bot_id = await create_bot(plane, recording={"audio_format": "wav", "video": True})
    c = Call(plane, storage, bot_id)
    await c.join()
    await c.record(tone(3.0))
    await store_frames(storage, bot_id, jpegs, seconds=2.5, per_chunk=3)
    await runner_lost(plane.services, bot_id)
    await MediaPipeline(plane.services, storage, fixed(None)).process(bot_id)
    bot = await bot_json(plane, bot_id)
    assert (bot["status"], bot["sub_code"]) == ("failed", "bot_process_lost")
    (ready,) = [e for e in await events(plane, bot_id) if e.type == "recording.ready"]
    assert ready.data["recording"]["salvaged"] is True
    assert ready.data["recording"]["video"]["duration_s"] == pytest.approx(3.0, abs=0.2)
    data = await storage.get(video_key(bot_id))
    found = await asyncio.to_thread(probe, data, tmp_path / "crash.mp4")
    assert float(str(found["format"]["duration"])) == pytest.approx(3.0, abs=0.25)

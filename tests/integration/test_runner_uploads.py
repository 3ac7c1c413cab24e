"""Runners store media through URLs scoped to their own bot (issue 12): no storage keys in the
assignment; presigned PUTs for one key on a real SeaweedFS; the control plane's upload route for
local storage (runner token, own keys only, body cap); the spool rides out an outage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from harness.seaweed import SeaweedProcess, seaweedfs_process
from harness.waiting import until
from meetbot.config import Settings
from meetbot.contract.media_format import chunk_key
from meetbot.contract.reports import AudioChunk, MediaLost, Report
from meetbot.contract.uploads import MAX_UPLOAD_BYTES, UPLOAD_DESCRIPTOR
from meetbot.control.media.recording_segments import segment_audio_key
from meetbot.control.server import build
from meetbot.control.store import open_store
from meetbot.ports import Storage
from meetbot.runner.capture import AudioRecorder
from meetbot.runner.uploads import UploadFailed, UploadStorage
from meetbot.storage.local import LocalStorage
from meetbot.testing.fakes import FixedClock

CONTROL = "http://meetbot"


@pytest.fixture
def weed(tmp_path: Path) -> Iterator[SeaweedProcess]:
    with seaweedfs_process(tmp_path / "seaweed") as process:
        yield process


async def plane_with(storage: Storage, tmp_path: Path) -> TestPlane:
    store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    return await build_test_plane(store, media_storage=storage)


async def new_bot(plane: TestPlane) -> tuple[str, str]:
    async with plane.client() as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": "https://meet.google.com/abc-defg-hij"}
        )
        assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    return bot_id, assigned.token


def runner_client(plane: TestPlane) -> httpx.AsyncClient:
    """The control plane in process, everything else (the bucket) over the network."""
    control = httpx.ASGITransport(app=plane.app, raise_app_exceptions=False)
    return httpx.AsyncClient(mounts={"all://meetbot": control}, trust_env=False)


@pytest.fixture
async def closing() -> AsyncIterator[list[TestPlane]]:
    planes: list[TestPlane] = []
    yield planes
    for plane in planes:
        await plane.services.store.close()


async def test_the_assignment_holds_no_storage_keys(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        launcher="fake",
        delivery="inline",
        storage="s3",
        s3_endpoint_url="http://127.0.0.1:1",
        s3_access_key="bucket-access-key",
        s3_secret_key="bucket-secret-key",
    )
    plane = await build(settings)
    try:
        assert plane.services.storage_descriptor == UPLOAD_DESCRIPTOR
        assert "bucket-secret-key" not in repr(plane.services.storage_descriptor)
    finally:
        await plane.services.store.close()


async def test_local_storage_through_the_control_plane(
    tmp_path: Path, closing: list[TestPlane]
) -> None:
    media = LocalStorage(tmp_path / "media")
    plane = await plane_with(media, tmp_path)
    closing.append(plane)
    bot_id, token = await new_bot(plane)
    other_id, _ = await new_bot(plane)
    async with runner_client(plane) as client:
        uploads = UploadStorage(client, control_url=CONTROL, bot_id=bot_id, token=token)
        key = chunk_key(bot_id, 0)
        await uploads.put(key, b"pcm bytes", "audio/L16")
        assert await media.get(key) == b"pcm bytes"

        with pytest.raises(UploadFailed, match="403"):  # another bot's key
            await uploads.put(chunk_key(other_id, 0), b"x")
        with pytest.raises(UploadFailed, match="403"):  # the control plane's own segments
            await uploads.put(segment_audio_key(bot_id, 0, "ogg"), b"x")
        assert not await media.exists(segment_audio_key(bot_id, 0, "ogg"))
        assert not await media.exists(chunk_key(other_id, 0))
        thief = UploadStorage(client, control_url=CONTROL, bot_id=other_id, token=token)
        with pytest.raises(UploadFailed, match="401"):  # another bot's token
            await thief.put(chunk_key(other_id, 0), b"x")

        headers = {"Authorization": f"Bearer {token}"}
        put = f"{CONTROL}/internal/bots/{bot_id}/objects/{chunk_key(other_id, 2)}"
        r = await client.put(put, content=b"x", headers=headers)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden_key")
        own = f"{CONTROL}/internal/bots/{bot_id}/objects/{chunk_key(bot_id, 2)}"
        r = await client.put(own, content=b"x", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = await client.put(own, content=b"x" * (MAX_UPLOAD_BYTES + 1), headers=headers)
        assert (r.status_code, r.json()["code"]) == (413, "request_too_large")
        assert not await media.exists(chunk_key(bot_id, 2))
        r = await client.put(own, content=b"x" * (2 * 1024 * 1024), headers=headers)
        assert r.status_code == 204  # a video chunk is larger than the API's 1 MiB cap


async def test_presigned_puts_for_one_key_on_seaweedfs(
    weed: SeaweedProcess, tmp_path: Path, closing: list[TestPlane]
) -> None:
    bucket = weed.server.storage("uploads-test")
    await bucket.ensure_bucket()
    plane = await plane_with(bucket, tmp_path)
    closing.append(plane)
    bot_id, token = await new_bot(plane)
    other_id, _ = await new_bot(plane)
    async with runner_client(plane) as client:
        uploads = UploadStorage(client, control_url=CONTROL, bot_id=bot_id, token=token)
        key = chunk_key(bot_id, 0)
        await uploads.put(key, b"pcm bytes", "audio/L16; rate=16000; channels=1")
        assert await bucket.get(key) == b"pcm bytes"

        target = await uploads.target(chunk_key(bot_id, 2), None)
        assert target.url.startswith(weed.server.endpoint_url)
        assert weed.server.secret_key not in target.url
        # the URL is for that key only: pointed at another bot's key, the bucket refuses it
        forged = target.url.replace(f"bots/{bot_id}/", f"bots/{other_id}/")
        r = await client.put(forged, content=b"stolen")
        assert r.status_code == 403, r.text
        assert not await bucket.exists(chunk_key(other_id, 2))
        with pytest.raises(UploadFailed, match="403"):
            await uploads.target(chunk_key(other_id, 3), None)


async def test_the_spool_rides_out_an_outage_through_presigned_puts(
    weed: SeaweedProcess, tmp_path: Path, closing: list[TestPlane]
) -> None:
    bucket = weed.server.storage("uploads-outage")
    await bucket.ensure_bucket()
    plane = await plane_with(bucket, tmp_path)
    closing.append(plane)
    bot_id, token = await new_bot(plane)
    reports: list[Report] = []
    async with runner_client(plane) as client:
        uploads = UploadStorage(client, control_url=CONTROL, bot_id=bot_id, token=token)
        rec = AudioRecorder(uploads, bot_id, reports.append, FixedClock(datetime.now(UTC)),
                            spool_dir=tmp_path)  # fmt: skip
        writer = asyncio.create_task(rec.run())
        rec.start()
        piece = b"\x01\x00" * 4000  # 250 ms

        async def speak(seconds: float) -> None:
            for _ in range(int(seconds * 4)):
                rec.feed(piece)
                await asyncio.sleep(0.25)

        def stored() -> list[int]:
            return [r.seq for r in reports if isinstance(r, AudioChunk)]

        try:
            await speak(3.0)
            await until(lambda: len(stored()) == 2, 30, what="the first chunks stored")
            await asyncio.to_thread(weed.stop)
            await speak(6.0)
            assert len(stored()) == 2  # nothing stored during the outage
            assert rec.spool.failures > 0
            await asyncio.to_thread(weed.start)
            await speak(1.5)
            await until(lambda: rec.spool.pending == 0, timeout=60, what="the spool emptied")
            await rec.close()
            await writer
        finally:
            if not writer.done():
                writer.cancel()
        n = 42 // 6  # 10.5 s fed in 250 ms pieces, 6 to a chunk
        assert stored() == list(range(n))  # every chunk, in order
        for seq in range(n):
            assert await bucket.get(chunk_key(bot_id, seq)) == piece * 6
    assert not [r for r in reports if isinstance(r, MediaLost)]

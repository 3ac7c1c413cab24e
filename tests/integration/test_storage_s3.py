"""One contract, two backends: LocalStorage (served by a /media route) and S3Storage on a real
SeaweedFS started for this module on free loopback ports."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response

from harness.seaweed import SeaweedS3, free_ports, seaweedfs
from meetbot.errors import MeetbotError
from meetbot.ports import Storage
from meetbot.storage import (
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    StorageUnavailable,
    guess_content_type,
    resolve_media_file,
    storage_from_descriptor,
)
from meetbot.storage.s3 import S3Storage

SECRET = b"contract-secret"
PUBLIC_URL = "http://control-plane.test"


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with seaweedfs(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def media_app(root: Path, secret: bytes) -> FastAPI:
    """The /media route as the API mounts it: parse, call resolve_media_file, send the file."""
    app = FastAPI()

    @app.get("/media/{key:path}")
    def media(key: str, expires: str, signature: str) -> Response:
        try:
            path = resolve_media_file(root, secret, key, expires, signature, time.time())
        except MeetbotError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return FileResponse(path, media_type=guess_content_type(key))

    return app


@dataclass
class Backend:
    storage: Storage
    client: httpx.AsyncClient
    expired_storage: Storage | None
    """Local: the same storage with a clock an hour behind; S3: None (wait for expiry)."""

    async def expired_url(self, key: str) -> str:
        if self.expired_storage is not None:
            return self.expired_storage.signed_url(key, 60)
        url = self.storage.signed_url(key, 1)
        await asyncio.sleep(2.2)
        return url


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "local":
        root = tmp_path / "media"
        storage = LocalStorage(root, SECRET, PUBLIC_URL)
        behind = LocalStorage(root, SECRET, PUBLIC_URL, clock=lambda: time.time() - 3600)
        transport = httpx.ASGITransport(app=media_app(root, SECRET))
        async with httpx.AsyncClient(transport=transport) as client:
            yield Backend(storage, client, behind)
        return
    seaweed: SeaweedS3 = request.getfixturevalue("seaweed")
    s3 = seaweed.storage(f"contract-{uuid.uuid4().hex[:12]}")
    try:
        async with httpx.AsyncClient() as client:
            yield Backend(s3, client, None)
    finally:
        s3.close()


async def test_put_get_exists(backend: Backend) -> None:
    storage = backend.storage
    await storage.put("bots/b1/chunks/00000000.pcm", b"\x00\x01" * 4000)
    await storage.put("bots/b1/recording.ogg", b"OggS...", "audio/ogg")
    assert await storage.get("bots/b1/chunks/00000000.pcm") == b"\x00\x01" * 4000
    assert await storage.exists("bots/b1/recording.ogg")
    assert not await storage.exists("bots/b1/recording.mp3")
    await storage.put("bots/b1/recording.ogg", b"")  # overwrite, empty is allowed
    assert await storage.get("bots/b1/recording.ogg") == b""
    with pytest.raises(ObjectNotFound):
        await storage.get("bots/b1/nothing")


async def test_list_and_delete_prefix(backend: Backend) -> None:
    storage = backend.storage
    keys = [f"bots/b1/chunks/{seq:08d}.pcm" for seq in (2, 0, 1)]
    await asyncio.gather(*(storage.put(k, b"x") for k in keys))
    await storage.put("bots/b10/recording.wav", b"y")
    await storage.put("bots/b2/recording.wav", b"z")
    assert await storage.list("bots/b1/chunks/") == sorted(keys)
    assert await storage.list("bots/b1") == [*sorted(keys), "bots/b10/recording.wav"]
    assert await storage.list("none/") == []
    await storage.delete_prefix("bots/b1/")
    assert await storage.list("bots/") == ["bots/b10/recording.wav", "bots/b2/recording.wav"]
    await storage.delete_prefix("bots/nothing-here/")  # deleting nothing is fine
    with pytest.raises(InvalidKey):
        await storage.delete_prefix("")


async def test_invalid_keys_rejected_by_both(backend: Backend) -> None:
    for key in ("", "/abs", "a/../b", "a//b"):
        with pytest.raises(InvalidKey):
            await backend.storage.put(key, b"x")


async def test_signed_url_serves_the_bytes(backend: Backend) -> None:
    data = bytes(range(256)) * 100
    await backend.storage.put("bots/b1/recording.mp3", data, "audio/mpeg")
    response = await backend.client.get(backend.storage.signed_url("bots/b1/recording.mp3", 300))
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"].startswith("audio/mpeg")


async def test_a_debug_artifact_link_is_a_download(seaweed: SeaweedS3) -> None:
    """S3 serves the HTML of a page the bot met as an attachment (issue 12); the API's own
    /media route is checked in test_media_pipeline."""
    s3 = seaweed.storage(f"debug-{uuid.uuid4().hex[:12]}")
    try:
        await s3.put("bots/b1/debug/0001-odd.html", b"<script>1</script>", "text/html")
        await s3.put("bots/b1/recording.mp3", b"ID3")
        async with httpx.AsyncClient() as client:
            page = await client.get(s3.signed_url("bots/b1/debug/0001-odd.html", 300))
            audio = await client.get(s3.signed_url("bots/b1/recording.mp3", 300))
    finally:
        s3.close()
    assert page.status_code == 200, page.text
    assert page.headers["content-disposition"] == "attachment"
    assert "content-disposition" not in audio.headers


async def test_tampered_signed_urls_fail(backend: Backend) -> None:
    await backend.storage.put("bots/b1/recording.ogg", b"secret audio")
    await backend.storage.put("bots/b2/recording.ogg", b"someone else's audio")
    url = backend.storage.signed_url("bots/b1/recording.ogg", 300)
    other_key = url.replace("bots/b1/", "bots/b2/")
    sig_start = url.rindex("ignature=") + len("ignature=")
    flipped = "1" if url[sig_start] != "1" else "2"
    other_signature = url[:sig_start] + flipped + url[sig_start + 1 :]
    for bad in (other_key, other_signature):
        response = await backend.client.get(bad)
        assert response.status_code == 403, bad
        assert b"audio" not in response.content


async def test_expired_signed_url_fails(backend: Backend) -> None:
    await backend.storage.put("bots/b1/recording.wav", b"RIFF")
    response = await backend.client.get(await backend.expired_url("bots/b1/recording.wav"))
    assert response.status_code == 403


async def test_runner_opens_s3_from_descriptor(seaweed: SeaweedS3) -> None:
    bucket = f"runner-{uuid.uuid4().hex[:12]}"
    runner = storage_from_descriptor(seaweed.descriptor(bucket))
    assert isinstance(runner, S3Storage)
    try:
        await runner.put("bots/b/chunks/00000000.pcm", b"pcm")
        control = seaweed.storage(bucket)
        assert await control.get("bots/b/chunks/00000000.pcm") == b"pcm"
        control.close()
    finally:
        runner.close()


async def test_list_and_delete_paginate_past_1000(seaweed: SeaweedS3) -> None:
    storage = seaweed.storage(f"many-{uuid.uuid4().hex[:12]}")
    try:
        keys = [f"bots/b/chunks/{seq:08d}.pcm" for seq in range(1100)]
        semaphore = asyncio.Semaphore(16)

        async def put(key: str) -> None:
            async with semaphore:
                await storage.put(key, b"")

        await asyncio.gather(*(put(k) for k in keys))
        assert await storage.list("bots/b/") == keys
        await storage.delete_prefix("bots/")
        assert await storage.list("") == []
    finally:
        storage.close()


async def test_unreachable_endpoint_is_storage_unavailable() -> None:
    port = free_ports(1)[0]
    endpoint = f"http://127.0.0.1:{port}"
    storage = S3Storage(endpoint, "nope", "us-east-1", "ak", "sk", startup_timeout=0.5)
    try:
        with pytest.raises(StorageUnavailable):
            await storage.put("k", b"x")
    finally:
        storage.close()

"""LocalStorage: key rules, atomic writes, signed /media links."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from meetbot.config import Settings
from meetbot.errors import NotFound
from meetbot.storage import (
    InvalidKey,
    InvalidMediaSignature,
    LocalStorage,
    ObjectNotFound,
    guess_content_type,
    media_signature,
    open_storage,
    resolve_media_file,
    storage_descriptor,
    storage_from_descriptor,
    validate_key,
    validate_prefix,
    verify_media_signature,
)

SECRET = b"test-secret-0123456789"
NOW = 1_800_000_000


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", SECRET, "http://cp.test:8000/", clock=lambda: NOW)


# --- key rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "bots/b1/chunks/00000012.pcm",
        "bots/b1/recording.ogg",
        "a",
        "unicode/réunion.wav",
        "with space/and-dash_under.x",
    ],
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs/path",
        "../escape",
        "bots/../../etc/passwd",
        "bots/./x",
        "bots//x",
        "bots/x/",
        ".hidden",
        "bots/.tmp/x",
        "back\\slash",
        "nul\x00byte",
        "new\nline",
        "x" * 1025,
    ],
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)


@pytest.mark.parametrize("prefix", ["", "bots/", "bots/b1/chunks/", "bots/b1/chunks/0000"])
def test_valid_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/bots/", "../", "bots//", "bots/../"])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        validate_prefix(prefix)


async def test_every_operation_checks_the_key(storage: LocalStorage) -> None:
    with pytest.raises(InvalidKey):
        await storage.put("../x", b"")
    with pytest.raises(InvalidKey):
        await storage.get("/etc/passwd")
    with pytest.raises(InvalidKey):
        await storage.exists("a//b")
    with pytest.raises(InvalidKey):
        await storage.list("../")
    with pytest.raises(InvalidKey):
        await storage.delete_prefix("")
    with pytest.raises(InvalidKey):
        storage.signed_url("../x", 60)
    assert not (storage.root.parent / "x").exists()


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("bots/b/recording.ogg", "audio/ogg"),
        ("bots/b/recording.mp3", "audio/mpeg"),
        ("bots/b/recording.wav", "audio/wav"),
        ("bots/b/chunks/00000001.pcm", "application/octet-stream"),
        ("bots/b/noext", "application/octet-stream"),
    ],
)
def test_content_types(key: str, content_type: str) -> None:
    assert guess_content_type(key) == content_type


# --- basic operations and atomic writes -----------------------------------------------------


async def test_put_get_exists_list_delete(storage: LocalStorage) -> None:
    await storage.put("bots/b1/chunks/00000001.pcm", b"one")
    await storage.put("bots/b1/chunks/00000000.pcm", b"zero")
    await storage.put("bots/b10/recording.ogg", b"other bot")
    assert await storage.get("bots/b1/chunks/00000000.pcm") == b"zero"
    assert await storage.exists("bots/b1/chunks/00000001.pcm")
    assert not await storage.exists("bots/b1/chunks/00000002.pcm")
    assert not await storage.exists("bots/b1/chunks")  # a directory is not an object
    assert await storage.list("bots/b1/") == [
        "bots/b1/chunks/00000000.pcm",
        "bots/b1/chunks/00000001.pcm",
    ]
    assert await storage.list("bots/b1") == [  # a plain string prefix, as in S3
        "bots/b1/chunks/00000000.pcm",
        "bots/b1/chunks/00000001.pcm",
        "bots/b10/recording.ogg",
    ]
    assert await storage.list("nothing/") == []
    await storage.delete_prefix("bots/b1/")
    assert await storage.list("") == ["bots/b10/recording.ogg"]
    assert not (storage.root / "bots" / "b1").exists()  # empty directories pruned
    with pytest.raises(ObjectNotFound):
        await storage.get("bots/b1/chunks/00000000.pcm")


async def test_overwrite_replaces_whole_object(storage: LocalStorage) -> None:
    await storage.put("k/v", b"a" * 10_000)
    await storage.put("k/v", b"b")
    assert await storage.get("k/v") == b"b"
    assert os.listdir(storage.root / "k") == ["v"]  # no temporary file left behind


async def test_failed_write_leaves_no_trace(storage: LocalStorage) -> None:
    (storage.root / "k" / "dir").mkdir(parents=True)  # rename over a directory fails
    with pytest.raises(OSError, match="directory"):
        await storage.put("k/dir", b"data")
    assert os.listdir(storage.root / "k") == ["dir"]
    assert await storage.list("k/") == []


async def test_leftover_temp_files_are_invisible_and_deleted(storage: LocalStorage) -> None:
    await storage.put("bots/b/chunks/00000000.pcm", b"x")
    crash_leftover = storage.root / "bots" / "b" / "chunks" / ".00000001.pcm.abc123.tmp"
    crash_leftover.write_bytes(b"half a chunk")
    assert await storage.list("bots/b/") == ["bots/b/chunks/00000000.pcm"]
    await storage.delete_prefix("bots/b/")
    assert not (storage.root / "bots").exists()


def test_killed_writer_never_leaves_half_an_object(tmp_path: Path) -> None:
    """SIGKILL a process that keeps overwriting one key: what is there is one whole write."""
    size = 1 << 20
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from meetbot.storage import LocalStorage

        async def main() -> None:
            storage = LocalStorage(Path(sys.argv[1]))
            n = 0
            while True:
                await storage.put("bots/b/chunks/00000000.pcm", bytes([n % 256]) * {size})
                n += 1
                print(n, flush=True)

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "1"
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    data = (tmp_path / "bots" / "b" / "chunks" / "00000000.pcm").read_bytes()
    assert len(data) == size
    assert data == data[:1] * size


# --- signed links ---------------------------------------------------------------------------


def _link_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return unquote(parts.path.removeprefix("/media/")), query["expires"][0], query["signature"][0]


def test_signed_url_shape(storage: LocalStorage) -> None:
    url = storage.signed_url("bots/b 1/recording.ogg", 900)
    assert url.startswith("http://cp.test:8000/media/bots/b%201/recording.ogg?expires=")
    key, expires, signature = _link_parts(url)
    assert key == "bots/b 1/recording.ogg"
    assert expires == str(NOW + 900)
    assert len(signature) == 64
    assert verify_media_signature(SECRET, key, expires, signature, NOW)
    assert verify_media_signature(SECRET, key, int(expires), signature.upper(), float(NOW))


def test_signature_expiry() -> None:
    sig = media_signature(SECRET, "k", NOW)
    assert verify_media_signature(SECRET, "k", NOW, sig, NOW)  # valid through its last second
    assert not verify_media_signature(SECRET, "k", NOW, sig, NOW + 1)
    moment = datetime.fromtimestamp(NOW - 5, UTC)
    assert verify_media_signature(SECRET, "k", NOW, sig, moment)


@pytest.mark.parametrize(
    ("secret", "key", "expires", "signature_of"),
    [
        (b"other-secret", "k", str(NOW + 60), None),
        (SECRET, "k2", str(NOW + 60), None),
        (SECRET, "k", str(NOW + 61), None),  # a later expiry needs a new signature
        (SECRET, "k", f"0{NOW + 60}", None),  # same number, other spelling
        (SECRET, "k", "soon", None),
        (SECRET, "k", str(NOW + 60), "0" * 64),
        (SECRET, "k", str(NOW + 60), ""),
        (SECRET, "k", str(NOW + 60), "é" * 64),
        (b"", "k", str(NOW + 60), None),
    ],
)
def test_tampered_links_fail(
    secret: bytes, key: str, expires: str, signature_of: str | None
) -> None:
    good = media_signature(SECRET, "k", NOW + 60)
    signature = good if signature_of is None else signature_of
    assert not verify_media_signature(secret, key, expires, signature, NOW)


def test_resolve_media_file(storage: LocalStorage) -> None:
    path = storage.root / "bots" / "b" / "recording.ogg"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"OggS")
    key, expires, signature = _link_parts(storage.signed_url("bots/b/recording.ogg", 60))
    assert resolve_media_file(storage.root, SECRET, key, expires, signature, NOW) == path
    with pytest.raises(InvalidMediaSignature, match="expired") as expired:
        resolve_media_file(storage.root, SECRET, key, expires, signature, NOW + 61)
    assert expired.value.status == 403
    with pytest.raises(InvalidMediaSignature, match="invalid"):
        resolve_media_file(storage.root, SECRET, "bots/b/other.ogg", expires, signature, NOW)
    gone = storage.signed_url("bots/b/missing.ogg", 60)
    with pytest.raises(NotFound):
        resolve_media_file(storage.root, SECRET, *_link_parts(gone), NOW)


def test_runner_side_storage_cannot_sign(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="control plane"):
        LocalStorage(tmp_path).signed_url("k", 60)


# --- factory and descriptors ----------------------------------------------------------------


async def test_descriptor_round_trip_local(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="http://cp.test")
    control = open_storage(settings, SECRET)
    descriptor = storage_descriptor(settings)
    assert descriptor == {"kind": "local", "root": str((tmp_path / "media").resolve())}
    assert "secret" not in str(descriptor)
    runner = storage_from_descriptor(descriptor)
    await runner.put("bots/b/chunks/00000000.pcm", b"pcm")
    assert await control.get("bots/b/chunks/00000000.pcm") == b"pcm"
    assert control.signed_url("bots/b/chunks/00000000.pcm", 60).startswith("http://cp.test/media/")


def test_descriptor_for_s3_settings() -> None:
    settings = Settings(
        storage="s3",
        s3_endpoint_url="http://127.0.0.1:1",
        s3_bucket="media",
        s3_access_key="ak",
        s3_secret_key="sk",
    )
    assert storage_descriptor(settings) == {
        "kind": "s3",
        "endpoint_url": "http://127.0.0.1:1",
        "bucket": "media",
        "region": "us-east-1",
        "access_key": "ak",
        "secret_key": "sk",
    }


@pytest.mark.parametrize(
    "descriptor",
    [{}, {"kind": "ftp"}, {"kind": "local", "root": "relative"}, {"kind": "s3", "bucket": ""}],
)
def test_bad_descriptors(descriptor: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="storage"):
        storage_from_descriptor(descriptor)

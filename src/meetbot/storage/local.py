"""Media in a local directory: atomic writes, and signed ``/media`` links served by the API."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from meetbot.contract.storage_keys import validate_key, validate_prefix
from meetbot.errors import NotFound
from meetbot.storage.errors import InvalidKey, InvalidMediaSignature, ObjectNotFound
from meetbot.storage.signing import is_expired, signed_media_url, verify_media_signature

_TEMP_SUFFIX = ".tmp"


class LocalStorage:
    """The :class:`meetbot.ports.Storage` of one directory.

    The runner opens it with only ``root`` (it writes, never signs); the control plane also
    passes the signing ``secret`` and its ``public_url`` so it can make ``/media`` links.
    A write goes to a hidden temporary file in the target directory, is fsynced, then renamed
    over the key, so a crash leaves either the old object, the new one, or none, never half.
    """

    def __init__(
        self,
        root: Path,
        secret: bytes | None = None,
        public_url: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._root = Path(root).resolve()
        self._secret = secret
        self._public_url = public_url
        self._clock = clock

    @property
    def root(self) -> Path:
        return self._root

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self._path(key)
        await asyncio.to_thread(_write_atomically, path, data)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def list(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        return await asyncio.to_thread(_list_keys, self._root, prefix, False)

    async def delete_prefix(self, prefix: str) -> None:
        if not prefix:
            raise InvalidKey("Refusing to delete everything: delete_prefix needs a prefix.")
        validate_prefix(prefix)
        await asyncio.to_thread(self._delete_sync, prefix)

    def signed_url(self, key: str, ttl_seconds: int) -> str:
        validate_key(key)
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1.")
        if not self._secret or not self._public_url:
            raise RuntimeError(
                "This LocalStorage has no signing secret or public URL: signed links are made "
                "by the control plane (open_storage), not by runners."
            )
        expires = int(self._clock()) + ttl_seconds
        return signed_media_url(self._public_url, self._secret, key, expires)

    # --- helpers ----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*validate_key(key).split("/"))

    def _delete_sync(self, prefix: str) -> None:
        dirs: set[Path] = set()
        for key in _list_keys(self._root, prefix, True):
            path = self._root.joinpath(*key.split("/"))
            path.unlink(missing_ok=True)
            dirs.add(path.parent)
        for directory in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
            _remove_empty_parents(directory, self._root)


def resolve_media_file(
    root: Path,
    secret: bytes,
    key: str,
    expires: int | str,
    signature: str,
    now: datetime | float,
) -> Path:
    """The file a signed ``GET /media/{key}`` link names, for the API route to send.

    Raises :class:`InvalidMediaSignature` (403) for a bad or expired link, :class:`InvalidKey`
    (400) for a malformed key and :class:`meetbot.errors.NotFound` (404) when no file is there.
    Touches the file system (one ``stat``); cheap enough to call from the route directly.
    """
    if not verify_media_signature(secret, key, expires, signature, now):
        detail = (
            "This media link has expired."
            if is_expired(expires, now)
            else ("This media link's signature is invalid.")
        )
        raise InvalidMediaSignature(detail)
    base = Path(root).resolve()
    path = base.joinpath(*validate_key(key).split("/")).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise NotFound("No media at this link.")
    return path


def _list_keys(root: Path, prefix: str, include_temp: bool) -> list[str]:
    return sorted(k for k in _walk(root, prefix, include_temp) if k.startswith(prefix))


def _write_atomically(path: Path, data: bytes) -> None:
    for attempt in range(3):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent
            )
        except FileNotFoundError:  # the directory was pruned by a concurrent delete_prefix
            if attempt == 2:
                raise
            continue
        break
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _walk(root: Path, prefix: str, include_temp: bool) -> Iterator[str]:
    """Keys (relative paths) under the deepest directory that ``prefix`` names entirely."""
    head = prefix if prefix.endswith("/") or not prefix else prefix.rpartition("/")[0]
    start = root.joinpath(*[s for s in head.split("/") if s])
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            hidden = name.startswith(".")
            if hidden and not (include_temp and name.endswith(_TEMP_SUFFIX)):
                continue
            yield name if rel == "." else f"{rel}/{name}"


def _remove_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:  # not empty (or already gone): stop climbing
            if directory.exists():
                return
        directory = directory.parent

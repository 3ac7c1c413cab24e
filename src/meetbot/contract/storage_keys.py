"""The rules every storage key follows, whichever backend stores it.

A key is a relative, ``/``-separated path such as ``bots/<bot_id>/chunks/00000012.pcm``: no
leading ``/``, no empty, ``.`` or ``..`` segment, no segment starting with ``.`` (reserved for
the local backend's temporary files), no backslash or control character, at most 1024 bytes.
"""

from __future__ import annotations

import mimetypes
from typing import ClassVar

from meetbot.errors import InvalidRequest

MAX_KEY_BYTES = 1024


class InvalidKey(InvalidRequest):
    """A storage key or prefix breaks the key rules (see :func:`validate_key`)."""

    code: ClassVar[str] = "invalid_storage_key"


_CONTENT_TYPES = {
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "pcm": "application/octet-stream",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "png": "image/png",
}


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it follows the key rules; raise :class:`InvalidKey` if not."""
    if not key:
        raise InvalidKey("A storage key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"A storage key must be at most {MAX_KEY_BYTES} bytes.")
    if key.startswith("/"):
        raise InvalidKey(f"A storage key must be relative, not {key!r}.")
    for segment in key.split("/"):
        _check_segment(key, segment)
    return key


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key`, but ``""`` (everything) and a trailing ``/`` are allowed."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


def guess_content_type(key: str) -> str:
    """The content type to serve a key with, from its extension."""
    ext = key.rpartition(".")[2].lower() if "." in key.rpartition("/")[2] else ""
    if ext in _CONTENT_TYPES:
        return _CONTENT_TYPES[ext]
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or "application/octet-stream"


def _check_segment(key: str, segment: str) -> None:
    if not segment:
        raise InvalidKey(f"Empty path segment in storage key {key!r}.")
    if segment.startswith("."):
        raise InvalidKey(f"Storage key segments must not start with '.': {key!r}.")
    if "\\" in segment or any(ord(c) < 0x20 or ord(c) == 0x7F for c in segment):
        raise InvalidKey(f"Backslash or control character in storage key {key!r}.")

"""The bot's picture (issue 16 §4, ``bot_image`` and ``output_video``): what an image must be.

A client sends a PNG or JPEG as base64 (plain or a ``data:image/...;base64,`` URL) or as an
``https://`` URL that the control plane fetches under the webhook egress rules
(:mod:`meetbot.control.webhooks.image_fetch`). Either way the bytes are checked here before
they are stored: at most :data:`MAX_BYTES`, the format's magic bytes, dimensions read from
the header (PNG: an ``IHDR`` with a good CRC and image data that inflates; JPEG: a start-of-
frame marker) and sane (1 to :data:`MAX_SIDE` pixels a side). The browser draws it later; a
file that passes here but does not decode there leaves the bot's tile as it was.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

from meetbot import errors

MAX_BYTES = 2 * 1024 * 1024
"""The largest image accepted (2 MB, decoded)."""
MAX_SIDE = 4096
"""The largest width or height accepted, in pixels."""
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg);base64,", re.IGNORECASE)
_MAX_BASE64 = (MAX_BYTES + 2) // 3 * 4 + 4096
"""A base64 text longer than this decodes to more than :data:`MAX_BYTES` (whitespace aside)."""


class InvalidBotImage(errors.InvalidRequest):
    """``bot_image`` (or an ``output_video`` image) is not a usable PNG or JPEG."""

    code = "invalid_bot_image"


class InvalidBotImageUrl(errors.InvalidRequest):
    """The image URL is malformed, not https, names an address the egress rules refuse, or
    could not be fetched."""

    code = "invalid_bot_image_url"


@dataclass(frozen=True, slots=True)
class BotImage:
    """A checked image, ready to store."""

    data: bytes
    kind: Literal["png", "jpeg"]
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return f"image/{self.kind}"

    @property
    def digest(self) -> str:
        """The first 16 hex digits of its SHA-256 (its storage key's name)."""
        return hashlib.sha256(self.data).hexdigest()[:16]


def is_url(value: str) -> bool:
    """Whether ``value`` is meant as a URL to fetch (not base64)."""
    head = value[:8].lower()
    return head.startswith(("https:", "http:"))


def decode_base64(value: str) -> bytes:
    """The bytes of plain base64 or a ``data:image/png|jpeg;base64,`` URL."""
    if len(value) > _MAX_BASE64:
        raise InvalidBotImage(f"the image is larger than {MAX_BYTES // (1024 * 1024)} MB")
    match = _DATA_URL.match(value)
    if value[:5].lower() == "data:" and match is None:
        raise InvalidBotImage("a data URL must be data:image/png or data:image/jpeg, base64")
    text = value[match.end() :] if match else value
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBotImage("the image is neither an https URL nor valid base64") from None


def check_image(data: bytes) -> BotImage:
    """Check a PNG or JPEG's bytes; raise :class:`InvalidBotImage` saying what is wrong."""
    if len(data) > MAX_BYTES:
        raise InvalidBotImage(f"the image is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if data.startswith(_PNG_MAGIC):
        width, height = _png_size(data)
        kind: Literal["png", "jpeg"] = "png"
    elif data.startswith(_JPEG_MAGIC):
        width, height = _jpeg_size(data)
        kind = "jpeg"
    else:
        raise InvalidBotImage("the image must be a PNG or a JPEG")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InvalidBotImage(
            f"the image is {width}x{height}: each side must be 1 to {MAX_SIDE} pixels"
        )
    return BotImage(data, kind, width, height)


def _png_size(data: bytes) -> tuple[int, int]:
    pos = len(_PNG_MAGIC)
    width = height = 0
    inflater = zlib.decompressobj()
    seen_idat = False
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        crc_at = pos + 8 + length
        if len(body) != length or crc_at + 4 > len(data):
            break
        if pos == len(_PNG_MAGIC) and (kind != b"IHDR" or length != 13):
            raise InvalidBotImage("the PNG has no header (IHDR)")
        (crc,) = struct.unpack(">I", data[crc_at : crc_at + 4])
        if zlib.crc32(kind + body) != crc:
            raise InvalidBotImage(f"the PNG's {kind.decode('latin-1')} chunk is damaged")
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            seen_idat = True
            try:
                inflater.decompress(body, 1 << 16)  # a bounded look: it must inflate
            except zlib.error:
                raise InvalidBotImage("the PNG's image data does not decompress") from None
        elif kind == b"IEND":
            if not seen_idat:
                raise InvalidBotImage("the PNG has no image data")
            return width, height
        pos = crc_at + 4
    raise InvalidBotImage("the PNG is truncated")


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            break
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA:  # scan data before any frame header
            break
        pos += 2 + length
    raise InvalidBotImage("the JPEG has no readable frame header (dimensions)")

"""The bot's picture: what ``bot_image`` / ``output_video`` accept (issue 16 §4)."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from meetbot.control.bot_image import (
    MAX_BYTES,
    InvalidBotImage,
    check_image,
    decode_base64,
    is_url,
)
from meetbot.testing.builders import solid_png

RED = solid_png(8, 4, (255, 0, 0))


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG: SOI, an APP0, then SOF0 with the dimensions."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 16


def test_a_png_is_read_with_its_dimensions() -> None:
    image = check_image(RED)
    assert (image.kind, image.width, image.height) == ("png", 8, 4)
    assert image.content_type == "image/png"
    assert len(image.digest) == 16


def test_a_jpeg_is_read_from_its_frame_header() -> None:
    image = check_image(jpeg_header(640, 480))
    assert (image.kind, image.width, image.height) == ("jpeg", 640, 480)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"GIF89a" + b"\x00" * 20, "PNG or a JPEG"),
        (b"", "PNG or a JPEG"),
        (RED[:30], "truncated"),
        (RED[:23] + b"\x05" + RED[24:], "damaged"),  # IHDR's CRC no longer matches
        (solid_png(0, 4, (0, 0, 0)), "each side"),
        (solid_png(4097, 1, (0, 0, 0)), "each side"),
        (jpeg_header(0, 10), "each side"),
        (b"\xff\xd8\xff\xda" + b"\x00" * 40, "frame header"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "header"),
    ],
)
def test_what_is_not_a_usable_image_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(InvalidBotImage, match=why) as refused:
        check_image(data)
    assert refused.value.code == "invalid_bot_image"


def test_png_data_that_does_not_inflate_is_refused() -> None:
    body = b"not zlib at all"
    idat = (
        struct.pack(">I", len(body))
        + b"IDAT"
        + body
        + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    )
    broken = RED[:33] + idat + RED[-12:]  # magic + IHDR, a bad IDAT, IEND
    with pytest.raises(InvalidBotImage, match="decompress"):
        check_image(broken)


def test_more_than_two_megabytes_is_refused() -> None:
    with pytest.raises(InvalidBotImage, match="2 MB"):
        check_image(RED + b"\x00" * MAX_BYTES)
    with pytest.raises(InvalidBotImage, match="2 MB"):
        decode_base64("A" * (MAX_BYTES * 2))


def test_base64_plain_or_as_a_data_url() -> None:
    text = base64.b64encode(RED).decode()
    assert decode_base64(text) == RED
    assert decode_base64(f"data:image/png;base64,{text}") == RED
    assert decode_base64(text[:40] + "\n" + text[40:]) == RED  # line breaks are ignored
    with pytest.raises(InvalidBotImage, match="base64"):
        decode_base64("not base64!")
    with pytest.raises(InvalidBotImage, match="data URL"):
        decode_base64(f"data:image/gif;base64,{text}")


def test_urls_are_told_from_base64() -> None:
    assert is_url("https://example.com/a.png")
    assert is_url("HTTP://example.com/a.png")
    assert not is_url(base64.b64encode(RED).decode())

"""Builders for domain values in tests."""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

from meetbot.contract.lifecycle import Status
from meetbot.contract.models import Bot, BotKind, MeetingRef, Platform, StatusChange, StopOptions

DEFAULT_TIME = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_bot(**overrides: Any) -> Bot:
    """A valid bot; any field can be overridden."""
    status: Status = overrides.pop("status", Status.SCHEDULED)
    at: datetime = overrides.pop("created_at", DEFAULT_TIME)
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "workspace_id": "ws-test",
        "meeting": MeetingRef(
            Platform.GOOGLE_MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"
        ),
        "bot_name": "Meeting Bot",
        "join_at": None,
        "kind": BotKind.SCHEDULED if status is Status.SCHEDULED else BotKind.ADHOC,
        "status": status,
        "metadata": {},
        "stop_options": StopOptions(),
        "transcription_model": "whisper-base",
        "created_at": at,
        "updated_at": at,
        "status_changes": (StatusChange(status, None, None, None, at),),
    }
    values.update(overrides)
    return Bot(**values)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (8-bit RGB): a bot's picture in tests."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )

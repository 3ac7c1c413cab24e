"""Builders for domain values in tests."""

from __future__ import annotations

import uuid
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

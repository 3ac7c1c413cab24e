"""Bot rows: a :class:`~meetbot.contract.models.Bot` to the values of its row and back, and its
status changes (:mod:`meetbot.control.store.bots` reads and writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from meetbot.contract.lifecycle import ENDED, Status, StopReason, SubStatus
from meetbot.contract.models import (
    Bot,
    BotKind,
    MeetingRef,
    Platform,
    RealtimeEndpoint,
    RecordingOptions,
    StatusChange,
    StopOptions,
)

_E = TypeVar("_E", SubStatus, StopReason)


def dedup_active(bot: Bot) -> str | None:
    """The value of the ``dedup_active`` column: the key while the bot is alive, else NULL."""
    return None if bot.status in ENDED else bot.deduplication_key


def bot_values(bot: Bot) -> dict[str, Any]:
    """The row of a bot, minus ``seq``."""
    return {
        "id": bot.id,
        "workspace_id": bot.workspace_id,
        "platform": bot.meeting.platform.value,
        "meeting_url": bot.meeting.url,
        "meeting_id": bot.meeting.meeting_id,
        "passcode": bot.meeting.passcode,
        "bot_name": bot.bot_name,
        "join_at": bot.join_at,
        "kind": bot.kind.value,
        "status": bot.status.value,
        "sub_status": _opt(bot.sub_status),
        "stop_reason": _opt(bot.stop_reason),
        "sub_code": bot.sub_code,
        "message": bot.message,
        "detection_retries": bot.detection_retries,
        "metadata": dict(bot.metadata),
        "stop_options": bot.stop_options.as_dict(),
        "recording": bot.recording.as_dict(),
        "transcription_model": bot.transcription_model,
        "deduplication_key": bot.deduplication_key,
        "dedup_active": dedup_active(bot),
        "webhook_url": bot.webhook_url,
        "webhook_secret": bot.webhook_secret,
        "runner_token_hash": bot.runner_token_hash,
        "leave_requested_at": bot.leave_requested_at,
        "last_seen_at": bot.last_seen_at,
        "dispatched_at": bot.dispatched_at,
        "created_at": bot.created_at,
        "updated_at": bot.updated_at,
        "credentials_ciphertext": bot.credentials_ciphertext,
        "credential_kinds": list(bot.credential_kinds) if bot.credential_kinds else None,
        "expected_duration": bot.expected_duration,
        "bot_image": bot.bot_image,
        "realtime_endpoints": (
            [e.as_dict() for e in bot.realtime_endpoints] if bot.realtime_endpoints else None
        ),
    }


def change_values(bot_id: str, ordinal: int, change: StatusChange) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "ordinal": ordinal,
        "status": change.status.value,
        "sub_status": _opt(change.sub_status),
        "stop_reason": _opt(change.stop_reason),
        "sub_code": change.sub_code,
        "at": change.at,
        "message": change.message,
    }


def change_from_row(row: sa.RowMapping) -> StatusChange:
    return StatusChange(
        status=Status(row["status"]),
        sub_status=_enum(SubStatus, row["sub_status"]),
        stop_reason=_enum(StopReason, row["stop_reason"]),
        sub_code=row["sub_code"],
        at=row["at"],
        message=row["message"],
    )


def bot_from_row(row: sa.RowMapping, changes: Sequence[StatusChange] = ()) -> Bot:
    return Bot(
        seq=row["seq"],
        id=row["id"],
        workspace_id=row["workspace_id"],
        meeting=MeetingRef(
            platform=Platform(row["platform"]),
            url=row["meeting_url"],
            meeting_id=row["meeting_id"],
            passcode=row["passcode"],
        ),
        bot_name=row["bot_name"],
        join_at=row["join_at"],
        kind=BotKind(row["kind"]),
        status=Status(row["status"]),
        sub_status=_enum(SubStatus, row["sub_status"]),
        stop_reason=_enum(StopReason, row["stop_reason"]),
        sub_code=row["sub_code"],
        message=row["message"],
        detection_retries=row["detection_retries"],
        metadata=dict(row["metadata"]),
        stop_options=StopOptions(**row["stop_options"]),
        recording=RecordingOptions(**row["recording"]),
        transcription_model=row["transcription_model"],
        deduplication_key=row["deduplication_key"],
        webhook_url=row["webhook_url"],
        webhook_secret=row["webhook_secret"],
        runner_token_hash=row["runner_token_hash"],
        leave_requested_at=row["leave_requested_at"],
        last_seen_at=row["last_seen_at"],
        dispatched_at=row["dispatched_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status_changes=tuple(changes),
        credentials_ciphertext=row["credentials_ciphertext"],
        credential_kinds=tuple(row["credential_kinds"] or ()),
        expected_duration=row["expected_duration"],
        bot_image=row["bot_image"],
        realtime_endpoints=tuple(
            RealtimeEndpoint.from_dict(e) for e in row["realtime_endpoints"] or ()
        ),
    )


def _opt(value: SubStatus | StopReason | None) -> str | None:
    return None if value is None else value.value


def _enum(cls: type[_E], value: str | None) -> _E | None:
    return None if value is None else cls(value)

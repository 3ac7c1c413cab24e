"""The API's representation of a bot: one pydantic model (:class:`BotOut`) is both the
OpenAPI schema and the serialiser, built from the domain value by :meth:`BotOut.of`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, Field

from meetbot.contract.models import CREDENTIAL_KINDS, Bot, StatusChange
from meetbot.contract.platforms import Platform
from meetbot.control.realtime_endpoints import shown_url
from meetbot.timefmt import iso


def credential_flags(kinds: Collection[str]) -> dict[str, bool]:
    """Which credential kinds are set (``{"google": true, ...}``); never their values."""
    return {kind: kind in kinds for kind in CREDENTIAL_KINDS}


class StatusChangeOut(BaseModel):
    status: str
    sub_status: str | None
    stop_reason: str | None
    sub_code: str | None
    message: str | None = Field(
        None, description="Why the bot ended or stopped, for people (null for other changes)"
    )
    at: str


class BotOut(BaseModel):
    """The bot object. Times are ISO 8601, UTC, milliseconds."""

    id: str
    meeting_url: str
    platform: Platform
    bot_name: str
    join_at: str | None
    expected_duration: int | None = Field(
        description="Minutes, as given (null: MEETBOT_RESERVATION_MINUTES)"
    )
    kind: Literal["scheduled", "adhoc"]
    status: str
    sub_status: str | None
    stop_reason: str | None
    sub_code: str | None
    message: str | None = Field(
        None, description="Why the bot ended or stopped, for people (its latest such change's)"
    )
    metadata: dict[str, str]
    stop_options: dict[str, int]
    transcription_model: str
    recording: dict[str, Any]
    deduplication_key: str | None
    webhook_url: str | None
    status_changes: list[StatusChangeOut]
    created_at: str
    updated_at: str
    credentials: dict[str, bool] = Field(
        description="Which of the bot's own credentials are set (never their values)"
    )
    realtime_endpoints: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Where the bot pushes its real-time frames: `type`, `events` and `url`"
        " without its query (where a receiver's token usually is)",
    )
    webhook_secret: str | None = Field(
        None,
        description="Only in the response that gave the bot its first webhook_url (create or"
        " PATCH).",
    )


def _status_change(change: StatusChange) -> StatusChangeOut:
    return StatusChangeOut.model_construct(
        status=change.status.value,
        sub_status=change.sub_status.value if change.sub_status else None,
        stop_reason=change.stop_reason.value if change.stop_reason else None,
        sub_code=change.sub_code,
        message=change.message,
        at=iso(change.at),
    )


def bot_out(bot: Bot, *, include_secret: bool = False) -> BotOut:
    """The bot as the API shows it; ``webhook_secret`` only with ``include_secret`` (the create
    answer). Built without validation: the domain value is valid by construction."""
    fields: dict[str, Any] = {
        "id": bot.id,
        "meeting_url": bot.meeting.url,
        "platform": bot.meeting.platform,
        "bot_name": bot.bot_name,
        "join_at": iso(bot.join_at) if bot.join_at else None,
        "expected_duration": bot.expected_duration,
        "kind": bot.kind.value,
        "status": bot.status.value,
        "sub_status": bot.sub_status.value if bot.sub_status else None,
        "stop_reason": bot.stop_reason.value if bot.stop_reason else None,
        "sub_code": bot.sub_code,
        "message": bot.message,
        "metadata": dict(bot.metadata),
        "stop_options": bot.stop_options.as_dict(),
        "transcription_model": bot.transcription_model,
        "recording": bot.recording.as_dict(),
        "deduplication_key": bot.deduplication_key,
        "webhook_url": bot.webhook_url,
        "status_changes": [_status_change(c) for c in bot.status_changes],
        "created_at": iso(bot.created_at),
        "updated_at": iso(bot.updated_at),
        "credentials": credential_flags(bot.credential_kinds),
        "realtime_endpoints": [
            {**e.as_dict(), "url": shown_url(e.url)} for e in bot.realtime_endpoints
        ],
    }
    if include_secret and bot.webhook_secret:
        fields["webhook_secret"] = bot.webhook_secret
    return BotOut.model_construct(**fields)


def bot_view(bot: Bot, *, include_secret: bool = False) -> dict[str, Any]:
    """:func:`bot_out` as JSON-able data (a field not set, ``webhook_secret``, is left out)."""
    return bot_out(bot, include_secret=include_secret).model_dump(mode="json", exclude_unset=True)

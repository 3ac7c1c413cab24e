"""Domain values → JSON-able dicts (the API's and the webhooks' one serialiser)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from meetbot.contract.models import CREDENTIAL_KINDS, Bot, StatusChange
from meetbot.timefmt import iso


def status_change_view(change: StatusChange) -> dict[str, Any]:
    return {
        "status": change.status.value,
        "sub_status": change.sub_status.value if change.sub_status else None,
        "stop_reason": change.stop_reason.value if change.stop_reason else None,
        "sub_code": change.sub_code,
        "message": change.message,
        "at": iso(change.at),
    }


def credential_flags(kinds: Collection[str]) -> dict[str, bool]:
    """Which credential kinds are set (``{"google": true, ...}``); never their values."""
    return {kind: kind in kinds for kind in CREDENTIAL_KINDS}


def bot_view(bot: Bot, *, include_secret: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": bot.id,
        "meeting_url": bot.meeting.url,
        "platform": bot.meeting.platform.value,
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
        "credentials": credential_flags(bot.credential_kinds),
        "status_changes": [status_change_view(c) for c in bot.status_changes],
        "created_at": iso(bot.created_at),
        "updated_at": iso(bot.updated_at),
    }
    if include_secret and bot.webhook_secret:
        view["webhook_secret"] = bot.webhook_secret
    return view

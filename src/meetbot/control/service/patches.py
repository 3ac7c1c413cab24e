"""PATCH of a bot: the typed patch, and its values checked as a create checks them.

:class:`BotPatch` is what ``PATCH /api/v1/bot/{id}/`` means: every field is ``UNSET`` unless
the request names it, and ``None`` is an explicit null. :func:`checked_changes` turns it into
the bot fields to store (raising the client's error for a bad value); *when* a change is
allowed is :func:`meetbot.contract.policies.check_update`'s decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from meetbot import errors
from meetbot.contract.meeting_urls import parse_joinable_url
from meetbot.contract.models import RecordingOptions, StopOptions
from meetbot.control.service.core import Services
from meetbot.control.webhooks.targets import TargetPolicy, validate_webhook_url
from meetbot.transcription.models import validate_model
from meetbot.unset import UNSET, Unset

Keep = Literal[Unset.UNSET]


@dataclass(frozen=True, slots=True)
class BotPatch:
    """The fields a PATCH names; ``UNSET`` keeps a field, ``None`` is the request's null."""

    meeting_url: str | Keep | None = UNSET
    """A new URL, possibly on another platform (checked like a create); null is refused."""
    bot_name: str | Keep | None = UNSET
    """Null is refused."""
    join_at: datetime | Keep | None = UNSET
    """Null: join now (a scheduled bot becomes ad-hoc)."""
    expected_duration: int | Keep | None = UNSET
    """Minutes the meeting is expected to last (its reservation); null: the default."""
    metadata: Mapping[str, str] | Keep | None = UNSET
    """Replaces the whole map; null empties it."""
    stop_options: StopOptions | Keep | None = UNSET
    """Null: the defaults."""
    transcription_model: str | Keep | None = UNSET
    """Null: the server's default model."""
    deduplication_key: str | Keep | None = UNSET
    webhook_url: str | Keep | None = UNSET
    """Null: no per-bot webhook."""
    recording: RecordingOptions | Keep | None = UNSET
    """Null: the defaults."""
    credentials: Mapping[str, Any] | Keep | None = field(default=UNSET, repr=False)
    """The bot's own credentials, replaced (plain; sealed before storing); null removes them."""

    def named(self) -> frozenset[str]:
        """The names of the fields the request gave."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name) is not UNSET)


@dataclass(frozen=True, slots=True)
class Changes:
    """A checked patch: bot fields to set (``meeting`` for ``meeting_url``), and the rest."""

    fields: Mapping[str, Any]
    """Bot fields and their new values, ``join_at`` and ``credentials`` excluded."""
    join_at: datetime | Keep | None = UNSET
    credentials: Mapping[str, Any] | Keep | None = field(default=UNSET, repr=False)

    @property
    def only_metadata(self) -> bool:
        """Only ``metadata`` changes (allowed at any time)."""
        return (
            set(self.fields) <= {"metadata"} and self.join_at is UNSET and self.credentials is UNSET
        )


async def checked_changes(svc: Services, patch: BotPatch) -> Changes:
    """The bot fields ``patch`` sets, each value checked as ``POST /api/v1/bot/`` checks it."""
    out: dict[str, Any] = {}
    if patch.meeting_url is not UNSET:
        if patch.meeting_url is None:
            raise errors.InvalidRequest("meeting_url: must not be null.")
        out["meeting"] = parse_joinable_url(
            patch.meeting_url, self_hosted=svc.settings.self_hosted_meeting_host_list
        )
    if patch.bot_name is not UNSET:
        if patch.bot_name is None or not patch.bot_name.strip():
            raise errors.InvalidRequest("bot_name: must not be null or blank.")
        out["bot_name"] = patch.bot_name
    if patch.metadata is not UNSET:
        out["metadata"] = dict(patch.metadata or {})
    if patch.stop_options is not UNSET:
        out["stop_options"] = patch.stop_options or StopOptions()
    if patch.transcription_model is not UNSET:
        model = patch.transcription_model or svc.settings.default_transcription_model
        validate_model(model)
        out["transcription_model"] = model
    if patch.expected_duration is not UNSET:
        out["expected_duration"] = patch.expected_duration
    if patch.deduplication_key is not UNSET:
        out["deduplication_key"] = patch.deduplication_key
    if patch.webhook_url is not UNSET:
        if patch.webhook_url:
            await validate_webhook_url(patch.webhook_url, TargetPolicy.from_settings(svc.settings))
        out["webhook_url"] = patch.webhook_url or None
    if patch.recording is not UNSET:
        out["recording"] = patch.recording or RecordingOptions()
    return Changes(out, join_at=patch.join_at, credentials=patch.credentials)

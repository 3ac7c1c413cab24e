"""Frozen domain values. Rows become these at the store's edge."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from meetbot.contract.lifecycle import BotState, Status, StopReason, SubStatus
from meetbot.contract.platforms import PLATFORM_CREDENTIAL_KINDS
from meetbot.contract.platforms import Platform as Platform  # defined by the platform table


class BotKind(StrEnum):
    SCHEDULED = "scheduled"
    ADHOC = "adhoc"


CREDENTIAL_KINDS = (
    *PLATFORM_CREDENTIAL_KINDS,
    "deepgram_api_key",
    "openai_api_key",
    "assemblyai_api_key",
)
"""The kinds of credentials a bot or workspace may hold (see
:mod:`meetbot.control.service.credentials`)."""


@dataclass(frozen=True, slots=True)
class MeetingRef:
    """A parsed meeting URL: the platform, the normalised URL and the meeting's reference."""

    platform: Platform
    url: str
    meeting_id: str
    passcode: str | None = None


@dataclass(frozen=True, slots=True)
class StopOptions:
    """Automatic-leave timers, in minutes (0 disables where allowed)."""

    empty_meeting_timeout: int = 10
    last_person_detection: int = 2
    waiting_room_timeout: int = 10
    time_limit: int = 720
    silence_detection: int = 15

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class RecordingOptions:
    audio_format: str = "ogg"
    video: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class RealtimeEndpoint:
    """Where a bot pushes its real-time frames (``realtime_endpoints`` on create): a WebSocket
    it connects to, or a URL it POSTs each event to (signed like the webhooks)."""

    type: str
    """``websocket`` or ``webhook``."""
    url: str
    events: tuple[str, ...]
    """The event types pushed (the feed's, plus the audio ones for a WebSocket)."""

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "url": self.url, "events": list(self.events)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RealtimeEndpoint:
        return cls(str(raw["type"]), str(raw["url"]), tuple(str(e) for e in raw["events"]))


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: Status
    sub_status: SubStatus | None
    stop_reason: StopReason | None
    sub_code: str | None
    at: datetime
    message: str | None = None
    """Why the bot ended or stopped, for people (see :mod:`meetbot.contract.status_texts`)."""


@dataclass(frozen=True, slots=True)
class Bot:
    id: str
    workspace_id: str
    meeting: MeetingRef
    bot_name: str
    join_at: datetime | None
    kind: BotKind
    status: Status
    metadata: Mapping[str, str]
    stop_options: StopOptions
    transcription_model: str
    created_at: datetime
    updated_at: datetime
    sub_status: SubStatus | None = None
    stop_reason: StopReason | None = None
    sub_code: str | None = None
    message: str | None = None
    """The latest stopping or ending status change's message."""
    detection_retries: int = 0
    deduplication_key: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    recording: RecordingOptions = field(default_factory=RecordingOptions)
    runner_token_hash: str | None = None
    leave_requested_at: datetime | None = None
    last_seen_at: datetime | None = None
    dispatched_at: datetime | None = None
    status_changes: tuple[StatusChange, ...] = ()
    seq: int | None = None
    credentials_ciphertext: str | None = field(default=None, repr=False)
    """The bot's own credentials, sealed by :class:`meetbot.crypto.SecretBox` (``bot:<id>``)."""
    credential_kinds: tuple[str, ...] = ()
    """Which kinds the ciphertext holds (``google``, ``zoom``, ...): not secret, shown."""
    expected_duration: int | None = None
    """Minutes the meeting is expected to last (the length of a scheduled bot's reservation,
    :mod:`meetbot.control.capacity`); ``None``: ``MEETBOT_RESERVATION_MINUTES``."""
    bot_image: str | None = None
    """The storage key of the picture the bot shows as its camera (``bot_image`` on create,
    ``output_video``); ``None``: no picture."""
    realtime_endpoints: tuple[RealtimeEndpoint, ...] = ()
    """Where the control plane pushes the bot's real-time frames
    (:mod:`meetbot.control.realtime_push`)."""

    @property
    def state(self) -> BotState:
        return BotState(
            status=self.status,
            sub_status=self.sub_status,
            stop_reason=self.stop_reason,
            sub_code=self.sub_code,
            detection_retries=self.detection_retries,
            message=self.message,
        )

    def evolve(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def with_state(self, state: BotState, at: datetime) -> Self:
        change = StatusChange(
            state.status, state.sub_status, state.stop_reason, state.sub_code, at, state.message
        )
        return self.evolve(
            status=state.status,
            sub_status=state.sub_status,
            stop_reason=state.stop_reason,
            sub_code=state.sub_code,
            message=state.message,
            detection_retries=state.detection_retries,
            updated_at=at,
            status_changes=(*self.status_changes, change),
        )


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event written in the same transaction as the change it describes."""

    id: str
    workspace_id: str
    type: str
    created_at: datetime
    data: Mapping[str, Any]
    bot_id: str | None = None
    seq: int | None = None

    def payload(self) -> dict[str, Any]:
        from meetbot.timefmt import iso

        return {
            "type": self.type,
            "id": self.id,
            "created_at": iso(self.created_at),
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    workspace_id: str
    name: str
    key_hash: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    """Set once by ``meetbot keys revoke``: the key authenticates nothing from then on."""


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    workspace_id: str
    key: str
    request_hash: str
    status_code: int
    body: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None

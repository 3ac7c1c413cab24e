"""What the API answers, as typed, immutable values.

The fields are the wire's (``docs/api.md``); times stay ISO 8601 strings as sent, and
``at``-style helpers parse them. Lists the API calls open (statuses, sub-codes, event types)
are plain ``str``: a newer server's value never breaks an older client. Fields a newer server
adds are kept (``model_extra``), never refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from meetbot.contract.lifecycle import ENDED


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


def parse_time(value: str | None) -> datetime | None:
    """An API time (``2026-01-01T10:00:00.000Z``) as an aware datetime."""
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


class StatusChange(Model):
    status: str
    sub_status: str | None = None
    stop_reason: str | None = None
    sub_code: str | None = None
    message: str | None = None
    at: str


class Bot(Model):
    id: str
    meeting_url: str
    platform: str
    bot_name: str
    join_at: str | None = None
    expected_duration: int | None = None
    kind: str
    status: str
    sub_status: str | None = None
    stop_reason: str | None = None
    sub_code: str | None = None
    message: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    stop_options: dict[str, int] = Field(default_factory=dict)
    transcription_model: str
    recording: dict[str, Any] = Field(default_factory=dict)
    deduplication_key: str | None = None
    webhook_url: str | None = None
    status_changes: list[StatusChange] = Field(default_factory=list)
    created_at: str
    updated_at: str
    credentials: dict[str, bool] = Field(default_factory=dict)
    webhook_secret: str | None = None
    """Only in the answer that gave the bot its first ``webhook_url``."""

    @property
    def ended(self) -> bool:
        """The bot's work is over (a terminal status, or ``bot_detected`` out of retries)."""
        return self.status in ENDED


class Video(Model):
    format: str
    content_type: str
    duration_s: float
    size_bytes: int
    width: int
    height: int
    url: str
    url_expires_in: int


class Recording(Model):
    format: str
    content_type: str
    duration_s: float
    size_bytes: int
    url: str
    """Signed: usable without the API key for ``url_expires_in`` seconds."""
    url_expires_in: int
    video: Video | None = None


class Word(Model):
    start: float
    end: float
    text: str


class Segment(Model):
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] = Field(default_factory=list)


class Transcript(Model):
    segments: list[Segment] = Field(default_factory=list)
    final: bool = False
    live_lag_seconds: float | None = None
    """While the bot is in the call: how far the live transcript is behind it (None: final)."""


class Participant(Model):
    id: str
    name: str
    first_join: str | None = None
    last_leave: str | None = None
    speaking_time_s: float = 0.0


class DebugArtifact(Model):
    kind: str
    reason: str
    at: str
    url: str
    url_expires_in: int


class WebhookEndpoint(Model):
    id: str
    url: str
    event_types: list[str] | None = None
    enabled: bool
    created_at: str
    updated_at: str
    secret: str | None = None
    """Only when created and when rotated."""


class Attempt(Model):
    at: str
    url: str
    status_code: int | None = None
    latency_ms: float
    error: str | None = None


class Delivery(Model):
    id: str
    event_id: str
    event_type: str
    bot_id: str | None = None
    status: str
    attempts: int
    next_attempt_at: str | None = None
    last_status_code: int | None = None
    last_latency_ms: float | None = None
    last_error: str | None = None
    created_at: str
    delivered_at: str | None = None
    attempt_log: list[Attempt] | None = None
    """Only on a single delivery (``deliveries.get``)."""


class Event(Model):
    type: str
    id: str
    created_at: str
    data: dict[str, Any] = Field(default_factory=dict)


class StreamEvent(Event):
    """A JSON frame of ``stream()``: the event and the cursor that resumes after it."""

    cursor: str


STATUS_UPDATE = "status_update"
TRANSCRIPT_DATA = "transcript.data"
TRANSCRIPT_PARTIAL = "transcript.partial"
TRANSCRIPT_LAGGING = "transcript.lagging"
CHAT_MESSAGE = "chat.message"


class ChatSender(Model):
    id: str | None = None
    name: str | None = None


class ChatMessage(Model):
    """A message of the meeting's chat (``bots.chat``, a ``chat.message`` event's ``message``)."""

    id: str
    text: str
    sender: ChatSender = Field(default_factory=ChatSender)
    to: str = "everyone"
    from_bot: bool = False
    at: str


class ChatSent(Model):
    """``bots.send_chat_message``'s answer: the message is queued for the bot's runner."""

    id: str
    status: str


class AudioQueued(Model):
    """``bots.output_audio``'s answer: the clip is queued (``output_audio.started`` says when
    the bot says it)."""

    id: str
    status: str
    duration_s: float


class TranscriptLag(Model):
    """``transcript.lagging``: the live transcript is ``lag_seconds`` behind the call."""

    lag_seconds: float
    caught_up: bool = False


def segments_of(event: Event) -> list[Segment]:
    """The segments of a ``transcript.data`` or ``transcript.partial`` event."""
    return [Segment.model_validate(s) for s in event.data.get("segments", [])]


def chat_message_of(event: Event) -> ChatMessage:
    """The message of a ``chat.message`` event."""
    return ChatMessage.model_validate(event.data["message"])


def lag_of(event: Event) -> TranscriptLag:
    """What a ``transcript.lagging`` event says."""
    return TranscriptLag.model_validate(event.data)


class StreamToken(Model):
    """Opens one bot's stream (``?token=``) until ``expires_at``: for a browser's WebSocket."""

    token: str
    expires_at: str


class EventPage(Model):
    results: list[Event]
    next: str
    """Pass back as ``after``; the same when there is nothing new."""


class CapacityStep(Model):
    start: str
    end: str
    capacity: int
    reserved: int
    running: int
    booked: int
    available: int


class Capacity(Model):
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    step: int
    capacity: int
    steps: list[CapacityStep]


class Calendar(Model):
    """A connected calendar: its source (never its secrets), rules and bot settings."""

    id: str
    kind: str
    url: str | None = None
    username: str | None = None
    client_id: str | None = None
    calendar_id: str | None = None
    owner_email: str | None = None
    status: str
    status_reason: str | None = None
    record: str | list[str] = "all"
    bot_name: str | None = None
    join_offset_seconds: int = 0
    stop_options: dict[str, int] | None = None
    transcription_model: str | None = None
    recording: dict[str, Any] | None = None
    webhook_url: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    last_synced_at: str | None = None
    next_sync_at: str | None = None
    created_at: str


class CalendarEvent(Model):
    """One occurrence of a calendar's meeting, and whether a bot will record it."""

    id: str
    calendar_id: str
    ical_uid: str | None = None
    start: str | None = None
    end: str | None = None
    title: str | None = None
    meeting_url: str | None = None
    platform: str | None = None
    is_deleted: bool = False
    will_record: bool = False
    will_record_rule: str | None = None
    record_override: bool | None = None
    bot_id: str | None = None
    updated_at: str


class CredentialFlags(Model):
    google: bool = False
    microsoft: bool = False
    zoom: bool = False
    deepgram_api_key: bool = False
    openai_api_key: bool = False
    assemblyai_api_key: bool = False


Until: TypeAlias = str | Iterable[str] | Callable[[Bot], bool] | None
"""What ``bots.wait`` waits for (see :func:`reached`)."""


def reached(bot: Bot, until: Until) -> bool:
    """Whether ``bots.wait`` is done: ``until`` is a status (or several) the bot is in or went
    through (its ``status_changes``, so a short stay between two polls counts), a predicate on
    the bot, or None for "its work is over". A bot that ended is always done."""
    if bot.ended:
        return True
    if until is None:
        return False
    if callable(until):
        return until(bot)
    wanted = {until} if isinstance(until, str) else set(until)
    return bot.status in wanted or any(c.status in wanted for c in bot.status_changes)

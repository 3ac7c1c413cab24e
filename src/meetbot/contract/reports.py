"""What a runner reports to the control plane, and what the control plane tells a runner.

Wire contract (JSON over HTTP, per-bot bearer token ``Authorization: Bearer <token>``):

- ``POST {control_url}/internal/bots/{bot_id}/events`` with ``{"events": [Report, ...]}``
  → 200 ``Commands``. An empty list is a heartbeat. Runners send a heartbeat at least every
  ``heartbeat_interval`` seconds; a bot silent for ``heartbeat_timeout`` ends
  ``failed``/``bot_process_lost``.
- ``GET {control_url}/internal/bots/{bot_id}/commands?wait=20`` → 200 ``Commands``: a long
  poll that answers as soon as a command is pending (or with no commands after ``wait`` s).
- ``POST {control_url}/internal/bots/{bot_id}/join`` with ``JoinRequest`` → 200 ``JoinAnswer``:
  the runner is about to navigate. The control plane moves the bot ``booting → joining`` and
  answers, in the same transaction, the bot's values as they stand (a PATCH may have changed
  them since the assignment: bots are editable until they start joining), or commands that
  say not to join (``stop``: the bot was cancelled). Idempotent while ``joining``.

Both sides parse with these pydantic models; unknown report types are a 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meetbot.contract.lifecycle import StopReason, SubStatus
from meetbot.contract.storable_text import PageText


class BaseReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    at: datetime


class Joining(BaseReport):
    """Navigation to the meeting started (booting → joining). Still accepted; runners now
    start joining through ``POST .../join``, which also answers the bot's current values."""

    type: Literal["joining"] = "joining"


class Waiting(BaseReport):
    """In a lobby / waiting for the host (joining, sub_status set)."""

    type: Literal["waiting"] = "waiting"
    sub_status: SubStatus = SubStatus.WAITING_ROOM


class InCall(BaseReport):
    """Admitted: in the call and recording."""

    type: Literal["in_call"] = "in_call"


class ParticipantJoined(BaseReport):
    type: Literal["participant_joined"] = "participant_joined"
    participant_id: PageText
    name: PageText


class ParticipantLeft(BaseReport):
    type: Literal["participant_left"] = "participant_left"
    participant_id: PageText
    name: PageText


class Speaking(BaseReport):
    """A participant started (``speaking=True``) or stopped speaking."""

    type: Literal["speaking"] = "speaking"
    participant_id: PageText
    name: PageText
    speaking: bool


class Caption(BaseReport):
    type: Literal["caption"] = "caption"
    speaker: PageText
    text: PageText


class AudioChunk(BaseReport):
    """A chunk of 16 kHz mono s16le PCM was written to storage (reported only once stored:
    the control plane reads it by ``key``). ``at``: when its last sample was captured; a chunk
    kept on the runner's disk through a storage outage is reported when it is stored, later."""

    type: Literal["audio_chunk"] = "audio_chunk"
    seq: int = Field(ge=0)
    key: str
    offset_s: float = Field(ge=0, description="start of the chunk, seconds since recording start")
    duration_s: float = Field(ge=0)


class ParticipantAudioChunk(BaseReport):
    """One participant's own audio, 16 kHz mono s16le PCM, was written to storage
    (:func:`~meetbot.contract.media_format.participant_chunk_key`), where the platform gives
    each participant a track of their own (Janus). Only stretches with sound are stored:
    ``offset_s`` places the chunk on the recording's clock (that of the mixed audio)."""

    type: Literal["participant_audio_chunk"] = "participant_audio_chunk"
    seq: int = Field(ge=0)
    key: str
    participant_id: str = Field(min_length=1, max_length=200)
    offset_s: float = Field(ge=0)
    duration_s: float = Field(ge=0)


class MediaLost(BaseReport):
    """Recorded media that will never be stored: chunks ``first_seq``..``last_seq`` (of the
    audio chunks, or of the video chunks) are missing. ``spool_full``: storage was unreachable
    for longer than the runner's spool holds (``MEETBOT_RUNNER_SPOOL_MB``,
    ``MEETBOT_RUNNER_VIDEO_SPOOL_MB``), or its disk refused to keep them; ``storage_unreachable``:
    storage was still unreachable when the runner had to exit. Stored as an observation."""

    type: Literal["media_lost"] = "media_lost"
    media: Literal["audio", "video"]
    reason: Literal["spool_full", "storage_unreachable"]
    first_seq: int = Field(ge=0)
    last_seq: int = Field(ge=0)
    offset_s: float = Field(ge=0, description="start of the lost media, seconds since recording")
    duration_s: float = Field(ge=0)


Message = Annotated[str | None, Field(max_length=2000)]
"""What the runner saw, for people (the page's text, the browser's error); the control plane
puts it after the reason's text in the status change's ``message``."""


class Leaving(BaseReport):
    """The bot is leaving the call (recording → leaving)."""

    type: Literal["leaving"] = "leaving"
    stop_reason: StopReason
    sub_code: str | None = None
    """Why, beyond the stop reason (``host_shutdown``: the runner's host shut down)."""
    message: Message = None


class NotAdmitted(BaseReport):
    type: Literal["not_admitted"] = "not_admitted"
    stop_reason: StopReason
    sub_code: str | None = None
    message: Message = None


class Left(BaseReport):
    """Out of the call, every audio chunk written (leaving → processing)."""

    type: Literal["left"] = "left"


class Failed(BaseReport):
    type: Literal["failed"] = "failed"
    sub_code: str
    detail: PageText | None = None
    """What went wrong, for people: it becomes the status change's ``message`` detail."""


class AuthRequired(BaseReport):
    type: Literal["auth_required"] = "auth_required"
    sub_code: str | None = None
    message: Message = None


class InvalidCredentials(BaseReport):
    type: Literal["invalid_credentials"] = "invalid_credentials"
    sub_code: str | None = None
    message: Message = None


class BotDetected(BaseReport):
    type: Literal["bot_detected"] = "bot_detected"
    sub_code: str | None = None
    message: Message = None


class DebugArtifact(BaseReport):
    """A screenshot or page HTML saved to storage on an unexpected page."""

    type: Literal["debug_artifact"] = "debug_artifact"
    key: str
    kind: Literal["screenshot", "html"]
    reason: PageText


class RecordingPaused(BaseReport):
    """The recorder stopped keeping the meeting's audio and video (``pause_recording``): from
    ``offset_s`` seconds into the recording, silence is written until it resumes."""

    type: Literal["recording_paused"] = "recording_paused"
    offset_s: float = Field(ge=0)


class RecordingResumed(BaseReport):
    """The recorder keeps the meeting's audio and video again, from ``offset_s``."""

    type: Literal["recording_resumed"] = "recording_resumed"
    offset_s: float = Field(ge=0)


class ChatMessage(BaseReport):
    """A chat message the runner read in the meeting (``from_bot``: one the bot sent, with the
    ``message_id`` the control plane gave it)."""

    type: Literal["chat_message"] = "chat_message"
    message_id: PageText | None = None
    sender_id: PageText
    sender_name: PageText
    text: Annotated[PageText, Field(max_length=10_000)]
    to: PageText = "everyone"
    """``everyone``, or the participant id of a private message's addressee."""
    from_bot: bool = False


class OutputAudioStarted(BaseReport):
    """The bot started playing the clip ``id`` (``output_audio``) into the meeting: it unmuted."""

    type: Literal["output_audio_started"] = "output_audio_started"
    id: str


class OutputAudioFinished(BaseReport):
    """The clip ``id`` ended (``stopped``: cut short by ``DELETE``, an interrupting clip, or the
    page; else played to its end). The bot mutes when nothing else is queued."""

    type: Literal["output_audio_finished"] = "output_audio_finished"
    id: str
    stopped: bool = False


Report = Annotated[
    Joining
    | Waiting
    | InCall
    | ParticipantJoined
    | ParticipantLeft
    | Speaking
    | Caption
    | AudioChunk
    | ParticipantAudioChunk
    | MediaLost
    | Leaving
    | NotAdmitted
    | Left
    | Failed
    | AuthRequired
    | InvalidCredentials
    | BotDetected
    | DebugArtifact
    | RecordingPaused
    | RecordingResumed
    | ChatMessage
    | OutputAudioStarted
    | OutputAudioFinished,
    Field(discriminator="type"),
]


class ReportBatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    events: list[Report] = Field(default_factory=list, max_length=500)


class ChatOut(BaseModel):
    """A message ``send_chat_message`` asked for: the runner sends it once (by ``id``) and
    reports it as a :class:`ChatMessage` with ``from_bot`` and ``message_id``."""

    model_config = ConfigDict(frozen=True)
    id: str
    message: str
    to: str = "everyone"


class ChatRequest(BaseReport):
    """Not a runner report: how the control plane keeps a :class:`ChatOut` with the bot's
    observations until the runner reports it sent (see :data:`StoredObservation`)."""

    type: Literal["chat_request"] = "chat_request"
    id: str
    message: str
    to: str = "everyone"


class AudioOut(BaseModel):
    """A clip ``output_audio`` asked the bot to say: 48 kHz mono s16le PCM stored at ``key``
    (the runner reads it through ``GET /internal/bots/{id}/output_audio?key=``)."""

    model_config = ConfigDict(frozen=True)
    id: str
    key: str
    duration_s: float = Field(ge=0)


class OutputAudioRequest(BaseReport):
    """Not a runner report: a clip ``output_audio`` queued (``interrupt``: it drops what is
    queued or playing before it), kept with the bot's observations."""

    type: Literal["output_audio_request"] = "output_audio_request"
    id: str
    key: str
    duration_s: float = Field(ge=0)
    interrupt: bool = False


class OutputAudioStop(BaseReport):
    """Not a runner report: ``DELETE .../output_audio/``, every clip queued before it dropped."""

    type: Literal["output_audio_stop"] = "output_audio_stop"


StoredObservation = Annotated[
    Report | ChatRequest | OutputAudioRequest | OutputAudioStop, Field(discriminator="type")
]
"""What the control plane keeps as a bot's observations: the runner's reports and its own
:class:`ChatRequest`, :class:`OutputAudioRequest`, :class:`OutputAudioStop`."""


class Command(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["leave", "stop", "pause", "resume", "chat"]
    """``leave``: leave the call (``leave_call``). ``stop``: the bot is over; exit now.
    ``pause``/``resume``/``chat``: not sent in ``commands``; a runner makes them of
    ``paused`` and ``chat``."""
    chat: ChatOut | None = None


class Commands(BaseModel):
    model_config = ConfigDict(frozen=True)
    commands: list[Command] = Field(default_factory=list)
    paused: bool | None = None
    """While the bot is recording: whether its recording should be paused (a state, not an
    order: it comes with every answer, and a change wakes the long poll). ``None`` otherwise."""

    chat: list[ChatOut] = Field(default_factory=list)
    """Chat messages to send, until the runner reports each sent (it sends an ``id`` once)."""

    output_audio: list[AudioOut] = Field(default_factory=list)
    """The clips to say, in order (a state: the queue as it stands). The first is the one to
    play now; one playing that is no longer listed is stopped (``DELETE``, an interrupt)."""

    camera: str | None = None
    """The storage key of the picture the bot should show as its camera (``bot_image``,
    changed by ``output_video``): a state, not an order, in every answer while the runner
    runs; a key that differs from the one shown is a new picture. ``None``: none."""

    def all(self) -> list[Command]:
        """``commands``, then ``paused`` as a ``pause``/``resume`` command (if set), then one
        ``chat`` command per message."""
        out = list(self.commands)
        if self.paused is not None:
            out.append(Command(type="pause" if self.paused else "resume"))
        return out + [Command(type="chat", chat=c) for c in self.chat]


class JoinRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    at: datetime


class Briefing(BaseModel):
    """What the bot joins with, as it stands when it starts joining (the editable part of
    :class:`meetbot.ports.Assignment`)."""

    model_config = ConfigDict(frozen=True)
    meeting_url: str
    platform: str
    bot_name: str
    stop_options: dict[str, int]
    recording: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] | None = Field(default=None, repr=False)
    """Decrypted platform credentials, as in the assignment; never logged."""


class JoinAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)
    briefing: Briefing | None = None
    """``None``: keep the assignment's values (and obey ``commands``)."""
    commands: list[Command] = Field(default_factory=list)
    """Non-empty: do not join (``stop``: the bot is over; ``leave``: it was removed)."""

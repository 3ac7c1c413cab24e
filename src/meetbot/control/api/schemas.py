"""Request bodies, validated at the edge, turned into domain values for the service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from meetbot.contract.models import RecordingOptions, StopOptions
from meetbot.contract.platforms import SERVICES
from meetbot.control.api.representation import BotOut
from meetbot.control.service.patches import BotPatch

MAX_METADATA_KEYS = 50
TRANSCRIPTION_MODEL_DOC = (
    "`whisper-base` (default), `whisper-tiny.en`, `none`, or `<vendor>/<model>` with vendor "
    "`deepgram`, `openai` (any OpenAI-compatible server, `MEETBOT_OPENAI_BASE_URL`) or "
    "`assemblyai`; any model id is passed to the vendor, e.g. `openai/whisper-large-v3`. A "
    "vendor model needs that vendor's key in the bot's `credentials`, the workspace's, or the "
    "server's `MEETBOT_<VENDOR>_API_KEY`; with none anywhere: 400 `missing_transcription_key`."
)


def _to_utc(value: datetime) -> datetime:
    """Aware → UTC; naive is taken as UTC. Dates that leave the calendar in UTC are refused."""
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError("date is out of range once converted to UTC") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timestamp with a zone, normalised to UTC (bodies)."""
LenientUtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
"""A timestamp, naive meaning UTC (query filters)."""

Metadata = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        Annotated[StrictStr, Field(max_length=2000)],
    ],
    Field(max_length=MAX_METADATA_KEYS, description="string → string map, at most 50 keys"),
]


EXPECTED_DURATION = (
    "Minutes the meeting is expected to last. A scheduled bot reserves capacity from join_at"
    " minus the dispatch lead to join_at plus this (default MEETBOT_RESERVATION_MINUTES, 60;"
    " never more than stop_options.time_limit); 409 schedule_full when that window is booked"
)


class StopOptionsIn(BaseModel):
    """Automatic-leave timers in minutes. Integers only."""

    model_config = ConfigDict(extra="forbid")

    empty_meeting_timeout: StrictInt = Field(10, ge=0, le=1440, description="0 disables")
    last_person_detection: StrictInt = Field(2, ge=0, le=1440, description="0 disables")
    waiting_room_timeout: StrictInt = Field(10, ge=1, le=1440)
    time_limit: StrictInt | None = Field(None, ge=1, le=720, description="default 720")
    silence_detection: StrictInt = Field(15, ge=0, le=1440, description="0 disables")


class RecordingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audio_format: Literal["ogg", "mp3", "wav"] = "ogg"
    video: StrictBool = Field(
        False, description="also record the meeting view: an MP4 (H.264 + AAC) of the bot's page"
    )

    def to_domain(self) -> RecordingOptions:
        return RecordingOptions(audio_format=self.audio_format, video=self.video)


Secret = Annotated[SecretStr, Field(min_length=1, max_length=4096)]


class AccountIn(BaseModel):
    """An account the bot signs in with (e-mail address and password)."""

    model_config = ConfigDict(extra="forbid")

    email: StrictStr = Field(min_length=3, max_length=320)
    password: Secret

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        value = value.strip()
        if "@" not in value or any(c.isspace() for c in value):
            raise ValueError("email must be an e-mail address")
        return value


class ZoomIn(BaseModel):
    """Zoom join tokens: a ZAK and/or an OBF token (at least one)."""

    model_config = ConfigDict(extra="forbid")

    zak: Secret | None = None
    obf_token: Secret | None = None

    @model_validator(mode="after")
    def _one_token(self) -> ZoomIn:
        if self.zak is None and self.obf_token is None:
            raise ValueError("zoom needs a zak or an obf_token")
        return self


class CredentialsIn(BaseModel):
    """Sign-in accounts and transcription vendor keys; stored encrypted, never returned."""

    model_config = ConfigDict(extra="forbid")

    google: AccountIn | None = None
    microsoft: AccountIn | None = None
    zoom: ZoomIn | None = None
    deepgram_api_key: Secret | None = None
    openai_api_key: Secret | None = None
    assemblyai_api_key: Secret | None = None

    @model_validator(mode="after")
    def _something(self) -> CredentialsIn:
        if not self.model_fields_set or all(
            getattr(self, name) is None for name in self.model_fields_set
        ):
            raise ValueError("credentials need at least one kind")
        return self

    def to_mapping(self) -> dict[str, Any]:
        """The plain values, as :mod:`meetbot.control.service.credentials` stores them."""

        def plain(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, BaseModel):
                return {k: plain(v) for k, v in dict(value).items() if v is not None}
            return value

        return {k: plain(v) for k, v in dict(self).items() if v is not None}


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_message: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="Sent once in the meeting's chat when the bot is admitted (e.g. to say it"
        " records); 400 `unsupported_for_platform` where the adapter has no chat",
    )


class RealtimeEndpointIn(BaseModel):
    """One entry of ``realtime_endpoints``: checked by
    :func:`meetbot.control.realtime_endpoints.validate_endpoints`."""

    model_config = ConfigDict(extra="forbid")

    type: StrictStr = Field(max_length=20, description="`websocket` or `webhook`")
    url: StrictStr = Field(
        max_length=2048,
        description="`ws://`/`wss://` for a WebSocket, `http://`/`https://` for a webhook; under"
        " the webhook egress rules",
    )
    events: list[StrictStr] = Field(
        max_length=50,
        description="Event types to push (the feed's; a WebSocket also `audio_mixed_raw.data`,"
        " `audio_separate_raw.data`)",
    )


BOT_IMAGE_DOC = (
    "The bot's picture, shown as its camera from admission on: a PNG or JPEG (at most 2 MB, each"
    " side 1 to 4096 px) as base64 (plain or a `data:image/png;base64,` URL) or an `https://` URL"
    " fetched under the webhook egress rules. 400 `invalid_bot_image` / `invalid_bot_image_url`"
)


class OutputVideoIn(BaseModel):
    """``POST /api/v1/bot/{id}/output_video/``: the bot's new picture."""

    model_config = ConfigDict(extra="forbid")
    bot_image: StrictStr = Field(max_length=3 * 1024 * 1024, description=BOT_IMAGE_DOC)


class CreateBotIn(BaseModel):
    """``POST /api/v1/bot/``. Unknown top-level fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    meeting_url: StrictStr = Field(max_length=4096)
    service: StrictStr | None = Field(
        None,
        max_length=50,
        description=(
            f"Skribby's platform field ({', '.join(SERVICES)}); optional. When given it must "
            "name the meeting URL's platform, else 400 `invalid_meeting_url` naming both."
        ),
    )
    bot_name: StrictStr = Field("Meeting Bot", min_length=1, max_length=100)
    join_at: UtcDatetime | None = Field(
        None,
        validation_alias=AliasChoices("join_at", "scheduled_start_time"),
        description="ISO 8601 with a zone; `scheduled_start_time` is accepted as an alias",
    )
    expected_duration: StrictInt | None = Field(None, ge=1, le=720, description=EXPECTED_DURATION)
    metadata: Metadata | None = None
    stop_options: StopOptionsIn | None = None
    transcription_model: StrictStr | None = Field(
        None, max_length=200, description=TRANSCRIPTION_MODEL_DOC
    )
    deduplication_key: StrictStr | None = Field(None, min_length=1, max_length=200)
    webhook_url: StrictStr | None = Field(None, max_length=2048)
    recording: RecordingIn | None = None
    credentials: CredentialsIn | None = Field(
        None, description="The bot's own credentials (encrypted at rest, never returned)"
    )
    chat: ChatIn | None = None
    realtime_endpoints: list[RealtimeEndpointIn] | None = Field(
        None,
        max_length=5,
        description="Where the bot pushes its real-time frames as they happen (see the API"
        " docs, 'Real-time push'); 400 `invalid_realtime_endpoints`",
    )
    bot_image: StrictStr | None = Field(
        None,
        max_length=3 * 1024 * 1024,
        description=BOT_IMAGE_DOC,
    )
    time_limit: StrictInt | None = Field(
        None,
        ge=1,
        le=720,
        description="Deprecated: use stop_options.time_limit",
        json_schema_extra={"deprecated": True},
    )

    @field_validator("bot_name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("bot_name must not be blank")
        return value

    def stop_options_domain(self) -> StopOptions:
        return stop_options_domain(self.stop_options, self.time_limit)


def stop_options_domain(given: StopOptionsIn | None, legacy_time_limit: int | None) -> StopOptions:
    opts = given or StopOptionsIn()
    time_limit = opts.time_limit if opts.time_limit is not None else legacy_time_limit
    return StopOptions(
        empty_meeting_timeout=opts.empty_meeting_timeout,
        last_person_detection=opts.last_person_detection,
        waiting_room_timeout=opts.waiting_room_timeout,
        time_limit=time_limit if time_limit is not None else 720,
        silence_detection=opts.silence_detection,
    )


class UpdateBotIn(BaseModel):
    """``PATCH /api/v1/bot/{id}/``: only the fields given change. ``join_at: null`` = join now.

    Every field may change until the bot starts joining (``scheduled`` or ``booting``);
    ``metadata`` at any time."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    meeting_url: StrictStr | None = Field(None, max_length=4096)
    bot_name: StrictStr | None = Field(None, min_length=1, max_length=100)
    join_at: UtcDatetime | None = Field(
        None, validation_alias=AliasChoices("join_at", "scheduled_start_time")
    )
    expected_duration: StrictInt | None = Field(
        None, ge=1, le=720, description=EXPECTED_DURATION + "; null: the default"
    )
    metadata: Metadata | None = None
    stop_options: StopOptionsIn | None = None
    transcription_model: StrictStr | None = Field(
        None, max_length=200, description=TRANSCRIPTION_MODEL_DOC
    )
    deduplication_key: StrictStr | None = Field(None, min_length=1, max_length=200)
    webhook_url: StrictStr | None = Field(None, max_length=2048)
    recording: RecordingIn | None = None
    credentials: CredentialsIn | None = Field(
        None, description="Replaces the bot's own credentials; null removes them"
    )

    def to_patch(self) -> BotPatch:
        """The typed patch: fields the request names (by their canonical names), ``UNSET``
        for the others. Values are only parsed here; the service checks them."""
        given = self.model_fields_set
        out: dict[str, Any] = {name: getattr(self, name) for name in given}
        if "stop_options" in given and self.stop_options is not None:
            out["stop_options"] = stop_options_domain(self.stop_options, None)
        if "recording" in given and self.recording is not None:
            out["recording"] = self.recording.to_domain()
        if "credentials" in given and self.credentials is not None:
            out["credentials"] = self.credentials.to_mapping()
        return BotPatch(**out)


class ErrorOut(BaseModel):
    code: str
    detail: str


class BotPage(BaseModel):
    results: list[BotOut]
    next: str | None


class VideoOut(BaseModel):
    """``recording.mp4``: the bot's view of the meeting with the meeting's audio."""

    format: Literal["mp4"]
    content_type: str
    duration_s: float
    size_bytes: int
    width: int
    height: int
    url: str = Field(description="signed; usable without the API key until it expires")
    url_expires_in: int


class RecordingOut(BaseModel):
    format: Literal["ogg", "mp3", "wav"]
    content_type: str
    duration_s: float
    size_bytes: int
    url: str = Field(description="signed; usable without the API key until it expires")
    url_expires_in: int
    video: VideoOut | None = Field(
        None, description="with ``recording.video``, once made (null if no frames were captured)"
    )


class CredentialFlagsOut(BaseModel):
    """Which credentials are set; secrets are never returned."""

    google: bool
    microsoft: bool
    zoom: bool
    deepgram_api_key: bool
    openai_api_key: bool
    assemblyai_api_key: bool

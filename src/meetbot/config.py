"""One frozen, typed settings object, built by the entrypoints only (flags + MEETBOT_* env)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from meetbot.egress import HostAllowList


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEETBOT_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = None
    """Default: SQLite file ``meetbot.db`` in the data dir. ``postgresql://`` works too."""
    public_url: str | None = None
    """The control plane's URL as runners reach it (default ``http://host:port``)."""

    scheduled_threshold: float = Field(600, ge=0)
    """A ``join_at`` further ahead than this (seconds) makes a scheduled bot."""
    dispatch_lead: float = Field(600, ge=0)
    """Seconds before ``join_at`` at which a scheduled bot is dispatched (capacity held)."""
    warm_lead: float = Field(20, ge=0)
    """Seconds before ``join_at`` at which a scheduled bot's browser must be warm."""
    adhoc_pool_size: int = Field(2, ge=0)
    max_concurrent_bots: int = Field(8, ge=1)
    """Bots this machine runs at once (warm runners included); scheduled bots reserve it."""
    reservation_minutes: int = Field(60, ge=1, le=720)
    """A scheduled bot's expected length when its create gives no ``expected_duration``: it
    reserves capacity from ``join_at - dispatch_lead`` to ``join_at`` + this."""
    launcher: Literal["local", "fake", "fleet"] = "local"
    """``fleet``: this server runs no runners; agents (``meetbot agent``) take the bots."""
    scheduler_interval: float = Field(0.25, gt=0)

    heartbeat_interval: float = Field(2.0, gt=0)
    heartbeat_timeout: float = Field(30.0, gt=0)
    """A dispatched bot whose runner is silent this long ends failed/bot_process_lost."""
    control_plane_grace: float = Field(60.0, gt=0)
    """A runner that cannot reach the control plane this long leaves the meeting."""
    timer_unit_seconds: float = Field(60.0, gt=0)
    """Length of one stop_options 'minute'. Shorten only for tests and demos."""

    chromium_path: str = "/usr/bin/chromium"
    chromium_user: str = "nobody"
    """Whom a runner running as root runs Chromium as (a user name or uid; its sandbox does not
    work as root). Empty: as the runner's own user (``runner/sandbox.py``)."""
    chromium_no_sandbox: bool = False
    """Run the bots' Chromium without its sandbox when the sandbox cannot work here (no
    unprivileged user namespaces); otherwise runners refuse to start. A risk: see
    docs/security.md."""
    runner_spool_mb: int = Field(64, ge=1)
    """Audio a runner keeps on its disk while storage is unreachable (MB; 64 MB is ~35 min of
    16 kHz PCM); beyond it, new audio is dropped and reported lost."""
    runner_video_spool_mb: int = Field(256, ge=1)
    """The same for a bot's video chunks (``recording.video``)."""
    storage: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "meetbot"
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    signed_url_ttl: int = Field(900, ge=1)

    default_transcription_model: str = "whisper-base"
    transcription_workers: int = Field(1, ge=1)
    models_dir: Path | None = None
    """Where the Whisper base weights are joined (default ``~/.cache/meetbot/models``)."""
    deepgram_api_key: SecretStr | None = None
    """Server-wide fallback; workspaces and bots may bring their own."""
    openai_api_key: SecretStr | None = None
    assemblyai_api_key: SecretStr | None = None
    deepgram_base_url: str | None = None
    openai_base_url: str | None = None
    """Any OpenAI-compatible transcription server (default ``https://api.openai.com``), e.g.
    Groq's ``https://api.groq.com/openai`` or a self-hosted one; ``/v1/audio/transcriptions``
    is appended."""
    assemblyai_base_url: str | None = None
    """Default ``https://api.assemblyai.com`` (EU: ``https://api.eu.assemblyai.com``)."""
    assemblyai_streaming_url: str | None = None
    """Streaming (live) endpoint; default: the base URL's host with ``api.`` → ``streaming.``
    (``wss://streaming.assemblyai.com``); ``/v3/ws`` is appended."""

    webhook_allow_private: bool = False
    webhook_allowed_hosts: str = ""
    """Comma-separated host names or addresses allowed even if private/loopback."""
    self_hosted_meeting_hosts: str = ""
    """Comma-separated ``host[:port]``: where self-hosted meeting servers (Janus) may be, and
    what the bot's browser may reach although it is loopback/private (a host without a port
    allows all its ports). Empty: no self-hosted meetings."""
    webhook_timeout: float = 15.0
    webhook_retry_window: float = 24 * 3600.0
    webhook_delivery_retention: float = Field(30 * 24 * 3600.0, ge=24 * 3600.0)
    """Seconds a finished delivery (and its attempts) stays listed; then the janitor deletes it.
    Events stay in the feed (``/api/v1/events/``) and can be replayed."""
    delivery: Literal["process", "inline"] = "process"
    """``process``: ``meetbot serve`` delivers webhooks from a child process (its own core);
    ``inline``: on the server's event loop (one process, for tests and one-core machines)."""

    rate_limit_create_per_minute: int = Field(0, ge=0)
    """0 = off. Per workspace."""
    rate_limit_read_per_minute: int = Field(0, ge=0)
    idempotency_ttl: float = Field(24 * 3600.0, ge=3600)
    auth_failures_per_minute: int = Field(30, ge=0)
    """Failed authentications an address may make a minute (burst as large); then 429 until
    its allowance refills. 0 = off."""
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    """A request body larger than this is refused (413 ``request_too_large``) unread."""
    max_requests_in_flight: int = Field(16, ge=0)
    """Public API requests answered at a time; more wait (see ``max_queue_wait_ms``). 0 = off."""
    max_queue_wait_ms: int = Field(20, ge=0)
    """How long a request may wait for a slot before it is shed: 503 ``service_unavailable``
    "Our servers have dropped the request due to high load -- please retry." (0: at once)."""
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line, with the request id, bot id and workspace of the
    request or bot the line belongs to; ``text``: human-readable lines."""
    secret: SecretStr | None = None
    """The server secret, 64 hex characters (32 bytes): signs media links and cursors, seals
    stored credentials. Unset: ``secret.key`` in the data dir, created on first start. Replicas
    of one deployment (Kubernetes) must share it: give it from a Secret."""
    metrics_token: SecretStr | None = None
    """When set, ``GET /metrics`` wants ``Authorization: Bearer <token>``; unset, it is open
    (as Prometheus scrapes expect: keep the port off the internet or set a token)."""

    @field_validator("secret")
    @classmethod
    def _secret_hex(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            text = value.get_secret_value()
            if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
                raise ValueError("MEETBOT_SECRET must be 64 hex characters (32 bytes)")
        return value

    @property
    def given_secret(self) -> str | None:
        return self.secret.get_secret_value() if self.secret else None

    stream_poll_interval: float = Field(0.25, gt=0, le=10)
    """Seconds a bot's stream (``GET /api/v1/bot/{id}/stream``) waits before it reads the
    database again when no wake came: the delay of an event committed on another replica."""
    stream_token_ttl: int = Field(300, ge=10, le=24 * 3600)
    """Seconds a stream token (``POST /api/v1/bot/{id}/stream_token/``) opens the stream."""

    calendar_horizon_days: int = Field(28, ge=1, le=366)
    """Calendars: occurrences this many days ahead are listed and get bots."""
    calendar_poll_seconds: float = Field(300, gt=0)
    """Calendars: each calendar is synced at least this often (push syncs sooner)."""
    calendar_google_api_url: str = "https://www.googleapis.com/calendar/v3"
    calendar_google_token_url: str = "https://oauth2.googleapis.com/token"
    """Google Calendar's API and OAuth token endpoint (a test points them at a fake)."""
    calendar_microsoft_api_url: str = "https://graph.microsoft.com/v1.0"
    calendar_microsoft_token_url: str = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    """Microsoft Graph and its OAuth token endpoint (a test points them at a fake)."""
    agent_timeout: float = Field(15.0, gt=0)
    """A fleet agent silent this long is ``lost``: no bots; its bots not yet joining go to
    another agent."""
    fleet_max_slots: int | None = Field(None, ge=1)
    """Capacity scheduled bots reserve against in a fleet when an autoscaler can add agents;
    unset: the slots of the live agents."""

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'meetbot.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @field_validator("self_hosted_meeting_hosts")
    @classmethod
    def _host_list(cls, value: str) -> str:
        HostAllowList.parse(value)  # ValueError names the bad entry
        return value

    @property
    def self_hosted_meeting_host_list(self) -> HostAllowList:
        return HostAllowList.parse(self.self_hosted_meeting_hosts)

    @property
    def allowed_webhook_hosts(self) -> frozenset[str]:
        return frozenset(
            h.strip().lower() for h in self.webhook_allowed_hosts.split(",") if h.strip()
        )

"""The exception tree. Each error maps to one ``{code, detail}`` body and one HTTP status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class MeetbotError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"

    def __init__(
        self,
        detail: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class InvalidRequest(MeetbotError):
    """A field is missing, malformed or out of range."""


class InvalidCursor(InvalidRequest):
    """A pagination cursor this API did not make for this list of this workspace."""

    code = "invalid_cursor"

    def __init__(
        self, detail: str = "Not a cursor this API returned for this list: pass `next` back as is."
    ) -> None:
        super().__init__(detail)


class InvalidMeetingUrl(MeetbotError):
    code = "invalid_meeting_url"


class InvalidTranscriptionModel(MeetbotError):
    code = "invalid_transcription_model"


class MissingTranscriptionKey(MeetbotError):
    """The transcription model needs a vendor key and none is set anywhere."""

    code = "missing_transcription_key"


class UpdateBotFailed(MeetbotError):
    code = "update_bot_failed"


class BotNotStarted(MeetbotError):
    code = "bot_not_started"

    def __init__(self) -> None:
        super().__init__("Cannot send a command to a bot which has not been started.")


class BotCompleted(MeetbotError):
    code = "bot_completed"

    def __init__(self) -> None:
        super().__init__(
            "Cannot send a command to a bot which has completed"
            "(is shutting/has shut down/has errored)."
        )


class Unauthorized(MeetbotError):
    status = 401
    code = "unauthorized"


class StaleRunnerToken(Unauthorized):
    """The runner token of a bot that exists, but not its current one, or of a bot that ended:
    most often a runner whose bot was reaped or handed to another runner, not a guesser. The
    same 401 to the client; counted against that bot only (see
    :mod:`meetbot.control.api.auth_failures`), so a host's ended runners do not lock its other
    runners and its agent out."""


class NotFound(MeetbotError):
    status = 404
    code = "not_found"


class MethodNotAllowed(MeetbotError):
    status = 405
    code = "method_not_allowed"


class Conflict(MeetbotError):
    status = 409
    code = "conflict"


class DuplicateBot(Conflict):
    code = "duplicate_bot"

    def __init__(self, bot_id: str) -> None:
        super().__init__(
            "A bot with this deduplication_key is still active in this workspace.",
            extra={"bot_id": bot_id},
        )
        self.bot_id = bot_id


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class ScheduleFull(Conflict):
    """A scheduled bot's window cannot be reserved: the capacity is booked then."""

    code = "schedule_full"


class RateLimited(MeetbotError):
    status = 429
    code = "rate_limited"


class PoolExhausted(MeetbotError):
    status = 507
    code = "adhoc_pool_exhausted"

    def __init__(self) -> None:
        super().__init__(
            "Out of adhoc bots -- please retry in 30 seconds.", headers={"Retry-After": "30"}
        )


class StoreUnavailable(MeetbotError):
    """The database cannot be reached, or stayed busy past the lock wait: retry shortly. The
    transaction rolled back, unless the connection was lost at its very commit (then the
    outcome is unknown: an ``Idempotency-Key`` makes the retry safe either way)."""

    status = 503
    code = "service_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class BotInCall(MeetbotError):
    """``delete_data`` while a runner owns the bot."""

    code = "bot_in_call"


class BotProcessing(MeetbotError):
    """``delete_data`` while the media worker makes the bot's recording or transcript."""

    code = "bot_processing"


class NotReady(MeetbotError):
    """The resource exists but is not available yet (e.g. a recording still being made)."""

    status = 404
    code = "not_ready"


class CredentialsUnreadable(MeetbotError):
    """Stored credentials do not decrypt (altered, or the server secret changed)."""

    status = 409  # a state the client can fix (send the credentials again), never a 500
    code = "credentials_unreadable"

"""The API's errors as typed exceptions: one class per common ``code`` / HTTP status.

Every error body of the API is ``{"code", "detail", ...}``; :func:`error_from` turns an answer
into the most specific class, keeping ``code``, ``detail``, ``status`` and the whole ``body``.
Branch on the class or on ``code``; the list of codes is open (an unknown one is still an
:class:`ApiError` of its status's class).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class MeetbotClientError(Exception):
    """Every error this client raises."""


class ApiError(MeetbotClientError):
    """The server answered with an error status."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        body: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body: dict[str, Any] = dict(body or {"code": code, "detail": detail})
        self.retry_after = retry_after
        """Seconds from the ``Retry-After`` header, when the answer had one."""


class InvalidRequest(ApiError):
    """400: the request breaks a rule (``code`` names it; ``body["field"]`` the field)."""


class Unauthorized(ApiError):
    """401: missing or invalid API key."""


class Forbidden(ApiError):
    """403."""


class NotFound(ApiError):
    """404: no such bot, endpoint or route in this workspace."""


class NotReady(NotFound):
    """404 ``not_ready``: the recording (or transcript) does not exist yet."""


class MethodNotAllowed(ApiError):
    """405: e.g. ``DELETE`` of a dispatched bot (use ``leave``)."""


class Conflict(ApiError):
    """409: ``duplicate_bot`` (``body["bot_id"]``), ``idempotency_key_reused``,
    ``schedule_full``, ``credentials_unreadable``."""


class RequestTooLarge(ApiError):
    """413."""


class RateLimited(ApiError):
    """429: wait ``retry_after`` seconds."""


class ServerError(ApiError):
    """500, and any other 5xx without its own class."""


class ServiceUnavailable(ServerError):
    """502, 503, 504: the server (or a proxy) is unavailable or overloaded; retry."""


class CapacityExhausted(ApiError):
    """507 ``adhoc_pool_exhausted``: no warm bot idle; retry in ``retry_after`` (30) seconds."""


class WaitTimeout(MeetbotClientError, TimeoutError):
    """``bots.wait`` gave up before the bot reached the awaited status."""

    def __init__(self, bot_id: str, status: str, timeout: float) -> None:
        super().__init__(f"bot {bot_id} is still {status} after {timeout:g} s")
        self.bot_id = bot_id
        self.status = status


class StreamLost(MeetbotClientError, ConnectionError):
    """``stream()`` could not get its connection back: ``attempts`` reconnections failed in a
    row (the last failure is the ``__cause__``)."""

    def __init__(self, bot_id: str, attempts: int) -> None:
        super().__init__(f"the stream of bot {bot_id} was lost ({attempts} reconnections failed)")
        self.bot_id = bot_id
        self.attempts = attempts


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: RequestTooLarge,
    429: RateLimited,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
    507: CapacityExhausted,
}


def error_class(status: int, code: str) -> type[ApiError]:
    if status == 404 and code == "not_ready":
        return NotReady
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError


def error_from(status: int, body: Any, retry_after: float | None = None) -> ApiError:
    """The exception for an error answer; a body that is not ``{code, detail}`` (a proxy's
    page) still gives the status's class, with ``code`` ``http_<status>``."""
    if isinstance(body, Mapping) and isinstance(body.get("code"), str):
        code = str(body["code"])
        detail = str(body.get("detail", ""))
        data: Mapping[str, Any] | None = body
    else:
        code, detail, data = f"http_{status}", str(body or "")[:500], None
    return error_class(status, code)(status, code, detail, body=data, retry_after=retry_after)

"""What the "bring your own key" adapters share: their errors and one retrying HTTP call.

The adapters are synchronous (``httpx.Client``) so that they implement the synchronous
:class:`meetbot.ports.Transcriber` like the local engine does; the transcription worker runs any
transcriber in a thread. Keys are sent only in headers and never appear in error messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import httpx

UNAVAILABLE: Final = "transcription_vendor_unavailable"
"""The vendor could not be reached, timed out, rate-limited us or failed (5xx), after retries."""
VENDOR_ERROR: Final = "transcription_vendor_error"
"""The vendor refused the request (4xx other than auth) or answered something unreadable."""
INVALID_API_KEY: Final = "invalid_api_key"


class VendorError(RuntimeError):
    """A vendor transcription failed; ``sub_code`` is the bot's ``sub_code`` when it fails."""

    def __init__(
        self, vendor: str, message: str, *, sub_code: str, status_code: int | None = None
    ) -> None:
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor
        self.sub_code = sub_code
        self.status_code = status_code


class VendorAuthError(VendorError):
    """The vendor rejected the key (401/403): the bot ends ``invalid_api_key``."""

    def __init__(self, vendor: str, message: str, *, status_code: int) -> None:
        super().__init__(vendor, message, sub_code=INVALID_API_KEY, status_code=status_code)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 1.0
    """Seconds before the 2nd attempt, doubled after each; ``Retry-After`` wins if given."""
    max_delay: float = 30.0


def _message(response: httpx.Response) -> str:
    """The vendor's own error text, from the documented error bodies, else the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])  # OpenAI: {"error": {"message", "type", "code"}}
        if isinstance(error, str):
            return error  # AssemblyAI: {"error": "..."}
        for key in ("err_msg", "message", "reason"):  # Deepgram: {"err_code", "err_msg"}
            if isinstance(body.get(key), str):
                return str(body[key])
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def send_json(
    vendor: str,
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    retry: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Send the request ``build()`` makes, retrying transport errors, 429 and 5xx; return the
    decoded JSON body of a 2xx answer or raise :class:`VendorError`."""
    last = "no attempt made"
    status: int | None = None
    for attempt in range(max(1, retry.attempts)):
        delay = min(retry.max_delay, retry.backoff * 2**attempt)
        try:
            response = client.send(build())
        except httpx.TransportError as exc:
            last, status = f"{type(exc).__name__}: {exc}", None
        else:
            status = response.status_code
            if status in (401, 403):
                raise VendorAuthError(vendor, _message(response), status_code=status)
            if 200 <= status < 300:
                try:
                    return response.json()
                except ValueError as exc:
                    raise VendorError(
                        vendor, "response is not JSON", sub_code=VENDOR_ERROR, status_code=status
                    ) from exc
            if status != 429 and status < 500:
                raise VendorError(
                    vendor, _message(response), sub_code=VENDOR_ERROR, status_code=status
                )
            last = _message(response)
            delay = min(retry.max_delay, _retry_after(response) or delay)
        if attempt + 1 < retry.attempts:
            sleep(delay)
    raise VendorError(vendor, last, sub_code=UNAVAILABLE, status_code=status)


def number(value: Any, field: str, vendor: str) -> float:
    """A float from a response field, or a :class:`VendorError` naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise VendorError(
            vendor, f"response field {field!r} is not a number", sub_code=VENDOR_ERROR
        )
    return float(value)


class VendorTranscriber:
    """What every vendor transcriber takes: the key, the model, where the API is, and how to
    call it (timeout, retries, an httpx transport for tests)."""

    default_model: ClassVar[str]
    default_base_url: ClassVar[str]

    def __init__(
        self,
        api_key: str,
        model: str | None = None,
        *,
        base_url: str | None = None,
        language: str | None = None,
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._api_key = api_key
        self.model = model or self.default_model
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.language = language
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._transport = transport

    def client(self) -> httpx.Client:
        """A client for one transcription (its requests share connections)."""
        return httpx.Client(timeout=self.timeout, transport=self._transport)

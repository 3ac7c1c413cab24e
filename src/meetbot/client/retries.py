"""When a request is sent again, and after how long.

429, 502, 503, 504 and 507 are retried (the API's docs: "retry the same request"), at most
``max_retries`` times, after the answer's ``Retry-After`` seconds when it has one (else an
exponential backoff), never longer than ``max_delay`` per wait. A connection that could not be
opened (nothing was sent) is retried the same way. Creates carry an ``Idempotency-Key``, so a
repeated create is never a second bot.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import UTC, datetime

RETRY_STATUSES = frozenset({429, 502, 503, 504, 507})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    """Sends after the first; 0 turns retries off."""
    max_delay: float = 60.0
    """The longest wait between two sends (a longer ``Retry-After`` is cut to this)."""
    backoff: float = 0.5
    """The first wait when the answer names none; doubled each time."""
    statuses: frozenset[int] = RETRY_STATUSES

    def retries(self, status: int) -> bool:
        return status in self.statuses

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before send ``attempt + 1`` (``attempt`` counts from 0)."""
        wait = retry_after if retry_after is not None else self.backoff * (2**attempt)
        return max(0.0, min(wait, self.max_delay))


NO_RETRIES = RetryPolicy(max_retries=0)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds, or an HTTP date (RFC 9110); else None."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - datetime.fromtimestamp(current, UTC).timestamp())

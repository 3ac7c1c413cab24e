"""When to try a failed delivery again: exponential backoff with full jitter, within a window."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = 2.0
    """Upper bound of the first retry's delay, in seconds; it doubles with every attempt."""
    cap: float = 3600.0
    """No single delay is longer than this."""
    window: float = 24 * 3600.0
    """Retry for this long after a delivery is created, then give up."""

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.window < 0:
            raise ValueError("retry policy needs 0 < base <= cap and window >= 0")


def backoff_ceiling(attempts: int, policy: RetryPolicy) -> float:
    """The longest delay after ``attempts`` failed attempts (``attempts >= 1``)."""
    exponent = min(max(attempts, 1) - 1, 62)
    return min(policy.cap, policy.base * 2.0**exponent)


def next_retry_at(
    attempts: int,
    now: datetime,
    expires_at: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> datetime | None:
    """When to make attempt ``attempts + 1``, or ``None`` to give up.

    Full jitter: a delay drawn uniformly from ``[0, ceiling]``. The last attempt is made at
    ``expires_at`` itself when the drawn time overshoots it, so a delivery is retried for at
    least the whole window; once an attempt at or after ``expires_at`` fails, it is over.
    """
    if now >= expires_at:
        return None
    delay = rng.uniform(0.0, backoff_ceiling(attempts, policy))
    return min(now + timedelta(seconds=delay), expires_at)

"""Retry schedule: exponential ceilings, full jitter, the whole window and no more."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meetbot.control.webhooks.backoff import RetryPolicy, backoff_ceiling, next_retry_at

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = RetryPolicy()


@pytest.mark.parametrize(
    ("attempts", "ceiling"),
    [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (11, 2048.0), (12, 3600.0), (500, 3600.0)],
)
def test_ceiling_doubles_up_to_the_cap(attempts: int, ceiling: float) -> None:
    assert backoff_ceiling(attempts, DAY) == ceiling


def test_bad_policies_are_refused() -> None:
    for kwargs in ({"base": 0}, {"base": 10, "cap": 5}, {"window": -1}):
        with pytest.raises(ValueError, match="retry policy"):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attempts=st.integers(1, 200), seed=st.integers(0, 2**32), offset=st.floats(0, 86_399))
def test_delay_is_within_full_jitter_bounds(attempts: int, seed: int, offset: float) -> None:
    now = T0 + timedelta(seconds=offset)
    at = next_retry_at(attempts, now, T0 + timedelta(days=1), DAY, random.Random(seed))
    assert at is not None
    delay = (at - now).total_seconds()
    assert 0 <= delay <= backoff_ceiling(attempts, DAY) + 1e-6
    assert at <= T0 + timedelta(days=1)


def simulate(policy: RetryPolicy, seed: int) -> list[datetime]:
    """Attempt times of a delivery that never succeeds."""
    rng, expires = random.Random(seed), T0 + timedelta(seconds=policy.window)
    times, now = [T0], T0
    while (nxt := next_retry_at(len(times), now, expires, policy, rng)) is not None:
        times.append(nxt)
        now = nxt
    return times


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32))
def test_retries_span_the_whole_window_then_stop(seed: int) -> None:
    times = simulate(DAY, seed)
    assert times == sorted(times)
    assert times[-1] == T0 + timedelta(days=1)  # the last try is at the window's end
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert max(gaps) <= DAY.cap
    assert 24 <= len(times) <= 2000


def test_expected_number_of_attempts_is_reasonable() -> None:
    counts = [len(simulate(DAY, seed)) for seed in range(200)]
    assert 45 < sum(counts) / len(counts) < 80


def test_at_or_after_expiry_means_give_up() -> None:
    rng = random.Random(1)
    assert next_retry_at(3, T0, T0, DAY, rng) is None
    assert next_retry_at(3, T0 + timedelta(seconds=1), T0, DAY, rng) is None


def test_same_seed_same_schedule() -> None:
    assert simulate(DAY, 7) == simulate(DAY, 7)
    assert simulate(DAY, 7) != simulate(DAY, 8)

"""The per-address allowance of failed authentications."""

from __future__ import annotations

import pytest

from meetbot import errors
from meetbot.control.api.auth_failures import API, RUNNER, AuthFailures


def test_an_address_is_refused_once_its_allowance_is_spent() -> None:
    failures = AuthFailures(per_minute=3)
    for _ in range(3):
        failures.check(API, "10.0.0.1")
        failures.failed(API, "10.0.0.1")
    with pytest.raises(errors.RateLimited) as refused:
        failures.check(API, "10.0.0.1")
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 21
    failures.check(API, "10.0.0.2")  # another address
    failures.check(RUNNER, "10.0.0.1")  # another channel


def test_off_keeps_nothing() -> None:
    failures = AuthFailures(per_minute=0)
    for _ in range(100):
        failures.failed(API, "10.0.0.1")
    failures.check(API, "10.0.0.1")
    assert len(failures) == 0


def test_memory_is_bounded() -> None:
    failures = AuthFailures(per_minute=3, size=100)
    for n in range(10_000):
        failures.failed(API, f"10.0.{n // 256}.{n % 256}")
    assert len(failures) == 100

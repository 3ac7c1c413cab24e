"""What one attempt's result makes of a delivery."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from meetbot.control.ports import SendResult
from meetbot.control.webhooks.backoff import RetryPolicy
from meetbot.control.webhooks.delivery import outcome, request_headers
from meetbot.control.webhooks.models import ClaimedDelivery, Delivery, DeliveryStatus
from meetbot.control.webhooks.signing import new_secret

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = RetryPolicy()


def claimed(attempts: int = 0, window: float = 86_400.0) -> ClaimedDelivery:
    d = Delivery(
        id="d1",
        workspace_id="ws",
        event_id="ev1",
        event_seq=1,
        event_type="status_update",
        bot_id="b1",
        endpoint_id="e1",
        url="https://a.example/h",
        body='{"type":"status_update"}',
        created_at=T0,
        expires_at=T0 + timedelta(seconds=window),
        attempts=attempts,
    )
    return ClaimedDelivery(d, "tok", "https://now.example/h", (new_secret(),))


def test_a_2xx_delivers() -> None:
    r = outcome(claimed(), SendResult(204, 5.0), T0, DAY, random.Random(1))
    assert (r.status, r.next_attempt_at, r.token) == (DeliveryStatus.DELIVERED, None, "tok")
    assert (r.attempt.status_code, r.attempt.latency_ms, r.attempt.url) == (
        204,
        5.0,
        "https://now.example/h",
    )


def test_a_failure_is_retried_within_the_window() -> None:
    for result in (SendResult(500, 1.0, "HTTP 500"), SendResult(None, 1.0, "timed out")):
        r = outcome(claimed(attempts=3), result, T0, DAY, random.Random(1))
        assert r.status is DeliveryStatus.PENDING
        assert r.next_attempt_at is not None
        assert T0 <= r.next_attempt_at <= T0 + timedelta(seconds=8)
        assert r.attempt.error == result.error


def test_after_the_window_it_fails() -> None:
    late = T0 + timedelta(days=1)
    r = outcome(claimed(attempts=40), SendResult(503, 1.0), late, DAY, random.Random(1))
    assert (r.status, r.next_attempt_at) == (DeliveryStatus.FAILED, None)


def test_the_shorter_of_the_two_windows_wins() -> None:
    short = RetryPolicy(window=60)
    at = T0 + timedelta(seconds=61)
    assert outcome(claimed(), SendResult(500, 1.0), at, short, random.Random(1)).status is (
        DeliveryStatus.FAILED
    )
    own = claimed(window=30)
    assert outcome(own, SendResult(500, 1.0), at, DAY, random.Random(1)).status is (
        DeliveryStatus.FAILED
    )


def test_request_headers_are_signed_json() -> None:
    h = request_headers(claimed(), T0)
    assert h["content-type"] == "application/json"
    assert h["webhook-id"] == "ev1"
    assert h["webhook-signature"].startswith("v1,")

"""The SDK's pure rules: retries, error classes, wait conditions, webhook signatures."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks import Webhook

from meetbot.client import (
    CapacityExhausted,
    Meetbot,
    NotReady,
    RateLimited,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    WebhookVerificationError,
    verify_webhook,
)
from meetbot.client.errors import ApiError, NotFound, error_from
from meetbot.client.models import Bot, reached
from meetbot.client.retries import parse_retry_after
from meetbot.client.webhook_signature import signature

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30", 30.0), ("1.5", 1.5), ("-3", 0.0), (None, None), ("soon", None)],
)
def test_retry_after_in_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("Thu, 01 Jan 2026 10:00:12 GMT", now=now) == 12.0


def test_delay_honours_retry_after_up_to_the_cap_else_backs_off() -> None:
    policy = RetryPolicy(max_delay=20, backoff=0.5)
    assert policy.delay(0, 30) == 20
    assert policy.delay(3, 2) == 2
    assert [policy.delay(n, None) for n in range(3)] == [0.5, 1.0, 2.0]
    assert policy.retries(507)
    assert not policy.retries(500)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (404, "not_ready", NotReady),
        (404, "not_found", NotFound),
        (429, "rate_limited", RateLimited),
        (503, "service_unavailable", ServiceUnavailable),
        (507, "adhoc_pool_exhausted", CapacityExhausted),
        (500, "internal_error", ServerError),
        (418, "teapot", ApiError),
    ],
)
def test_each_status_and_code_has_its_class(status: int, code: str, cls: type) -> None:
    error = error_from(status, {"code": code, "detail": "d", "extra": 1}, 3.0)
    assert type(error) is cls
    assert (error.status, error.code, error.detail, error.retry_after) == (status, code, "d", 3.0)
    assert error.body["extra"] == 1


def test_a_proxy_page_still_gives_the_status_class() -> None:
    error = error_from(502, "<html>Bad gateway</html>")
    assert isinstance(error, ServiceUnavailable)
    assert error.code == "http_502"


def _bot(status: str, history: list[str]) -> Bot:
    return Bot.model_validate(
        {
            "id": "b", "meeting_url": "u", "platform": "google_meet", "bot_name": "n",
            "kind": "adhoc", "status": status, "transcription_model": "none",
            "created_at": "t", "updated_at": "t",
            "status_changes": [{"status": s, "at": "t"} for s in history],
        }
    )  # fmt: skip


def test_wait_conditions() -> None:
    leaving = _bot("leaving", ["booting", "joining", "recording", "leaving"])
    assert reached(leaving, "recording")  # went through it between two polls
    assert reached(leaving, ["processing", "leaving"])
    assert not reached(leaving, "finished")
    assert not reached(leaving, None)
    assert reached(leaving, lambda b: b.status == "leaving")
    assert reached(_bot("failed", ["booting", "failed"]), "recording")  # ended: done anyway
    assert reached(_bot("some_new_status", []), "some_new_status")


def test_verify_webhook_matches_the_standard_webhooks_library() -> None:
    now = datetime.now(UTC)
    body = '{"type":"status_update","id":"e1","created_at":"t","data":{"bot_id":"b"}}'
    signed = Webhook(SECRET).sign(msg_id="msg_1", timestamp=now, data=body)
    assert signed == signature(SECRET, "msg_1", int(now.timestamp()), body.encode())
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": f"v1,bm90IHRoaXMgb25l {signed}",
    }
    assert verify_webhook(SECRET, body, headers)["data"] == {"bot_id": "b"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, body, {**headers, "Webhook-Id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, body, {k: v for k, v in headers.items() if k != "Webhook-Id"})


def test_a_retried_create_keeps_its_idempotency_key_and_waits_retry_after() -> None:
    seen: list[tuple[str | None, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers.get("Idempotency-Key"), request.headers["Authorization"]))
        if len(seen) < 3:
            return httpx.Response(
                429, headers={"Retry-After": "7"}, json={"code": "rate_limited", "detail": "slow"}
            )
        return httpx.Response(201, json=_bot("booting", ["booting"]).model_dump())

    waits: list[float] = []
    client = Meetbot(
        "http://meetbot.test", "k", transport=httpx.MockTransport(answer), sleep=waits.append
    )
    with client:
        assert client.bots.create("https://meet.google.com/abc-defg-hij").status == "booting"
    assert waits == [7.0, 7.0]
    keys = {key for key, _ in seen}
    assert len(keys) == 1
    assert None not in keys
    assert {auth for _, auth in seen} == {"Token k"}


def test_the_public_api_is_pinned() -> None:
    import meetbot.client as client

    assert client.__all__ == [
        "NO_RETRIES", "ApiError", "AsyncMeetbot", "AudioChunk", "AudioQueued", "Bot", "Calendar",
        "CalendarEvent", "Capacity", "CapacityExhausted", "ChatMessage", "Conflict",
        "CredentialFlags", "DebugArtifact", "Delivery", "Event", "Forbidden", "InvalidRequest",
        "Meetbot", "MeetbotClientError", "MethodNotAllowed", "NotFound", "NotReady",
        "Participant", "ParticipantAudio", "RateLimited", "Recording", "RequestTooLarge",
        "RetryPolicy", "Segment",
        "ServerError", "ServiceUnavailable", "StreamEvent", "StreamLost", "Transcript",
        "Unauthorized", "WaitTimeout", "WebhookEndpoint", "WebhookVerificationError",
        "verify_webhook",
    ]  # fmt: skip
    for name in client.__all__:
        assert getattr(client, name) is not None
    from meetbot.client import asynchronous, calendars, sync, webhooks

    pairs = [
        (sync.Meetbot, asynchronous.AsyncMeetbot),
        (sync.Bots, asynchronous.Bots),
        (webhooks.Webhooks, webhooks.AsyncWebhooks),
        (sync.Events, asynchronous.Events),
        (sync.Credentials, asynchronous.Credentials),
        (calendars.Calendars, calendars.AsyncCalendars),
    ]
    for blocking_class, awaited_class in pairs:  # the same methods on both
        blocking = {n for n in dir(blocking_class) if not n.startswith("_")}
        awaited = {n for n in dir(awaited_class) if not n.startswith("_")}
        if blocking_class is sync.Meetbot:  # the context managers' names differ
            blocking, awaited = blocking - {"close"}, awaited - {"aclose"}
        assert blocking == awaited

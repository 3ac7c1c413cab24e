"""The stream's pure rules (:class:`meetbot.client.stream.Resumption`): where it connects,
where a reconnection resumes, when it is over, and when it gives up."""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from meetbot.client import (
    AudioChunk,
    NotFound,
    RetryPolicy,
    ServiceUnavailable,
    StreamEvent,
    StreamLost,
)
from meetbot.client.connection import Connection
from meetbot.client.models import (
    CHAT_MESSAGE,
    TRANSCRIPT_LAGGING,
    TRANSCRIPT_PARTIAL,
    chat_message_of,
    lag_of,
    segments_of,
)
from meetbot.client.stream import Resumption

EVENT = {"type": "status_update", "id": "e1", "created_at": "t", "data": {}, "cursor": "c1"}


def state(base: str = "http://127.0.0.1:8000", **kwargs: object) -> Resumption:
    retry = RetryPolicy(max_retries=2, backoff=0.5)
    return Resumption(Connection(base, "k"), retry, "bot 1", **kwargs)  # type: ignore[arg-type]


def test_the_url_follows_the_server_and_resumes_after_the_last_cursor() -> None:
    plain = state()
    assert plain.url() == "ws://127.0.0.1:8000/api/v1/bot/bot%201/stream"
    assert plain.headers() == {"Authorization": "Token k"}
    behind = state("https://example.com/meetbot", audio="mixed", after="c0")
    assert (
        behind.url() == "wss://example.com/meetbot/api/v1/bot/bot%201/stream?after=c0&audio=mixed"
    )
    frame = behind.frame(json.dumps(EVENT))
    assert isinstance(frame, StreamEvent)
    assert frame.cursor == "c1"
    assert behind.frame(b"\x00\x01") == AudioChunk(b"\x00\x01")
    assert "after=c1" in behind.url()


def test_only_the_servers_normal_close_ends_the_stream() -> None:
    s = state()
    assert s.ended(ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True))
    assert not s.ended(ConnectionClosedOK(Close(1001, "going away"), None))
    assert not s.ended(ConnectionClosedError(None, None))
    assert not s.ended(OSError("refused"))


def test_failures_in_a_row_are_limited_and_a_frame_resets_them() -> None:
    s = state()
    assert [s.wait_before_retry(OSError()), s.wait_before_retry(OSError())] == [0.5, 1.0]
    s.frame(json.dumps(EVENT))
    assert s.wait_before_retry(OSError()) == 0.5
    s.wait_before_retry(OSError())
    with pytest.raises(StreamLost) as lost:
        s.wait_before_retry(OSError())
    assert lost.value.attempts == 2


def refusal(status: int, body: dict[str, str], headers: dict[str, str] | None = None) -> Exception:
    response = Response(status, "", Headers(headers or {}), json.dumps(body).encode())
    return InvalidStatus(response)


def test_a_refused_handshake_is_the_apis_error_and_retried_when_the_api_says_so() -> None:
    s = state()
    with pytest.raises(NotFound):
        s.wait_before_retry(refusal(404, {"code": "not_found", "detail": "No bot."}))
    busy = refusal(503, {"code": "service_unavailable", "detail": "d"}, {"Retry-After": "3"})
    assert s.wait_before_retry(busy) == 3.0
    assert s.wait_before_retry(busy) == 3.0
    with pytest.raises(ServiceUnavailable) as past_the_limit:  # as send() would raise it
        s.wait_before_retry(busy)
    assert past_the_limit.value.retry_after == 3.0


def test_the_newer_events_read_as_models() -> None:
    def event(type_: str, data: dict[str, object]) -> StreamEvent:
        return StreamEvent.model_validate(
            {"type": type_, "id": "e", "created_at": "t", "data": data, "cursor": "c"}
        )

    partial = event(TRANSCRIPT_PARTIAL, {"segments": [{"start": 0, "end": 1, "text": "Hel"}]})
    assert [s.text for s in segments_of(partial)] == ["Hel"]
    lag = lag_of(event(TRANSCRIPT_LAGGING, {"lag_seconds": 12.5, "caught_up": False}))
    assert (lag.lag_seconds, lag.caught_up) == (12.5, False)
    said = {
        "id": "m1", "text": "hi", "sender": {"id": "p1", "name": "Ada"}, "to": "everyone",
        "from_bot": False, "at": "2026-01-01T10:00:00.000Z",
    }  # fmt: skip
    message = chat_message_of(event(CHAT_MESSAGE, {"bot_id": "b", "message": said}))
    assert (message.text, message.sender.name, message.from_bot) == ("hi", "Ada", False)

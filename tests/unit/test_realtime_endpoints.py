"""``realtime_endpoints`` on create: the rules of an entry, the URL shown, an audio frame."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from meetbot.contract.models import OutboxEvent
from meetbot.contract.reports import AudioChunk
from meetbot.control.realtime_endpoints import (
    AUDIO_MIXED,
    InvalidRealtimeEndpoint,
    check_endpoint,
    shown_url,
    validate_endpoints,
)
from meetbot.control.realtime_push import audio_frame, ends_push
from meetbot.control.webhooks.targets import TargetPolicy

OPEN = TargetPolicy(allow_private=True)
STRICT = TargetPolicy()
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("type_", "url", "events", "says"),
    [
        ("rtmp", "wss://example.com/x", ["status_update"], "type"),
        ("websocket", "wss://example.com/x", [], "at least one"),
        ("websocket", "wss://example.com/x", ["nonsense"], "unknown"),
        ("webhook", "https://example.com/x", [AUDIO_MIXED], "WebSocket endpoints only"),
        ("webhook", "https://example.com/x", ["calendar.update"], "unknown"),
        ("websocket", "https://example.com/x", ["status_update"], "ws:// or wss://"),
        ("webhook", "wss://example.com/x", ["status_update"], "http:// or https://"),
        ("webhook", "ftp://example.com/x", ["status_update"], "http:// or https://"),
        ("websocket", "wss://user:pw@example.com/x", ["status_update"], "user name"),
        ("websocket", "ws://127.0.0.1:9/x", ["status_update"], "loopback"),
        ("webhook", "http://169.254.169.254/", ["status_update"], "169.254.169.254"),
        ("websocket", "ws://[::1]:9/", ["status_update"], "loopback"),
    ],
)
def test_an_entry_breaking_a_rule_is_refused_naming_it(
    type_: str, url: str, events: list[str], says: str
) -> None:
    with pytest.raises(InvalidRealtimeEndpoint) as caught:
        check_endpoint(2, type_, url, events, STRICT)
    assert caught.value.code == "invalid_realtime_endpoints"
    assert caught.value.status == 400
    assert caught.value.detail.startswith("realtime_endpoints[2].")
    assert says in caught.value.detail


def test_loopback_is_allowed_where_webhooks_may_reach_it_and_events_dedupe() -> None:
    endpoint, target = check_endpoint(
        0, "websocket", "ws://127.0.0.1:8765/rt?token=s3cret", ["status_update"] * 2, OPEN
    )
    assert endpoint.events == ("status_update",)
    assert (target.host, target.port) == ("127.0.0.1", 8765)
    assert check_endpoint(0, "webhook", "http://localhost:1/h", ["chat.message"], OPEN)


async def test_validation_resolves_hosts_and_caps_the_count() -> None:
    async def private(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    entry = ("webhook", "https://hooks.example.com/x", ["status_update"])
    with pytest.raises(InvalidRealtimeEndpoint, match=r"\[0\]\.url: .*private"):
        await validate_endpoints([entry], STRICT, private)
    with pytest.raises(InvalidRealtimeEndpoint, match="at most 5"):
        await validate_endpoints([entry] * 6, OPEN, private)
    assert len(await validate_endpoints([entry] * 2, OPEN, private)) == 2


def test_the_shown_url_has_no_query() -> None:
    assert shown_url("wss://r.example.com:8443/a/b?token=x#f") == "wss://r.example.com:8443/a/b"


def test_an_audio_frame_is_json_with_base64_pcm() -> None:
    pcm = b"\x01\x00\xff\x7f" * 8
    chunk = AudioChunk(at=T0, seq=3, key="bots/b/chunks/00000003.pcm", offset_s=4.5, duration_s=1.5)
    type_, frame_id, text = audio_frame("b", chunk, pcm)
    body = json.loads(text)
    assert type_ == body["type"] == "audio_mixed_raw.data"
    assert body["id"] == frame_id
    data = body["data"]
    assert base64.b64decode(data["buffer"]) == pcm
    assert (data["encoding"], data["sample_rate"], data["channels"]) == ("s16le", 16000, 1)
    assert (data["offset_s"], data["duration_s"], data["bot_id"]) == (4.5, 1.5, "b")
    assert "participant" not in data


@pytest.mark.parametrize(
    ("type_", "status", "ends"),
    [
        ("status_update", "finished", True),
        ("status_update", "bot_detected", True),
        ("status_update", "recording", False),
        ("bot.deleted", None, True),
        ("chat.message", None, False),
    ],
)
def test_what_ends_a_push(type_: str, status: str | None, ends: bool) -> None:
    data = {"new_status": status} if status else {}
    event = OutboxEvent(id="e", workspace_id="w", type=type_, created_at=T0, data=data, bot_id="b")
    assert ends_push(event) is ends

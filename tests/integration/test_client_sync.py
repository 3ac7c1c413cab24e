"""``meetbot.client.Meetbot`` against a real ``meetbot serve`` (fake launcher, no browser)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from client_server import MEET, RECORDING_BYTES, SERVE_ENV, api_key, seed_media, served

from meetbot.client import (
    CapacityExhausted,
    Conflict,
    InvalidRequest,
    Meetbot,
    MethodNotAllowed,
    NotFound,
    NotReady,
    RetryPolicy,
    Unauthorized,
    WaitTimeout,
)
from meetbot.lab.serve import Server, free_port

__all__ = ["api_key", "served"]  # fixtures


@pytest.fixture
def client(served: Server, api_key: str) -> Iterator[Meetbot]:
    with Meetbot(served.url, api_key) as c:
        yield c


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_create_get_update_leave_and_wait(client: Meetbot) -> None:
    bot = client.bots.create(MEET, bot_name="Notes", metadata={"team": "sdk"})
    assert bot.status == "booting"
    assert bot.kind == "adhoc"
    assert client.bots.get(bot.id) == bot
    updated = client.bots.update(bot.id, metadata={"team": "sdk", "run": "1"})
    assert updated.metadata == {"team": "sdk", "run": "1"}
    assert client.bots.wait(bot.id, until="booting", timeout=5).status == "booting"
    left = client.bots.leave(bot.id)
    assert left.status == "not_admitted"
    ended = client.bots.wait(bot.id, timeout=10, interval=0.1)
    assert ended.ended
    assert ended.stop_reason == "manually_stopped"
    assert [c.status for c in ended.status_changes] == ["booting", "not_admitted"]


def test_wait_gives_up_after_its_timeout(client: Meetbot) -> None:
    bot = client.bots.create(MEET)
    with pytest.raises(WaitTimeout) as caught:
        client.bots.wait(bot.id, until="recording", timeout=0.3, interval=0.1)
    assert caught.value.status == "booting"
    client.bots.leave(bot.id)


def test_list_pages_through_every_bot_with_filters(client: Meetbot) -> None:
    made = [client.bots.create(MEET, metadata={"batch": "paging"}) for _ in range(5)]
    listed = list(client.bots.list(metadata={"batch": "paging"}, page_size=2))
    assert [b.id for b in listed] == [b.id for b in reversed(made)]  # newest first
    assert list(client.bots.list(metadata={"batch": "none-such"})) == []
    for bot in made:
        client.bots.leave(bot.id)
    assert len(list(client.bots.list(status="not_admitted", metadata={"batch": "paging"}))) == 5


def test_scheduled_bot_is_patched_and_deleted(client: Meetbot) -> None:
    bot = client.bots.create(MEET, join_at=later(3600), bot_name="Later")
    assert bot.status == "scheduled"
    moved = client.bots.update(bot.id, join_at=later(7200), bot_name="Even later")
    assert moved.bot_name == "Even later"
    hooked = client.bots.update(bot.id, webhook_url="http://127.0.0.1:9/own")
    assert hooked.webhook_secret is not None  # its first webhook_url: the secret, once
    unhooked = client.bots.update(bot.id, webhook_url=None, stop_options=None)  # null: a value
    assert unhooked.webhook_url is None
    assert unhooked.stop_options == bot.stop_options
    assert unhooked.bot_name == "Even later"  # not named: unchanged
    client.bots.delete(bot.id)
    with pytest.raises(NotFound) as caught:
        client.bots.get(bot.id)
    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_creates_carry_an_idempotency_key(client: Meetbot) -> None:
    first = client.bots.create(MEET, idempotency_key="sdk-key-1")
    again = client.bots.create(MEET, idempotency_key="sdk-key-1")
    assert again.id == first.id
    with pytest.raises(Conflict) as caught:
        client.bots.create(MEET, bot_name="other body", idempotency_key="sdk-key-1")
    assert caught.value.code == "idempotency_key_reused"
    other = client.bots.create(MEET)  # a fresh key each call: another bot
    assert other.id != first.id
    client.bots.leave(first.id)
    client.bots.leave(other.id)


def test_errors_are_typed_with_code_detail_and_status(client: Meetbot, served: Server) -> None:
    with pytest.raises(InvalidRequest) as bad_url:
        client.bots.create("https://example.com/not-a-meeting")
    assert bad_url.value.status == 400
    assert bad_url.value.code == "invalid_meeting_url"
    assert bad_url.value.detail
    with pytest.raises(InvalidRequest) as bad_field:
        client.bots.create(MEET, bot_name="")
    assert bad_field.value.body["field"] == "bot_name"
    bot = client.bots.create(MEET, deduplication_key="sdk-dedup")
    with pytest.raises(Conflict) as duplicate:
        client.bots.create(MEET, deduplication_key="sdk-dedup")
    assert duplicate.value.code == "duplicate_bot"
    assert duplicate.value.body["bot_id"] == bot.id
    with pytest.raises(MethodNotAllowed):
        client.bots.delete(bot.id)
    client.bots.leave(bot.id)
    with pytest.raises(InvalidRequest) as completed:
        client.bots.leave(bot.id)
    assert completed.value.code == "bot_completed"
    with Meetbot(served.url, "not-a-key") as stranger, pytest.raises(Unauthorized) as caught:
        stranger.bots.get(bot.id)
    assert caught.value.code == "unauthorized"


def test_transcript_recording_download_participants(client: Meetbot, served: Server) -> None:
    bot = client.bots.create(MEET)
    with pytest.raises(NotReady):
        client.bots.recording(bot.id)
    assert client.bots.transcript(bot.id).segments == []
    asyncio.run(seed_media(served, bot.id))

    transcript = client.bots.transcript(bot.id)
    assert transcript.final
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("Ada", "Hello everyone."),
        ("Grace", "Let us start."),
    ]
    assert [w.text for w in transcript.segments[0].words] == ["Hello", "everyone."]
    srt = client.bots.transcript_text(bot.id, "srt")
    assert "00:00:00,000 --> 00:00:01,500" in srt
    assert "Hello everyone." in client.bots.transcript_text(bot.id)

    recording = client.bots.recording(bot.id)
    assert (recording.format, recording.size_bytes, recording.video) == ("ogg", 256 * 1024, None)
    seen: list[tuple[int, int | None]] = []
    client.bots.download_recording(
        bot.id, str(served.data_dir.parent / "rec.ogg"), progress=lambda d, t: seen.append((d, t))
    )
    assert (served.data_dir.parent / "rec.ogg").read_bytes() == RECORDING_BYTES
    assert seen[-1] == (len(RECORDING_BYTES), len(RECORDING_BYTES))
    buffer = io.BytesIO()
    client.bots.download_recording(bot.id, buffer)
    assert buffer.getvalue() == RECORDING_BYTES
    with pytest.raises(NotReady):
        client.bots.download_recording(bot.id, Path("unused"), video=True)

    assert client.bots.participants(bot.id) == []
    assert client.bots.debug_artifacts(bot.id) == []
    client.bots.leave(bot.id)


def test_webhook_endpoints_deliveries_and_events(client: Meetbot) -> None:
    endpoint = client.webhooks.create("http://127.0.0.1:9/hook", event_types=["status_update"])
    assert endpoint.secret is not None
    assert endpoint.secret.startswith("whsec_")
    assert client.webhooks.get(endpoint.id).secret is None
    assert endpoint.id in [e.id for e in client.webhooks.list()]
    assert client.webhooks.update(endpoint.id, enabled=False).enabled is False
    assert client.webhooks.update(endpoint.id, enabled=True, event_types=None).event_types is None
    rotated = client.webhooks.rotate_secret(endpoint.id)
    assert rotated.secret not in (None, endpoint.secret)

    start = client.events.page().next
    bot = client.bots.create(MEET)
    client.bots.leave(bot.id)
    events = [e for e in client.events.list(start) if e.data.get("bot_id") == bot.id]
    assert [(e.type, e.data["new_status"]) for e in events] == [
        ("status_update", "booting"),
        ("status_update", "not_admitted"),
    ]
    deliveries = [d for d in client.webhooks.deliveries(endpoint.id) if d.bot_id == bot.id]
    assert len(deliveries) == 2
    one = client.webhooks.delivery(endpoint.id, deliveries[0].id)
    assert one.attempt_log is not None
    retried = client.webhooks.retry(endpoint.id, deliveries[0].id)
    assert retried.event_id == deliveries[0].event_id
    assert client.webhooks.replay(endpoint.id, later(-3600), later(60)) >= 2
    client.webhooks.delete(endpoint.id)
    with pytest.raises(NotFound):
        client.webhooks.get(endpoint.id)


def test_capacity_and_credentials(client: Meetbot) -> None:
    capacity = client.capacity(step=60)
    assert capacity.capacity == 50
    assert len(capacity.steps) == 24
    flags = client.credentials.put({"deepgram_api_key": "dg-secret"})
    assert flags.deepgram_api_key
    assert not flags.google
    assert client.credentials.get() == flags
    client.credentials.delete()
    assert not client.credentials.get().deepgram_api_key


def test_507_is_retried_after_retry_after_then_raised(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port(), {**SERVE_ENV, "MEETBOT_ADHOC_POOL_SIZE": "0"})
    server.start()
    try:
        waits: list[float] = []
        retry = RetryPolicy(max_retries=2, max_delay=60)
        with Meetbot(server.url, server.first_key(), retry=retry, sleep=waits.append) as c:
            with pytest.raises(CapacityExhausted) as caught:
                c.bots.create(MEET)
            assert (caught.value.status, caught.value.code) == (507, "adhoc_pool_exhausted")
            assert caught.value.retry_after == 30
            assert waits == [30, 30]
            assert list(c.bots.list()) == []  # the retries made nothing either
    finally:
        server.stop()

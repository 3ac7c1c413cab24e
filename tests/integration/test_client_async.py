"""``meetbot.client.AsyncMeetbot`` against a real ``meetbot serve``, and ``verify_webhook`` on
the webhooks that server really signs and sends."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from client_server import MEET, RECORDING_BYTES, api_key, seed_media, served
from webhook_receiver import Receiver

from harness.waiting import until
from meetbot.client import (
    AsyncMeetbot,
    InvalidRequest,
    NotFound,
    WebhookVerificationError,
    verify_webhook,
)
from meetbot.lab.serve import Server

__all__ = ["api_key", "served"]  # fixtures


@pytest.fixture
async def client(served: Server, api_key: str) -> AsyncIterator[AsyncMeetbot]:
    async with AsyncMeetbot(served.url, api_key) as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_create_list_leave_wait(client: AsyncMeetbot) -> None:
    made = [await client.bots.create(MEET, metadata={"batch": "async"}) for _ in range(3)]
    listed = [b.id async for b in client.bots.list(metadata={"batch": "async"}, page_size=2)]
    assert listed == [b.id for b in reversed(made)]
    for bot in made:
        await client.bots.leave(bot.id)
    ended = await client.bots.wait(made[0].id, timeout=10, interval=0.1)
    assert (ended.status, ended.stop_reason) == ("not_admitted", "manually_stopped")


async def test_errors_and_media(client: AsyncMeetbot, served: Server) -> None:
    with pytest.raises(NotFound) as caught:
        await client.bots.get("no-such-bot")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    with pytest.raises(InvalidRequest) as bad:
        await client.bots.create(MEET, transcription_model="nobody/")
    assert bad.value.code == "invalid_transcription_model"

    bot = await client.bots.create(MEET)
    await seed_media(served, bot.id)
    transcript = await client.bots.transcript(bot.id)
    assert [s.speaker for s in transcript.segments] == ["Ada", "Grace"]
    assert "WEBVTT" in await client.bots.transcript_text(bot.id, "vtt")
    buffer = io.BytesIO()
    seen: list[int] = []
    await client.bots.download_recording(bot.id, buffer, progress=lambda d, _: seen.append(d))
    assert buffer.getvalue() == RECORDING_BYTES
    assert seen[-1] == len(RECORDING_BYTES)
    assert await client.bots.participants(bot.id) == []
    await client.bots.leave(bot.id)


async def test_verify_webhook_accepts_what_the_server_signs(
    client: AsyncMeetbot, receiver: Receiver
) -> None:
    endpoint = await client.webhooks.create(receiver.url, event_types=["status_update"])
    assert endpoint.secret is not None
    bot = await client.bots.create(MEET, webhook_url=receiver.url + "?own=1")
    assert bot.webhook_secret is not None
    await client.bots.leave(bot.id)
    await until(lambda: len(receiver.requests) >= 4, timeout=20)

    own = [r for r in receiver.requests if r.path.endswith("?own=1")]
    shared = [r for r in receiver.requests if not r.path.endswith("?own=1")]
    for requests, secret in ((own, bot.webhook_secret), (shared, endpoint.secret)):
        events = [verify_webhook(secret, r.body, r.headers) for r in requests]
        assert [e["data"]["new_status"] for e in events if e["data"]["bot_id"] == bot.id] == [
            "booting",
            "not_admitted",
        ]
    sample = own[0]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(endpoint.secret, sample.body, sample.headers)  # another secret
    with pytest.raises(WebhookVerificationError):
        verify_webhook(bot.webhook_secret, sample.body + b" ", sample.headers)  # altered
    stamp = int(sample.headers["webhook-timestamp"])
    with pytest.raises(WebhookVerificationError):
        verify_webhook(bot.webhook_secret, sample.body, sample.headers, now=stamp + 3600)

    # While a secret is being rotated, the server signs with both: either verifies.
    rotated = await client.webhooks.rotate_secret(endpoint.id)
    assert rotated.secret is not None
    before = len(receiver.requests)
    other = await client.bots.create(MEET)
    await until(lambda: len(receiver.requests) > before, timeout=20)
    fresh = receiver.requests[before]
    assert len(fresh.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint.secret, rotated.secret):
        assert verify_webhook(secret, fresh.body, fresh.headers)["data"]["bot_id"] == other.id
    await client.bots.leave(other.id)
    await client.webhooks.delete(endpoint.id)


async def test_events_feed_and_deliveries(client: AsyncMeetbot, receiver: Receiver) -> None:
    endpoint = await client.webhooks.create(receiver.url)
    start = (await client.events.page()).next
    bot = await client.bots.create(MEET)
    await client.bots.leave(bot.id)
    types = [e.type async for e in client.events.list(start) if e.data.get("bot_id") == bot.id]
    assert types == ["status_update", "status_update"]
    await until(lambda: len(receiver.requests) >= 2, timeout=20)
    for _ in range(200):
        done = [d async for d in client.webhooks.deliveries(endpoint.id, status="delivered")]
        if len(done) >= 2:
            break
        await asyncio.sleep(0.05)
    assert {d.bot_id for d in done} == {bot.id}
    assert (await client.webhooks.delivery(endpoint.id, done[0].id)).attempt_log
    await client.webhooks.delete(endpoint.id)

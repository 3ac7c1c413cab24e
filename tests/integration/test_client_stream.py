"""``stream()`` of both clients, and the routes of issue 16 (chat, pause, camera) through the
SDK, against a real ``meetbot serve`` (fake launcher: an ad-hoc bot stays ``booting`` until it
is told to leave, which ends it ``not_admitted``). Connections are dropped through a loopback
relay (:mod:`harness.tcp_relay`), as a proxy or a network would drop them."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import pytest
from client_server import JANUS, MEET, api_key, served

from harness.tcp_relay import TcpRelay
from meetbot.client import (
    ApiError,
    AsyncMeetbot,
    InvalidRequest,
    Meetbot,
    NotFound,
    RetryPolicy,
    StreamEvent,
    StreamLost,
    Unauthorized,
)
from meetbot.lab.serve import Server
from meetbot.testing.builders import solid_png

__all__ = ["api_key", "served"]  # fixtures

QUICK = RetryPolicy(max_retries=3, backoff=0.05)


@pytest.fixture
def client(served: Server, api_key: str) -> Iterator[Meetbot]:
    with Meetbot(served.url, api_key, retry=QUICK) as c:
        yield c


@pytest.fixture
def relay(served: Server) -> Iterator[TcpRelay]:
    relay = TcpRelay(served.port)
    yield relay
    relay.close()


def statuses(frames: list[StreamEvent]) -> list[str]:
    return [f.data["new_status"] for f in frames if f.type == "status_update"]


def test_stream_gives_the_events_and_ends_after_the_terminal_status(client: Meetbot) -> None:
    bot = client.bots.create(MEET)
    seen: list[StreamEvent] = []
    for frame in client.stream(bot.id):
        assert isinstance(frame, StreamEvent)
        seen.append(frame)
        if len(seen) == 1:
            client.bots.leave(bot.id)
    assert statuses(seen) == ["booting", "not_admitted"]
    assert all(f.cursor for f in seen)
    rest = list(client.stream(bot.id, after=seen[0].cursor))  # the bot ended: replayed, closed
    assert [f.id for f in rest] == [f.id for f in seen[1:]]


def test_stream_reconnects_after_a_drop_and_misses_nothing(
    client: Meetbot, relay: TcpRelay, api_key: str
) -> None:
    bot = client.bots.create(MEET)
    seen: list[StreamEvent] = []
    with Meetbot(relay.url, api_key, retry=QUICK) as through_relay:
        for frame in through_relay.stream(bot.id):
            assert isinstance(frame, StreamEvent)
            seen.append(frame)
            if len(seen) == 1:
                relay.cut()  # no close frame: the connection just drops
                client.bots.leave(bot.id)
    assert statuses(seen) == ["booting", "not_admitted"]
    assert len({f.id for f in seen}) == len(seen)
    assert relay.connections >= 2


def test_stream_gives_up_after_its_limit(client: Meetbot, relay: TcpRelay, api_key: str) -> None:
    bot = client.bots.create(MEET)
    with Meetbot(relay.url, api_key, retry=QUICK) as through_relay:
        frames = through_relay.stream(bot.id)
        next(frames)
        relay.close()  # nothing listens any more
        with pytest.raises(StreamLost) as lost:
            next(frames)
    assert lost.value.attempts == QUICK.max_retries
    client.bots.leave(bot.id)


def test_stream_refusals_are_the_apis_errors(client: Meetbot, served: Server) -> None:
    with pytest.raises(NotFound):
        next(client.stream("bot_none_such"))
    bot = client.bots.create(MEET)
    with Meetbot(served.url, "wrong-key", retry=QUICK) as stranger, pytest.raises(Unauthorized):
        next(stranger.stream(bot.id))
    with pytest.raises(InvalidRequest) as bad:
        next(client.stream(bot.id, after="not-a-cursor"))
    assert bad.value.code == "invalid_cursor"
    token = client.stream_token(bot.id)
    assert token.token
    assert token.expires_at
    client.bots.leave(bot.id)


def test_async_stream_with_audio_reconnects_and_ends(
    client: Meetbot, relay: TcpRelay, api_key: str
) -> None:
    bot = client.bots.create(MEET)

    async def follow() -> list[StreamEvent]:
        seen: list[StreamEvent] = []
        async with AsyncMeetbot(relay.url, api_key, retry=QUICK) as aclient:
            async for frame in aclient.stream(bot.id, audio="mixed"):
                if isinstance(frame, StreamEvent):  # audio: none from the fake launcher
                    seen.append(frame)
                if len(seen) == 1:
                    relay.cut()
                    await aclient.bots.leave(bot.id)
        return seen

    seen = asyncio.run(follow())
    assert statuses(seen) == ["booting", "not_admitted"]
    assert relay.connections >= 2


def test_the_routes_of_a_bot_in_the_call(client: Meetbot) -> None:
    picture = base64.b64encode(solid_png(16, 16, (200, 30, 30))).decode()
    bot = client.bots.create(MEET, bot_image=picture)
    assert bot.status == "booting"
    assert client.bots.chat(bot.id) == []
    with pytest.raises(InvalidRequest) as private:
        client.bots.send_chat_message(bot.id, "hello", to="alice")
    assert private.value.code == "unsupported_for_platform"  # Google Meet: to everyone only
    assert client.bots.send_chat_message(bot.id, "hello").status == "queued"
    for call in (client.bots.pause_recording, client.bots.resume_recording):
        with pytest.raises(ApiError) as not_yet:
            call(bot.id)
        assert not_yet.value.status == 400
    with pytest.raises(ApiError) as not_in_call:
        client.bots.output_video(bot.id, picture)
    assert not_in_call.value.status in (400, 409)
    assert client.bots.transcript(bot.id).live_lag_seconds is None
    client.bots.leave(bot.id)


def test_a_chat_message_is_queued_for_a_bot_on_a_platform_with_chat(client: Meetbot) -> None:
    bot = client.bots.create(JANUS)
    sent = client.bots.send_chat_message(bot.id, "This meeting is recorded.", to="everyone")
    assert sent.status == "queued"
    assert sent.id
    assert client.bots.chat(bot.id) == []  # the runner has not reported it sent yet
    client.bots.leave(bot.id)

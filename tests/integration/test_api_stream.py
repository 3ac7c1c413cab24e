"""``GET /api/v1/bot/{id}/stream`` over a real WebSocket: events in order, resumable, across
replicas; the key, a stream token or nothing; closed after the bot's terminal status."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from media_helpers import Call, create_bot, media_storage, tone
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from harness.live_server import serving
from harness.plane import TEST_SECRET, TestPlane, build_test_plane
from meetbot.contract.lifecycle import StopReason
from meetbot.contract.media_format import chunk_key, participant_chunk_key
from meetbot.contract.reports import (
    AudioChunk,
    InCall,
    Joining,
    Leaving,
    Left,
    ParticipantAudioChunk,
    ParticipantJoined,
    ReportBatch,
    Speaking,
)
from meetbot.control.api.app import create_app
from meetbot.control.service.reactions import Subscribers
from meetbot.control.service.runners import handle_reports
from meetbot.control.service.stream import parse_separate_frame

MEET = "https://meet.google.com/abc-defg-hij"
JANUS = "http://janus.example.com:8000/videoroomtest.html?room=1234"


async def _bot(plane: TestPlane) -> tuple[str, str]:
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    return bot_id, assigned.token


async def _report(plane: TestPlane, bot_id: str, token: str, *events: Any) -> None:
    await handle_reports(plane.services, bot_id, token, ReportBatch(events=list(events)))


async def _frames(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(10):
        for _ in range(n):
            out.append(json.loads(await ws.recv()))
    return out


def _auth(plane: TestPlane) -> dict[str, str]:
    return {"Authorization": f"Token {plane.key}"}


async def test_the_stream_sends_the_bots_events_in_order_and_resumes(any_store: Any) -> None:
    plane = await build_test_plane(any_store)
    bot_id, token = await _bot(plane)
    other_id, other_token = await _bot(plane)
    at = plane.clock.now()
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        async with connect(url, additional_headers=_auth(plane)) as ws:
            (first,) = await _frames(ws, 1)  # the bot's history comes first
            assert first["type"] == "status_update"
            assert first["data"]["new_status"] == "booting"
            await _report(plane, other_id, other_token, Joining(at=at))  # not this bot's
            await _report(
                plane,
                bot_id,
                token,
                Joining(at=at),
                InCall(at=at + timedelta(seconds=1)),
                ParticipantJoined(at=at + timedelta(seconds=2), participant_id="p1", name="Ann"),
                Speaking(
                    at=at + timedelta(seconds=3), participant_id="p1", name="Ann", speaking=True
                ),
            )
            frames = await _frames(ws, 4)
        assert [f["type"] for f in frames] == [
            "status_update",
            "status_update",
            "participant.joined",
            "participant.speaking",
        ]
        assert [f["data"].get("new_status") for f in frames[:2]] == ["joining", "recording"]
        assert {f["data"]["bot_id"] for f in frames} == {bot_id}
        speaking = frames[3]["data"]
        assert speaking["participant"] == {"id": "p1", "name": "Ann"}
        assert speaking["speaking"] is True
        assert frames[3]["created_at"] == speaking["at"]  # the bot's clock

        # Reconnecting after a cursor: only what came after it.
        resume = f"{url}?after={frames[1]['cursor']}"
        async with connect(resume, additional_headers=_auth(plane)) as ws:
            again = await _frames(ws, 2)
        assert [f["id"] for f in again] == [f["id"] for f in frames[2:]]


async def test_the_stream_closes_after_the_terminal_status(any_store: Any) -> None:
    plane = await build_test_plane(any_store)
    join_at = (plane.clock.now() + timedelta(hours=1)).isoformat()
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
        assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        async with connect(url, additional_headers=_auth(plane)) as ws:
            await _frames(ws, 1)
            async with plane.client() as client:
                r = await client.delete(f"/api/v1/bot/{bot_id}/")
                assert r.status_code in (200, 204), r.text
            types = []
            async with asyncio.timeout(10):
                async for message in ws:
                    types.append(json.loads(message)["type"])
            assert ws.close_code == 1000
        assert types[-1] in ("bot.deleted", "status_update")


async def test_a_stream_token_opens_one_bots_stream_until_it_expires(any_store: Any) -> None:
    plane = await build_test_plane(any_store, stream_token_ttl=60)
    bot_id, _ = await _bot(plane)
    other_id, _ = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/stream_token/")
        assert r.status_code == 200, r.text
        made = r.json()
        r = await client.post("/api/v1/bot/no-such-bot/stream_token/")
        assert r.status_code == 404, r.text
    async with serving(plane.app) as host:
        base = f"ws://{host}/api/v1/bot"
        async with connect(f"{base}/{bot_id}/stream?token={made['token']}") as ws:
            (first,) = await _frames(ws, 1)
            assert first["data"]["bot_id"] == bot_id
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{base}/{other_id}/stream?token={made['token']}")
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body or b"{}")["code"] == "unauthorized"
        plane.clock.advance(61)
        with pytest.raises(InvalidStatus) as expired:
            await connect(f"{base}/{bot_id}/stream?token={made['token']}")
        assert expired.value.response.status_code == 401


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [
        ("", {}, 401, "unauthorized"),
        ("", {"Authorization": "Token nope"}, 401, "unauthorized"),
        ("?after=forged", None, 400, "invalid_cursor"),
        ("?audio=mixed", None, 400, "invalid_request"),  # this plane has no media storage
        ("?audio=separate", None, 400, "invalid_request"),
        ("?audio=stereo", None, 400, "invalid_request"),
    ],
)
async def test_refusals_are_the_usual_error_bodies(
    any_store: Any, query: str, headers: dict[str, str] | None, status: int, code: str
) -> None:
    plane = await build_test_plane(any_store)
    bot_id, _ = await _bot(plane)
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream{query}"
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=_auth(plane) if headers is None else headers)
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body or b"{}")["code"] == code


async def test_another_workspaces_bot_is_not_found(any_store: Any) -> None:
    plane = await build_test_plane(any_store)
    bot_id, _ = await _bot(plane)
    other_key = await plane.new_key()
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers={"Authorization": f"Token {other_key}"})
    assert refused.value.response.status_code == 404


async def test_a_replica_streams_events_another_replica_committed(any_store: Any) -> None:
    """No wake crosses processes: the replica serving the stream finds the event by polling."""
    plane = await build_test_plane(any_store, stream_poll_interval=0.05)
    bot_id, token = await _bot(plane)
    replica = create_app(
        dataclasses.replace(plane.services, reactions=Subscribers()), secret=TEST_SECRET
    )
    async with serving(replica) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        async with connect(url, additional_headers=_auth(plane)) as ws:
            await _frames(ws, 1)
            await _report(plane, bot_id, token, Joining(at=plane.clock.now()))
            (frame,) = await _frames(ws, 1)
    assert frame["data"]["new_status"] == "joining"


async def test_a_client_that_leaves_ends_its_stream(any_store: Any) -> None:
    plane = await build_test_plane(any_store)
    bot_id, token = await _bot(plane)
    at = plane.clock.now()
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{bot_id}/stream"
        for _ in range(3):
            async with connect(url, additional_headers=_auth(plane)) as ws:
                await _frames(ws, 1)
        await _report(
            plane,
            bot_id,
            token,
            Joining(at=at),
            InCall(at=at),
            Leaving(at=at, stop_reason=StopReason.MEETING_ENDED),
            Left(at=at),
        )
        async with connect(url, additional_headers=_auth(plane)) as ws:
            assert len(await _frames(ws, 5)) == 5


async def test_audio_mixed_sends_the_chunks_stored_from_now_on(
    any_store: Any, tmp_path: Path
) -> None:
    plane = await build_test_plane(any_store)
    c = Call(plane, media_storage(plane, tmp_path / "media"), await create_bot(plane))
    await c.join()
    before, after = tone(1.5, 300.0), tone(3.0, 500.0)
    await c.record(before)  # stored before the client came: not sent
    async with serving(plane.app) as host:
        url = f"ws://{host}/api/v1/bot/{c.bot_id}/stream?audio=mixed"
        async with connect(url, additional_headers=_auth(plane)) as ws:
            c.plane.clock.advance(1)
            await _record_more(c, after, first_seq=1)
            pcm, texts = b"", 0
            async with asyncio.timeout(10):
                while len(pcm) < len(after):
                    message = await ws.recv()
                    if isinstance(message, bytes):
                        pcm += message
                    else:
                        texts += 1
    assert pcm == after
    assert texts >= 1  # the events come on the same socket


async def _record_more(c: Call, pcm: bytes, first_seq: int) -> None:
    """Chunks after the first ``first_seq`` ones (``Call.record`` starts at seq 0)."""
    per_chunk = round(c.chunk_seconds * 16000) * 2
    start = first_seq * c.chunk_seconds
    for i, begin in enumerate(range(0, len(pcm), per_chunk)):
        seq = first_seq + i
        data = pcm[begin : begin + per_chunk]
        key = chunk_key(c.bot_id, seq)
        await c.storage.put(key, data)
        offset = start + begin / 32000
        chunk = AudioChunk(
            at=c.plane.clock.now(), seq=seq, key=key, offset_s=offset, duration_s=len(data) / 32000
        )
        await c.report(chunk)


_ = websockets  # the client library the test speaks with


async def test_audio_separate_sends_each_participants_own_chunks_framed(
    any_store: Any, tmp_path: Path
) -> None:
    plane = await build_test_plane(any_store, self_hosted_meeting_hosts="janus.example.com:8000")
    storage = media_storage(plane, tmp_path / "media")
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": JANUS})
        assert r.status_code == 201, r.text
        meet_id = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()["id"]
    c = Call(plane, storage, r.json()["id"])
    await c.join()
    async with serving(plane.app) as host:
        base = f"ws://{host}/api/v1/bot"
        with pytest.raises(InvalidStatus) as refused:  # Meet mixes the call's audio
            await connect(
                f"{base}/{meet_id}/stream?audio=separate", additional_headers=_auth(plane)
            )
        assert refused.value.response.status_code == 400
        body = json.loads(refused.value.response.body or b"{}")
        assert body["code"] == "unsupported_for_platform"
        url = f"{base}/{c.bot_id}/stream?audio=separate"
        async with connect(url, additional_headers=_auth(plane)) as ws:
            ann, mixed = tone(1.0, 300.0), tone(1.5, 500.0)
            key = participant_chunk_key(c.bot_id, 0)
            await storage.put(key, ann)
            await storage.put(chunk_key(c.bot_id, 0), mixed)
            at = plane.clock.now()
            await c.report(
                AudioChunk(at=at, seq=0, key=chunk_key(c.bot_id, 0), offset_s=0, duration_s=1.5),
                ParticipantAudioChunk(
                    at=at, seq=0, key=key, participant_id="7", offset_s=2.0, duration_s=1.0
                ),
            )
            async with asyncio.timeout(10):
                while isinstance(message := await ws.recv(), str):
                    pass
    assert parse_separate_frame(message) == ("7", 2.0, ann)  # the mix is not on this stream

"""Issue 16 end to end: ``?audio=separate`` in a real Janus room. A speaking participant's own
audio reaches a client of the bot's stream as binary frames that name them (the Janus tap
reads whose each subscribed stream is); a silent participant sends nothing. The same audio is
pushed to a ``realtime_endpoints`` WebSocket receiver."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from served import FAST_TIMERS, TALKATIVE, create_when_pool_ready, wait_until
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from harness.waiting import until
from meetbot.control.service.stream import parse_separate_frame
from meetbot.lab import Lab, make_speech
from meetbot.lab.serve import Server, free_port

pytestmark = pytest.mark.e2e

SENTENCES = ["Welcome to the planning meeting.", "We will talk about the budget first."]


def test_a_speaking_participants_own_audio_reaches_the_stream(
    lab: Lab, api: httpx.Client, server: Server, tmp_path: Path
) -> None:
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(SENTENCES, tmp_path / "s.wav", lead_s=2.0)
    bot = create_when_pool_ready(
        api, {"meeting_url": lab.room_url(room), "bot_name": "Apart", "stop_options": FAST_TIMERS}
    )
    url = server.url.replace("http://", "ws://") + f"/api/v1/bot/{bot['id']}/stream"
    url += "?audio=separate"
    key = api.headers["authorization"]

    async def listen() -> tuple[list[dict[str, Any]], list[tuple[str, float, bytes]]]:
        frames: list[dict[str, Any]] = []
        own: list[tuple[str, float, bytes]] = []
        async with connect(url, additional_headers={"Authorization": key}) as ws:
            async with asyncio.timeout(90):
                async for message in ws:
                    if isinstance(message, bytes):
                        own.append(parse_separate_frame(message))
                    else:
                        frames.append(json.loads(message))
                    if sum(len(p) for _, _, p in own) >= 32000 * 3:
                        return frames, own
        return frames, own

    async def scenario() -> tuple[list[dict[str, Any]], list[tuple[str, float, bytes]]]:
        listening = asyncio.create_task(listen())
        await asyncio.to_thread(
            wait_until, api, bot["id"], lambda b: b["status"] == "recording", 30
        )
        quiet = lab.add_participant(room, "bob")  # joins, says nothing
        alice = lab.add_participant(room, "alice", wav=speech.path)
        try:
            return await listening
        finally:
            alice.leave()
            quiet.leave()

    frames, own = asyncio.run(scenario())
    joined = {
        f["data"]["participant"]["name"]: f["data"]["participant"]["id"]
        for f in frames
        if f["type"] == "participant.joined"
    }
    assert set(joined) >= {"alice"}, joined
    assert {who for who, _, _ in own} == {joined["alice"]}, (joined, {w for w, _, _ in own})
    offsets = [offset for _, offset, _ in own]
    assert offsets == sorted(offsets)
    pcm = np.frombuffer(b"".join(p for _, _, p in own), dtype="<i2")
    assert np.abs(pcm).max() > 1000, "alice's own audio holds no speech"
    r = api.post(f"/api/v1/bot/{bot['id']}/leave_call/")
    assert r.status_code == 200, r.text
    wait_until(api, bot["id"], lambda b: b["status"] == "finished", 60)
    media = server.data_dir / "media" / "bots" / bot["id"]
    assert not list((media / "participant_audio").glob("*.pcm"))  # deleted after the call


def test_realtime_endpoints_push_a_participants_own_audio(
    lab: Lab, api: httpx.Client, tmp_path: Path
) -> None:
    """``realtime_endpoints``: the control plane connects out to a WebSocket receiver (here on
    this machine, allowed by ``MEETBOT_WEBHOOK_ALLOWED_HOSTS=localhost``) and pushes the bot's
    events and ``audio_separate_raw.data`` frames of the participant who speaks."""
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(SENTENCES, tmp_path / "s.wav", lead_s=2.0)
    port = free_port()
    events = ["status_update", "participant.joined", "audio_separate_raw.data"]
    received: list[dict[str, Any]] = []

    async def keep(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(json.loads(message))

    def audio_seconds() -> float:
        return sum(
            f["data"]["duration_s"] for f in received if f["type"] == "audio_separate_raw.data"
        )

    async def scenario() -> str:
        async with serve(keep, "127.0.0.1", port):
            endpoint = {"type": "websocket", "url": f"ws://localhost:{port}/rt", "events": events}
            bot = await asyncio.to_thread(
                create_when_pool_ready,
                api,
                {
                    "meeting_url": lab.room_url(room),
                    "bot_name": "Pusher",
                    "stop_options": FAST_TIMERS,
                    "realtime_endpoints": [endpoint],
                },
            )
            await asyncio.to_thread(
                wait_until, api, bot["id"], lambda b: b["status"] == "recording", 30
            )
            alice = await asyncio.to_thread(lab.add_participant, room, "alice", wav=speech.path)
            try:
                await until(lambda: audio_seconds() >= 3, 90, every=0.2, what="alice's audio")
            finally:
                await asyncio.to_thread(alice.leave)
            bot_id: str = bot["id"]
            return bot_id

    bot_id = asyncio.run(scenario())
    statuses = [f["data"]["new_status"] for f in received if f["type"] == "status_update"]
    assert statuses[:3] == ["booting", "joining", "recording"]
    alice_id = next(
        f["data"]["participant"]["id"]
        for f in received
        if f["type"] == "participant.joined" and f["data"]["participant"]["name"] == "alice"
    )
    audio = [f["data"] for f in received if f["type"] == "audio_separate_raw.data"]
    assert {a["participant"]["id"] for a in audio} == {alice_id}
    pcm = np.frombuffer(b"".join(base64.b64decode(a["buffer"]) for a in audio), dtype="<i2")
    assert np.abs(pcm).max() > 1000
    r = api.post(f"/api/v1/bot/{bot_id}/leave_call/")
    assert r.status_code == 200, r.text
    wait_until(api, bot_id, lambda b: b["status"] == "finished", 60)

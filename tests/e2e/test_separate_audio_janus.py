"""Issue 16 end to end: ``?audio=separate`` in a real Janus room. A speaking participant's own
audio reaches a client of the bot's stream as binary frames that name them (the Janus tap
reads whose each subscribed stream is); a silent participant sends nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from served import FAST_TIMERS, TALKATIVE, create_when_pool_ready, wait_until
from websockets.asyncio.client import connect

from meetbot.control.service.stream import parse_separate_frame
from meetbot.lab import Lab, make_speech
from meetbot.lab.serve import Server

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

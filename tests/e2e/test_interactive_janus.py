"""Issue 16 end to end: `meetbot serve`, a real runner and Chromium in a real Janus room.

- The stream: a client on ``GET /api/v1/bot/{id}/stream?audio=mixed`` gets the bot's status
  changes, the participant who joins, and the call's audio as binary frames.
- Pause and resume: the runner writes silence between the two offsets it reports, and records
  the speaker again afterwards.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from served import FAST_TIMERS, TALKATIVE, create_when_pool_ready, wait_until
from websockets.asyncio.client import connect

from meetbot.lab import Lab, make_speech
from meetbot.lab.serve import Server

pytestmark = pytest.mark.e2e

SENTENCES = [
    "Welcome to the planning meeting.",
    "We will talk about the budget first.",
    "Then we will look at the road map for next year.",
    "Please keep your questions for the end.",
    "Thank you all for coming today.",
    "Let us begin with the numbers.",
]


def _events(api: httpx.Client, bot_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"after": after} if after else {})}
        page = api.get("/api/v1/events/", params=params).json()
        found += [e for e in page["results"] if e["data"].get("bot_id") == bot_id]
        if not page["results"]:
            return found
        after = page["next"]


def test_the_stream_carries_events_and_audio(
    lab: Lab, api: httpx.Client, server: Server, tmp_path: Path
) -> None:
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(SENTENCES[:2], tmp_path / "s.wav", lead_s=2.0)
    bot = create_when_pool_ready(
        api, {"meeting_url": lab.room_url(room), "bot_name": "Live", "stop_options": FAST_TIMERS}
    )
    url = server.url.replace("http://", "ws://") + f"/api/v1/bot/{bot['id']}/stream?audio=mixed"
    key = api.headers["authorization"]

    async def listen() -> tuple[list[dict[str, Any]], int]:
        frames: list[dict[str, Any]] = []
        audio = 0
        async with connect(url, additional_headers={"Authorization": key}) as ws:
            async with asyncio.timeout(90):
                async for message in ws:
                    if isinstance(message, bytes):
                        audio += len(message)
                    else:
                        frames.append(json.loads(message))
                    if audio >= 32000 * 3 and any(
                        f["type"] == "participant.joined" for f in frames
                    ):
                        return frames, audio
        return frames, audio

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        listening = asyncio.create_task(listen())
        await asyncio.to_thread(
            wait_until, api, bot["id"], lambda b: b["status"] == "recording", 30
        )
        alice = lab.add_participant(room, "alice", wav=speech.path)
        try:
            return await listening
        finally:
            alice.leave()

    frames, audio = asyncio.run(scenario())
    statuses = [f["data"]["new_status"] for f in frames if f["type"] == "status_update"]
    assert statuses[:3] == ["booting", "joining", "recording"]
    joined = next(f for f in frames if f["type"] == "participant.joined")
    assert joined["data"]["participant"]["name"] == "alice"
    assert all("cursor" in f for f in frames)
    assert audio >= 32000 * 3
    wait_until(api, bot["id"], lambda b: b["status"] == "finished", 60)


def test_pause_writes_silence_between_the_reported_offsets(
    lab: Lab, api: httpx.Client, server: Server, tmp_path: Path
) -> None:
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(SENTENCES, tmp_path / "long.wav", lead_s=1.0, gap_s=0.3)
    bot = create_when_pool_ready(
        api, {"meeting_url": lab.room_url(room), "bot_name": "Pauser", "stop_options": FAST_TIMERS}
    )
    bot_id = bot["id"]
    wait_until(api, bot_id, lambda b: b["status"] == "recording", 30)
    alice = lab.add_participant(room, "alice", wav=speech.path)
    try:
        time.sleep(4)
        r = api.post(f"/api/v1/bot/{bot_id}/pause_recording/")
        assert (r.status_code, r.json()["sub_status"]) == (200, "paused"), r.text
        time.sleep(4)
        r = api.post(f"/api/v1/bot/{bot_id}/resume_recording/")
        assert (r.status_code, r.json()["sub_status"]) == (200, None), r.text
        time.sleep(4)
        r = api.post(f"/api/v1/bot/{bot_id}/leave_call/")
        assert r.status_code == 200, r.text
    finally:
        alice.leave()
    wait_until(api, bot_id, lambda b: b["status"] == "finished", 60)

    events = _events(api, bot_id)
    (paused,) = [e["data"] for e in events if e["type"] == "recording.paused"]
    (resumed,) = [e["data"] for e in events if e["type"] == "recording.resumed"]
    assert 0 < paused["offset_s"] < resumed["offset_s"]
    chunks = sorted((server.data_dir / "media" / "bots" / bot_id / "chunks").glob("*.pcm"))
    pcm = np.frombuffer(b"".join(c.read_bytes() for c in chunks), dtype="<i2")

    def part(start: float, end: float) -> np.ndarray:
        return pcm[int(start * 16000) : int(end * 16000)]

    inside = part(paused["offset_s"] + 0.3, resumed["offset_s"] - 0.3)
    assert len(inside) > 16000 * 2
    assert not inside.any(), "the paused span holds sound"
    after = part(resumed["offset_s"] + 0.5, len(pcm) / 16000)
    assert np.abs(after).max() > 1000, "nothing was recorded after resuming"


def _chat(api: httpx.Client, bot_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/api/v1/bot/{bot_id}/chat/")
    assert r.status_code == 200, r.text
    messages: list[dict[str, Any]] = r.json()["results"]
    return messages


def test_chat_in_the_rooms_textroom_both_ways(lab: Lab, api: httpx.Client) -> None:
    room = lab.new_room()
    bot = create_when_pool_ready(
        api,
        {
            "meeting_url": lab.room_url(room),
            "bot_name": "Scribe",
            "stop_options": FAST_TIMERS,
            "chat": {"entry_message": "I take notes."},
        },
    )
    bot_id = bot["id"]
    # Asked before the bot is in the call: sent once it is, after the entry message.
    r = api.post(f"/api/v1/bot/{bot_id}/send_chat_message/", json={"message": "Hi all."})
    assert r.status_code == 202, r.text
    request_id = r.json()["id"]
    wait_until(api, bot_id, lambda b: b["status"] == "recording", 30)
    alice = lab.add_participant(room, "alice", subscriber=True)
    try:
        alice.open_chat()
        assert alice.send_chat("hello Scribe")
        deadline = time.monotonic() + 30
        while not any(m["text"] == "hello Scribe" for m in _chat(api, bot_id)):
            assert time.monotonic() < deadline, _chat(api, bot_id)
            time.sleep(0.3)
        heard = next(m for m in _chat(api, bot_id) if m["text"] == "hello Scribe")
        assert (heard["sender"]["name"], heard["to"], heard["from_bot"]) == (
            "alice",
            "everyone",
            False,
        )

        r = api.post(
            f"/api/v1/bot/{bot_id}/send_chat_message/",
            json={"message": "hello alice", "to": heard["sender"]["id"]},
        )
        assert r.status_code == 202, r.text
        inbox: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not any(m["text"] == "hello alice" for m in inbox):
            assert time.monotonic() < deadline, inbox
            inbox += alice.chat_inbox()
            time.sleep(0.3)
        private = next(m for m in inbox if m["text"] == "hello alice")
        assert private["display"] == "Scribe"
        assert private["to"] != "everyone"  # a private message
        sent = [m for m in _chat(api, bot_id) if m["from_bot"]]
        assert request_id in [m["id"] for m in sent]
        assert {"I take notes.", "Hi all."} <= {m["text"] for m in sent}
        types = [e["type"] for e in _events(api, bot_id)]
        assert types.count("chat.message") >= 4
    finally:
        alice.leave()
    api.post(f"/api/v1/bot/{bot_id}/leave_call/")
    wait_until(api, bot_id, lambda b: b["status"] == "finished", 60)

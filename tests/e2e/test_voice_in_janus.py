"""Streamed-in voice, end to end in the Janus room (issue 16 §2): a client sends the PCM of a
spoken sentence (16 kHz mono s16le, 20 ms frames in real time) on one bot's stream; the bot
plays it into the meeting and a second bot in the same room records and transcribes it
(whisper-tiny.en). The speaking bot does not hear itself: its own transcript has none of it.
A server of its own: a warm pool of two, and transcription on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import FAST_TIMERS, api_client, create_when_pool_ready, serve_with_lab, wait_until
from websockets.asyncio.client import connect

from meetbot.lab import Lab, make_speech
from meetbot.lab.serve import Server

pytestmark = pytest.mark.e2e

SENTENCES = ["Welcome to the planning meeting.", "We will talk about the budget first."]
WORDS = ("welcome", "planning", "meeting", "talk", "budget", "first")
FRAME = 640  # 20 ms


@pytest.fixture
def voiced(lab: Lab, tmp_path: Path) -> Iterator[Server]:
    srv = serve_with_lab(
        lab,
        tmp_path / "data",
        MEETBOT_ADHOC_POOL_SIZE="2",
        MEETBOT_DEFAULT_TRANSCRIPTION_MODEL="whisper-tiny.en",
    )
    yield srv
    srv.stop()


def pcm16k(tmp_path: Path) -> bytes:
    """The sentences as streamed-in voice: 16 kHz mono s16le, no header."""
    # 3 s of silence first: the bot's first unmute in Janus publishes its feed (seconds), and
    # what it plays meanwhile is live, not buffered: nobody hears it
    speech = make_speech(SENTENCES, tmp_path / "s.wav", lead_s=3.0, tail_s=0.5)
    raw = tmp_path / "s.raw"
    subprocess.run(
        ["sox", str(speech.path), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed",
         "-t", "raw", str(raw)],
        check=True, capture_output=True,
    )  # fmt: skip
    return raw.read_bytes()


async def wait_for_the_runner(url: str, key: str, timeout: float = 30) -> None:
    """Until a frame sent on the stream is taken (its runner's voice socket is connected)."""
    deadline = time.monotonic() + timeout
    while True:
        async with connect(url, additional_headers={"Authorization": key}) as ws:
            await ws.send(bytes(FRAME))
            try:
                async with asyncio.timeout(1.0):
                    while json.loads(await ws.recv())["type"] != "stream.error":
                        pass
            except TimeoutError:
                return  # no refusal
        assert time.monotonic() < deadline, "the runner's voice socket never connected"
        await asyncio.sleep(0.5)


async def send_in_real_time(url: str, key: str, pcm: bytes) -> list[dict[str, Any]]:
    """Send ``pcm`` as 20 ms frames paced like a live voice; the stream's error frames."""
    refused: list[dict[str, Any]] = []

    async def read(ws: Any) -> None:
        async for message in ws:
            if isinstance(message, str) and json.loads(message)["type"] == "stream.error":
                refused.append(json.loads(message))

    async with connect(url, additional_headers={"Authorization": key}) as ws:
        reader = asyncio.create_task(read(ws))
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), FRAME)):
            await ws.send(pcm[i : i + FRAME])
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
        await asyncio.sleep(1.0)  # what is buffered plays
        reader.cancel()
    return refused


def _text(api: httpx.Client, bot_id: str) -> str:
    transcript = api.get(f"/api/v1/bot/{bot_id}/transcript/").json()
    return " ".join(s["text"] for s in transcript["segments"]).lower()


def test_pcm_streamed_in_is_heard_by_another_bot(lab: Lab, voiced: Server, tmp_path: Path) -> None:
    room = lab.new_room()
    pcm = pcm16k(tmp_path)
    with api_client(voiced) as api:
        url = lab.room_url(room)
        listener = create_when_pool_ready(
            api, {"meeting_url": url, "bot_name": "Listener", "stop_options": FAST_TIMERS}
        )
        speaker = create_when_pool_ready(
            api, {"meeting_url": url, "bot_name": "Speaker", "stop_options": FAST_TIMERS}
        )
        try:
            for bot in (listener, speaker):
                wait_until(api, bot["id"], lambda b: b["status"] == "recording", 60)
            stream = voiced.url.replace("http://", "ws://") + f"/api/v1/bot/{speaker['id']}/stream"
            key = api.headers["authorization"]
            asyncio.run(wait_for_the_runner(stream, key))
            refused = asyncio.run(send_in_real_time(stream, key, pcm))
            assert refused == []
            time.sleep(3.0)  # the listener's last chunk is stored
        finally:
            for bot in (listener, speaker):
                api.post(f"/api/v1/bot/{bot['id']}/leave_call/")
        for bot in (listener, speaker):
            done = wait_until(api, bot["id"], lambda b: b["status"] in ("finished", "failed"), 240)
            assert done["status"] == "finished", done["status_changes"]
        heard = _text(api, listener["id"])
        assert len([w for w in WORDS if w in heard]) >= len(WORDS) - 2, heard
        own = _text(api, speaker["id"])
        assert not [w for w in WORDS if w in own], own

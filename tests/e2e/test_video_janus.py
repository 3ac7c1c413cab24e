"""``recording.video`` end to end: a real runner screencasts its Chromium in a Janus room and
the control plane makes ``recording.mp4`` of it, as long as the meeting. The server is the
session's (``server`` in ``conftest.py``)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from served import FAST_TIMERS, TALKATIVE, create_when_pool_ready, wait_until

from meetbot.lab import Lab, make_speech
from meetbot.lab.serve import Server

pytestmark = pytest.mark.e2e


def ffprobe(path: Path) -> dict[str, object]:
    args = ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format"]
    out = subprocess.run([*args, str(path)], check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out))


def test_a_bot_with_recording_video_leaves_an_mp4_of_the_meeting(
    lab: Lab, api: httpx.Client, server: Server, tmp_path: Path
) -> None:
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(
        ["Welcome to the planning meeting.", "Let us look at the roadmap."],
        tmp_path / "a.wav",
        lead_s=2.0,
    )
    bot = create_when_pool_ready(
        api,
        {
            "meeting_url": lab.room_url(room),
            "bot_name": "Camera",
            "stop_options": FAST_TIMERS,
            "recording": {"audio_format": "ogg", "video": True},
        },
    )
    wait_until(api, bot["id"], lambda b: b["status"] == "recording", 30)
    alice = lab.add_participant(room, "alice", wav=speech.path)
    time.sleep(speech.duration_s + 2)
    alice.leave()
    wait_until(api, bot["id"], lambda b: b["status"] == "finished", 90)

    r = api.get(f"/api/v1/bot/{bot['id']}/recording/")
    assert r.status_code == 200, r.text
    body = r.json()
    video = body["video"]
    assert video is not None, body
    assert video["format"] == "mp4"
    assert video["duration_s"] == pytest.approx(body["duration_s"], abs=0.5)
    assert body["duration_s"] >= speech.duration_s
    media = server.data_dir / "media" / "bots" / bot["id"]
    assert not list((media / "video").glob("*.frames"))  # deleted once in the MP4
    found = ffprobe(media / "recording.mp4")
    streams = {s["codec_type"]: s for s in found["streams"]}  # type: ignore[attr-defined]
    assert streams["video"]["codec_name"] == "h264"
    assert streams["audio"]["codec_name"] == "aac"
    duration = float(found["format"]["duration"])  # type: ignore[index]
    assert duration == pytest.approx(body["duration_s"], abs=1.0)
    downloaded = httpx.get(video["url"], timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "video/mp4"

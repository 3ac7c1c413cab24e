"""Issue 12 §4: no audio lost to a storage outage. `meetbot serve` storing media in a real
SeaweedFS, a real bot in a real Janus call; SeaweedFS is stopped while a participant speaks and
started again :data:`OUTAGE_S` later. The final recording has no gap and the transcript has
what was said during the outage.

The issue asks for 60 s; 20 s keeps the test short and is still five times the ~4 s a runner
used to retry a chunk before dropping it (the spool itself has no time limit: see
``tests/unit/test_runner_spool.py`` and ``tests/integration/test_runner_spool_s3.py``);
``MEETBOT_E2E_OUTAGE_S=60`` runs it with the issue's 60 s.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.seaweed import SeaweedProcess, seaweedfs_process
from meetbot.contract.media_format import chunk_prefix, chunk_seq
from meetbot.lab import MEETING_HOSTS, Lab, make_speech
from meetbot.lab.serve import Server, start_server

pytestmark = pytest.mark.e2e

OUTAGE_S = float(os.environ.get("MEETBOT_E2E_OUTAGE_S", "20"))
"""``MEETBOT_E2E_OUTAGE_S=60`` runs the issue's test as written."""
BUCKET = "outage"
TALKATIVE = {"audio_active_packets": 25, "audio_level_average": 60}
TIMERS = {"empty_meeting_timeout": 60, "last_person_detection": 2, "silence_detection": 0}
SAID = [
    "Please send the quarterly report to the finance team.",
    "The budget review moves to Thursday afternoon.",
]


@pytest.fixture
def weed(tmp_path: Path) -> Iterator[SeaweedProcess]:
    with seaweedfs_process(tmp_path / "seaweed") as process:
        yield process


@pytest.fixture
def server(lab: Lab, weed: SeaweedProcess, tmp_path: Path) -> Iterator[Server]:
    s3 = weed.server
    env = {
        "MEETBOT_LAUNCHER": "local",
        **lab.chromium_settings,
        "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
        "MEETBOT_ADHOC_POOL_SIZE": "1",
        "MEETBOT_MAX_CONCURRENT_BOTS": "2",
        "MEETBOT_TIMER_UNIT_SECONDS": "1",
        "MEETBOT_HEARTBEAT_INTERVAL": "1",
        "MEETBOT_DEFAULT_TRANSCRIPTION_MODEL": "whisper-tiny.en",
        "MEETBOT_STORAGE": "s3",
        "MEETBOT_S3_ENDPOINT_URL": s3.endpoint_url,
        "MEETBOT_S3_BUCKET": BUCKET,
        "MEETBOT_S3_REGION": s3.region,
        "MEETBOT_S3_ACCESS_KEY": s3.access_key,
        "MEETBOT_S3_SECRET_KEY": s3.secret_key,
    }
    srv = start_server(tmp_path / "data", env)
    yield srv
    srv.stop()


def wait_for(
    api: httpx.Client, bot_id: str, done: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        bot: dict[str, Any] = api.get(f"/api/v1/bot/{bot_id}/").json()
        if done(bot):
            return bot
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; bot is {bot['status']}: {bot['status_changes']}")
        time.sleep(0.25)


def test_storage_stopped_during_a_call_loses_no_audio(
    lab: Lab, server: Server, weed: SeaweedProcess, tmp_path: Path
) -> None:
    speech = make_speech(SAID, tmp_path / "said.wav", lead_s=2.0)
    assert speech.duration_s + 2 < OUTAGE_S
    room = lab.new_room(**TALKATIVE)
    headers = {"Authorization": f"Token {server.first_key()}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
        body = {"meeting_url": lab.room_url(room), "bot_name": "Notes", "stop_options": TIMERS}
        deadline = time.monotonic() + 60
        while (r := api.post("/api/v1/bot/", json=body)).status_code == 507:
            assert time.monotonic() < deadline, "the warm pool never filled"
            time.sleep(0.5)
        assert r.status_code == 201, r.text
        bot_id = r.json()["id"]
        wait_for(api, bot_id, lambda b: b["status"] == "recording", 60)
        time.sleep(2)  # a chunk or so stored before the outage

        weed.stop()
        stopped = time.monotonic()
        alice = lab.add_participant(room, "alice", wav=speech.path)
        time.sleep(max(speech.duration_s + 1, OUTAGE_S - (time.monotonic() - stopped)))
        weed.start()
        outage = time.monotonic() - stopped
        assert outage >= OUTAGE_S
        time.sleep(2)
        alice.leave()

        done = wait_for(api, bot_id, lambda b: b["status"] in ("finished", "failed"), 180)
        assert done["status"] == "finished", done["status_changes"]
        at = {c["status"]: c["at"] for c in done["status_changes"]}
        recording = api.get(f"/api/v1/bot/{bot_id}/recording/").json()
        transcript = api.get(f"/api/v1/bot/{bot_id}/transcript/").json()

    # every chunk reached storage: no seq missing, so the recording has no gap
    storage = weed.server.storage(BUCKET)
    try:
        keys = asyncio.run(storage.list(chunk_prefix(bot_id)))
    finally:
        storage.close()
    seqs = sorted(seq for k in keys if (seq := chunk_seq(k)) is not None)
    assert seqs == list(range(len(seqs)))
    recorded = _seconds_between(at["recording"], at["leaving"])
    assert recording["duration_s"] >= outage
    assert recording["duration_s"] >= recorded - 3.0, (recording, at)
    # and what was said while storage was down is in the transcript: most of its words (the
    # tiny model on a loaded CPU mishears one now and then: "finance team" as "fine-end steam")
    text = " ".join(s["text"] for s in transcript["segments"]).lower()
    words = ("quarterly", "report", "finance", "budget", "thursday", "afternoon")
    heard = [word for word in words if word in text]
    assert len(heard) >= len(words) - 1, text


def _seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()

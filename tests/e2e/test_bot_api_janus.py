"""The whole product end to end: `meetbot serve` with its local launcher and warm pool, real
runner processes and Chromium, a real Janus room (the lab), driven through the public API.

The server is the session's (``server`` in ``conftest.py``, shared with ``test_video_janus``)."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import FAST_TIMERS, TALKATIVE, create_when_pool_ready, wait_until

from harness.waiting import wait_until as poll
from meetbot.lab import Lab, make_speech
from meetbot.lab.serve import Server

pytestmark = pytest.mark.e2e


def statuses(bot: dict[str, Any]) -> list[str]:
    return [c["status"] for c in bot["status_changes"]]


def test_adhoc_bot_joins_records_and_leaves_after_the_last_person(
    lab: Lab, api: httpx.Client, server: Server, tmp_path: Path
) -> None:
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(["Welcome to the planning meeting."], tmp_path / "a.wav", lead_s=2.0)
    bot = create_when_pool_ready(
        api,
        {"meeting_url": lab.room_url(room), "bot_name": "Notes", "stop_options": FAST_TIMERS},
    )
    assert bot["kind"] == "adhoc"
    wait_until(api, bot["id"], lambda b: b["status"] == "recording", 30)
    assert "Notes" in [p.display for p in lab.host.list_participants(room)]
    alice = lab.add_participant(room, "alice", wav=speech.path)
    time.sleep(speech.duration_s + 1)
    alice.leave()
    done = wait_until(api, bot["id"], lambda b: b["status"] == "finished", 60)
    assert done["stop_reason"] == "last_person_detected"
    assert statuses(done) == [
        "booting",
        "joining",
        "recording",
        "leaving",
        "processing",
        "finished",
    ]
    chunks = list((server.data_dir / "media" / "bots" / bot["id"] / "chunks").glob("*.pcm"))
    assert chunks


def test_waiting_room_is_visible_then_admitted_then_leave_call(lab: Lab, api: httpx.Client) -> None:
    room = lab.new_room(allowed=["host-only"])
    bot = create_when_pool_ready(
        api, {"meeting_url": lab.room_url(room), "bot_name": "Lobby", "stop_options": FAST_TIMERS}
    )
    waiting = wait_until(api, bot["id"], lambda b: b["sub_status"] == "waiting_room", 30)
    assert waiting["status"] == "joining"
    lab.host.set_acl(room, enabled=False)
    wait_until(api, bot["id"], lambda b: b["status"] == "recording", 30)
    r = api.post(f"/api/v1/bot/{bot['id']}/leave_call/")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["stop_reason"]) == ("leaving", "manually_stopped")
    done = wait_until(api, bot["id"], lambda b: b["status"] == "finished", 60)
    assert done["stop_reason"] == "manually_stopped"


def test_killed_runner_fails_the_bot_and_keeps_its_audio(
    lab: Lab, api: httpx.Client, server: Server, tmp_path: Path
) -> None:
    room = lab.new_room()
    bot = create_when_pool_ready(
        api, {"meeting_url": lab.room_url(room), "stop_options": FAST_TIMERS}
    )
    wait_until(api, bot["id"], lambda b: b["status"] == "recording", 30)
    chunk_dir = server.data_dir / "media" / "bots" / bot["id"] / "chunks"
    poll(lambda: len(list(chunk_dir.glob("*.pcm"))) >= 2, 30, what="a couple of chunks")
    pids = [json.loads(f.read_text()) for f in (server.data_dir / "runners").glob("[0-9]*.json")]
    pid = next(p["pid"] for p in pids if p.get("bot_id") == bot["id"])
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    failed = wait_until(api, bot["id"], lambda b: b["status"] == "failed", 30)
    assert failed["sub_code"] == "bot_process_lost"
    assert time.monotonic() - killed_at <= 30
    chunks = list((server.data_dir / "media" / "bots" / bot["id"] / "chunks").glob("*.pcm"))
    assert chunks


def test_scheduled_bot_starts_joining_on_time(lab: Lab, api: httpx.Client) -> None:
    room = lab.new_room()
    join_at = datetime.now(UTC) + timedelta(seconds=12)
    r = api.post(
        "/api/v1/bot/",
        json={
            "meeting_url": lab.room_url(room),
            "join_at": join_at.isoformat(),
            "stop_options": {**FAST_TIMERS, "empty_meeting_timeout": 2},
        },
    )
    assert r.status_code == 201
    assert r.json()["kind"] == "scheduled"
    bot = wait_until(api, r.json()["id"], lambda b: b["status"] in ("joining", "recording"), 40)
    joining = next(c for c in bot["status_changes"] if c["status"] == "joining")
    started = datetime.fromisoformat(joining["at"].replace("Z", "+00:00"))
    assert abs((started - join_at).total_seconds()) <= 1.0, (started, join_at)
    done = wait_until(api, bot["id"], lambda b: b["status"] == "finished", 60)
    assert done["stop_reason"] == "empty_meeting_timeout"


def test_a_booting_bot_renamed_enters_the_room_under_its_new_name(
    lab: Lab, api: httpx.Client
) -> None:
    """Scheduled bots are editable up until they start joining (issue 11): renamed while
    ``booting`` (dispatched, its runner waiting for ``join_at``), it joins as the new name."""
    room = lab.new_room()
    join_at = datetime.now(UTC) + timedelta(seconds=10)
    r = api.post(
        "/api/v1/bot/",
        json={
            "meeting_url": lab.room_url(room),
            "bot_name": "Before",
            "join_at": join_at.isoformat(),
            "stop_options": FAST_TIMERS,
        },
    )
    assert (r.status_code, r.json()["kind"]) == (201, "scheduled"), r.text
    bot_id = r.json()["id"]
    wait_until(api, bot_id, lambda b: b["status"] == "booting", 30)
    r = api.patch(f"/api/v1/bot/{bot_id}/", json={"bot_name": "Renamed"})
    assert (r.status_code, r.json()["status"], r.json()["bot_name"]) == (200, "booting", "Renamed")
    wait_until(api, bot_id, lambda b: b["status"] == "recording", 40)
    names = [p.display for p in lab.host.list_participants(room)]
    assert "Renamed" in names, names
    assert "Before" not in names
    r = api.patch(f"/api/v1/bot/{bot_id}/", json={"bot_name": "Too late"})
    assert r.json() == {
        "code": "update_bot_failed",
        "detail": "Only non-dispatched bots can be updated",
    }
    api.post(f"/api/v1/bot/{bot_id}/leave_call/")
    done = wait_until(api, bot_id, lambda b: b["status"] == "finished", 60)
    assert statuses(done) == [
        "scheduled",
        "booting",
        "joining",
        "recording",
        "leaving",
        "processing",
        "finished",
    ]


def test_507_when_the_pool_is_empty_then_claim_after_refill(lab: Lab, api: httpx.Client) -> None:
    room = lab.new_room()
    body = {"meeting_url": lab.room_url(room), "stop_options": FAST_TIMERS}
    first = create_when_pool_ready(api, body)
    r = api.post("/api/v1/bot/", json=body)
    assert r.status_code == 507
    assert r.json()["code"] == "adhoc_pool_exhausted"
    second = create_when_pool_ready(api, body, timeout=60)
    for bot in (first, second):
        api.post(f"/api/v1/bot/{bot['id']}/leave_call/")

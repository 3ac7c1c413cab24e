"""The whole product end to end: `meetbot serve` with its local launcher and warm pool, real
runner processes and Chromium, a real Janus room (the lab), driven through the public API."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from meetbot.lab import MEETING_HOSTS, Lab, make_speech
from meetbot.lab.serve import Server, start_server

pytestmark = pytest.mark.e2e

TALKATIVE = {"audio_active_packets": 25, "audio_level_average": 60}
FAST_TIMERS = {
    "empty_meeting_timeout": 30,
    "last_person_detection": 2,
    "waiting_room_timeout": 30,
    "silence_detection": 0,
}


def serve_with_lab(lab: Lab, data_dir: Path, **settings: str) -> Server:
    """`meetbot serve` running real bots against the lab: local launcher, a pool of one, timers
    in seconds, quick heartbeats, no transcription; ``settings`` adds or overrides."""
    env = {
        "MEETBOT_LAUNCHER": "local",
        "MEETBOT_CHROMIUM_PATH": str(lab.chromium_executable),
        "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
        "MEETBOT_ADHOC_POOL_SIZE": "1",
        "MEETBOT_MAX_CONCURRENT_BOTS": "3",
        "MEETBOT_TIMER_UNIT_SECONDS": "1",
        "MEETBOT_HEARTBEAT_TIMEOUT": "10",
        "MEETBOT_HEARTBEAT_INTERVAL": "1",
        "MEETBOT_DEFAULT_TRANSCRIPTION_MODEL": "none",
    }
    return start_server(data_dir, env | settings)


@contextmanager
def api_client(server: Server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Token {server.first_key()}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def server(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = Path(tmp_path_factory.mktemp("e2e")) / "data"
    srv = serve_with_lab(
        lab,
        data_dir,
        MEETBOT_SCHEDULED_THRESHOLD="5",
        MEETBOT_DISPATCH_LEAD="4",
        MEETBOT_WARM_LEAD="3",
    )
    yield srv
    srv.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


def wait_until(
    api: httpx.Client, bot_id: str, done: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        bot: dict[str, Any] = api.get(f"/api/v1/bot/{bot_id}/").json()
        if done(bot):
            return bot
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; bot is {bot['status']}: {bot['status_changes']}")
        time.sleep(0.2)


def create_when_pool_ready(api: httpx.Client, body: dict[str, Any], timeout: float = 60) -> Any:
    """POST until the warm pool has a browser ready (507 while it is warming)."""
    deadline = time.monotonic() + timeout
    while True:
        r = api.post("/api/v1/bot/", json=body)
        if r.status_code != 507 or time.monotonic() > deadline:
            assert r.status_code == 201, r.text
            return r.json()
        assert r.headers["retry-after"] == "30"
        time.sleep(0.5)


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
    time.sleep(3)  # a couple of chunks
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

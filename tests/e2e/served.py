"""`meetbot serve` against the lab, shared by the e2e modules that drive the public API.

One server for the whole session (``server`` in ``conftest.py``): a local launcher, a warm pool
of one, timers in seconds, quick heartbeats, no transcription. Tests stay independent: each
makes its own room and its own bots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from meetbot.lab import MEETING_HOSTS, Lab
from meetbot.lab.serve import Server, start_server

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
        **lab.chromium_settings,
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

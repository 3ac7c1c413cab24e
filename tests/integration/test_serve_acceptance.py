"""`meetbot serve` as a subprocess, driven like a client, killed with -9 and restarted."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from harness.waiting import wait_until
from meetbot.lab.serve import MEETBOT, Server, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_ADHOC_POOL_SIZE": "2",
        "MEETBOT_SCHEDULED_THRESHOLD": "5",
        "MEETBOT_DISPATCH_LEAD": "2",
        "MEETBOT_HEARTBEAT_TIMEOUT": "600",
    }
    srv = Server(tmp_path / "data", free_port(), env)
    yield srv
    srv.stop()


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_first_start_prints_one_key_and_keys_create(server: Server) -> None:
    server.start()
    key = server.output[
        server.output.index("Created the first API key (shown only once; keep it):") + 1
    ].strip()
    assert key.startswith("mb_")
    headers = {"Authorization": f"Token {key}"}
    assert httpx.get(f"{server.url}/api/v1/bot/", headers=headers).status_code == 200
    out = (
        subprocess.run(
            [*MEETBOT, "keys", "create", "--name", "ci", "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
            check=True,
            env=server.env,
        )
        .stdout.strip()
        .splitlines()
    )
    other = {"Authorization": f"Token {out[-1]}"}
    assert httpx.get(f"{server.url}/api/v1/bot/", headers=other).status_code == 200
    server.stop()
    server.output.clear()
    server.start()
    assert not any("Created the first API key" in line for line in server.output)


def test_kill9_and_restart_loses_and_duplicates_nothing(server: Server) -> None:
    server.start()
    key = server.first_key()
    headers = {"Authorization": f"Token {key}", "Idempotency-Key": "once"}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Token {key}"}) as c:
        adhoc = c.post("/api/v1/bot/", json={"meeting_url": "https://meet.google.com/abc-defg-hij"})
        assert adhoc.status_code == 201, adhoc.text
        soon = c.post(
            "/api/v1/bot/",
            json={"meeting_url": "https://zoom.us/j/1234567890", "join_at": at(8)},
        ).json()
        far_body = {"meeting_url": "https://zoom.us/j/9876543210", "join_at": at(3600)}
        far = c.post("/api/v1/bot/", json=far_body, headers=headers).json()
        assert (soon["status"], far["status"]) == ("scheduled", "scheduled")
    server.kill9()
    server.start()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Token {key}"}) as c:
        again = c.post("/api/v1/bot/", json=far_body, headers=headers)
        assert again.status_code == 201
        assert again.json()["id"] == far["id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = c.get(f"/api/v1/bot/{soon['id']}/").json()
            if got["status"] != "scheduled":
                break
            time.sleep(0.2)
        assert got["status"] == "booting"
        server.kill9()
    server.start()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Token {key}"}) as c:
        bots = c.get("/api/v1/bot/").json()["results"]
        assert sorted(b["id"] for b in bots) == sorted([adhoc.json()["id"], soon["id"], far["id"]])
        time.sleep(1)
        got = c.get(f"/api/v1/bot/{soon['id']}/").json()
        assert [s["status"] for s in got["status_changes"]] == ["scheduled", "booting"]
        assert c.get(f"/api/v1/bot/{far['id']}/").json()["status"] == "scheduled"


def test_sigterm_with_a_request_in_flight_still_shuts_down_cleanly(server: Server) -> None:
    """A request that never completes (a stalled upload here; a runner's long poll for commands
    in production) is cancelled after the grace period, and the application shutdown still runs,
    long before a supervisor would send SIGKILL."""
    server.start()
    assert server.proc is not None
    with socket.create_connection(("127.0.0.1", server.port)) as stalled:
        head = "POST /api/v1/bot/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        stalled.sendall(head.encode())
        time.sleep(0.2)  # let the server take the request in
        stopped = time.monotonic()
        server.proc.terminate()
        assert server.proc.wait(20) is not None
    assert time.monotonic() - stopped < 20
    wait_until(lambda: "INFO:     Application shutdown complete." in server.output, 5)

"""`meetbot serve` as a subprocess, driven like a client, killed with -9 and restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

MEETBOT = [sys.executable, "-m", "meetbot.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = port
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*MEETBOT, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line.rstrip())
            if "listening on" in line:
                break
        for _ in range(100):
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start:\n" + "\n".join(self.output))

    def first_key(self) -> str:
        marker = self.output.index("Created the first API key (shown only once; keep it):")
        return self.output[marker + 1].strip()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


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

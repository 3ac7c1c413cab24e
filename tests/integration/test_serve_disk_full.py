"""A full disk under `meetbot serve`'s data dir: 503 + Retry-After, then service resumes.

The server runs in its own mount namespace on a small tmpfs (root and ``unshare`` needed;
skipped otherwise); the test fills that file system through ``/proc/<pid>/root``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meetbot.lab.serve import Server, free_port

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare (a private tmpfs for the data dir)",
)
MOUNT = 'mount -t tmpfs -o size=4m meetbot-full "$0" && exec "$@"'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "data"
    data.mkdir()
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT, str(data)]
    env = {"MEETBOT_LAUNCHER": "fake", "MEETBOT_DELIVERY": "inline"}
    srv = Server(data, free_port(), env, prefix=prefix)
    srv.start()
    yield srv
    srv.stop()


def _fill(path: Path) -> None:
    with path.open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def test_a_full_disk_is_503_then_writes_resume(server: Server) -> None:
    assert server.proc is not None
    seen = Path(f"/proc/{server.proc.pid}/root") / str(server.data_dir).lstrip("/")
    assert (seen / "meetbot.db").exists()
    headers = {"Authorization": f"Token {server.first_key()}"}
    body = {
        "meeting_url": "https://zoom.us/j/1234567890",
        "join_at": "2099-01-01T00:00:00Z",
        "metadata": {f"k{n}": "v" * 400 for n in range(50)},
    }
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        assert client.post("/api/v1/bot/", json=body).status_code == 201
        _fill(seen / "filler")
        answers = [client.post("/api/v1/bot/", json=body) for _ in range(40)]
        codes = {a.status_code for a in answers}
        assert codes <= {201, 503}, [a.text for a in answers if a.status_code not in (201, 503)]
        refused = [a for a in answers if a.status_code == 503]
        assert refused, "the disk never filled"
        assert refused[0].json()["code"] == "service_unavailable"
        assert refused[0].headers["Retry-After"] == "5"
        assert client.get("/api/v1/bot/", params={"limit": 1}).status_code == 200  # reads work
        (seen / "filler").unlink()
        assert client.post("/api/v1/bot/", json=body).status_code == 201

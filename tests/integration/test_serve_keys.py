"""`meetbot keys create/list/revoke` against a running `meetbot serve` (real processes)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meetbot.lab.serve import MEETBOT, Server, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {"MEETBOT_LAUNCHER": "fake", "MEETBOT_DELIVERY": "inline"}
    srv = Server(tmp_path / "data", free_port(), env)
    srv.start()
    yield srv
    srv.stop()


def keys(server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MEETBOT, "keys", *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=check,
        env=server.env,
    )


def status(server: Server, key: str) -> int:
    answer = httpx.get(f"{server.url}/api/v1/bot/", headers={"Authorization": f"Token {key}"})
    return answer.status_code


def test_create_list_and_revoke_a_key_by_its_id(server: Server) -> None:
    first = server.first_key()
    lines = keys(server, "create", "--name", "ci").stdout.strip().splitlines()
    assert lines[0].startswith("workspace: ")
    assert lines[1].startswith("id: ")
    key_id, key = lines[1].removeprefix("id: "), lines[-1]
    assert key.startswith("mb_")
    assert status(server, key) == 200  # now in the server's key cache

    listing = keys(server, "list", "--json").stdout
    assert key not in listing
    listed = {k["id"]: k for k in json.loads(listing)}
    assert set(listed[key_id]) == {"id", "name", "workspace", "created_at", "revoked_at"}
    assert listed[key_id]["name"] == "ci"
    assert listed[key_id]["workspace"] == lines[0].removeprefix("workspace: ")
    assert listed[key_id]["revoked_at"] is None
    assert len(listed) == 2
    assert key_id in keys(server, "list").stdout

    by_key = keys(server, "revoke", key, check=False)  # the key itself is not an id
    assert by_key.returncode == 1
    assert "not a key id" in by_key.stderr
    assert keys(server, "revoke", "no-such-id", check=False).returncode == 1
    assert status(server, key) == 200

    keys(server, "revoke", key_id)
    revoked_at = time.monotonic()
    while status(server, key) != 401:
        assert time.monotonic() - revoked_at < 5, "a revoked key still works after 5 s"
        time.sleep(0.2)
    assert status(server, first) == 200
    assert json.loads(keys(server, "list", "--json").stdout)[1]["revoked_at"] is not None


def test_the_data_dir_is_its_owners_only(tmp_path: Path) -> None:
    """Made by an older meetbot (world-readable): the next start makes it owner-only."""
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    subprocess.run(
        [*MEETBOT, "keys", "create", "--name", "x", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        env={**os.environ, "MEETBOT_LAUNCHER": "fake"},
    )
    (data / "meetbot.db").chmod(0o644)
    srv = Server(data, free_port(), {"MEETBOT_LAUNCHER": "fake", "MEETBOT_DELIVERY": "inline"})
    srv.start()
    try:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        made = [p for p in data.rglob("*") if p.is_file()]
        assert {"meetbot.db", "secret.key"} <= {p.name for p in made}
        for path in made:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        srv.stop()

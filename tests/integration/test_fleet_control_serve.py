"""`meetbot agents create/list/revoke` and `MEETBOT_LAUNCHER=fleet meetbot serve` (real
processes, SQLite): an agent's token on the last line, its heartbeat and long poll over HTTP, an
ad-hoc bot handed to it, `list --json` with the fields the issue names, a revoked agent 401."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meetbot.contract import agent_protocol as wire
from meetbot.lab.serve import MEETBOT, Server, free_port

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {"MEETBOT_LAUNCHER": "fleet", "MEETBOT_DELIVERY": "inline"}
    srv = Server(tmp_path / "data", free_port(), env)
    srv.start()
    yield srv
    srv.stop()


def agents(server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MEETBOT, "agents", *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=check,
        env=server.env,
    )


def test_an_agent_created_by_the_cli_takes_an_adhoc_bot_until_revoked(server: Server) -> None:
    key = server.first_key()
    lines = agents(server, "create", "--name", "host-a").stdout.strip().splitlines()
    agent_id, token = lines[0].removeprefix("id: "), lines[-1]
    assert token.startswith("mba_")
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        beat = {"name": "host-a", "slots": 3, "warm_idle": 1, "received": 0, "busy": 0}
        r = http.post(wire.HEARTBEAT_PATH, json=beat | {"incarnation": "x"}, headers=bearer)
        assert r.status_code == 200, r.text
        assert r.json()["agent_id"] == agent_id
        created = http.post(
            "/api/v1/bot/", json={"meeting_url": MEET}, headers={"Authorization": f"Token {key}"}
        )
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        r = http.post(wire.POLL_PATH, json={"wait": 10}, headers=bearer)
        (handoff,) = wire.PollAnswer.model_validate(r.json()).handoffs
        assert handoff.bot_id == bot_id
        beat |= {"received": 1, "busy": 1, "bots": [bot_id], "ack": [handoff.id]}
        assert http.post(wire.HEARTBEAT_PATH, json=beat | {"incarnation": "x"}, headers=bearer)

        listing = agents(server, "list", "--json").stdout
        assert token not in listing
        (listed,) = json.loads(listing)
        assert listed == {
            "id": agent_id,
            "name": "host-a",
            "slots": 3,
            "busy": 1,
            "warm_idle": 1,
            "last_seen": listed["last_seen"],
            "state": "live",
            "bots": [bot_id],
        }
        assert listed["last_seen"]
        assert agent_id in agents(server, "list").stdout
        scraped = http.get("/metrics")  # a scraper needs no key: counts only
        assert scraped.status_code == 200
        assert 'meetbot_fleet_agents{state="live"}' in scraped.text

        assert "revoked" in agents(server, "revoke", agent_id).stdout
        r = http.post(wire.HEARTBEAT_PATH, json=beat | {"incarnation": "x"}, headers=bearer)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
        assert json.loads(agents(server, "list", "--json").stdout)[0]["state"] == "revoked"
    missing = agents(server, "revoke", "nope", check=False)
    assert missing.returncode == 1
    assert "No agent" in missing.stderr

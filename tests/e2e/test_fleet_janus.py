"""A fleet end to end with real Chromium: `MEETBOT_LAUNCHER=fleet meetbot serve` and two agents
(`meetbot agent`, real runner processes, warm browsers), one bot from each in one Janus room.

The agents run in the host namespace (their browsers go into the lab's namespace through the
lab's Chromium wrapper, like every runner's); hosts as namespaces of their own are tested with
simulated agents in ``tests/integration/test_fleet_agent_hosts.py``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import FAST_TIMERS, api_client, serve_with_lab, wait_until

from harness.fleet import AgentProcess
from harness.waiting import wait_until as poll
from meetbot.lab import Lab
from meetbot.lab.serve import MEETBOT, Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def fleet_server(lab: Lab, tmp_path: Path) -> Iterator[Server]:
    srv = serve_with_lab(lab, tmp_path / "data", MEETBOT_LAUNCHER="fleet")
    yield srv
    srv.stop()


def agents_json(server: Server) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*MEETBOT, "agents", "list", "--json", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, check=True, env=server.env,
    )  # fmt: skip
    listed: list[dict[str, Any]] = json.loads(done.stdout)
    return listed


def start_agent(server: Server, lab: Lab, name: str, tmp_path: Path) -> AgentProcess:
    created = subprocess.run(
        [*MEETBOT, "agents", "create", "--name", name, "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, check=True, env=server.env,
    )  # fmt: skip
    agent = AgentProcess(
        name, created.stdout.strip().splitlines()[-1], server.url, tmp_path / name,
        slots=2, warm=1, simulate=False,
        env={**server.env, **lab.chromium_settings},
    )  # fmt: skip
    agent.start()
    return agent


def test_two_agents_put_their_bots_in_one_janus_room(
    lab: Lab, fleet_server: Server, tmp_path: Path
) -> None:
    agents = [start_agent(fleet_server, lab, n, tmp_path) for n in ("host-a", "host-b")]
    try:
        poll(lambda: sum(a["warm_idle"] > 0 for a in agents_json(fleet_server)) == 2, 90,
             what="a warm browser on each agent")  # fmt: skip
        room = lab.new_room()
        with api_client(fleet_server) as api:
            ids = [create(api, lab, room, name) for name in ("NotesA", "NotesB")]
            for bot_id in ids:
                wait_until(api, bot_id, lambda b: b["status"] == "recording", 60)
            present = [p.display for p in lab.host.list_participants(room)]
            assert {"NotesA", "NotesB"} <= set(present)
            by_agent = {a["name"]: a["bots"] for a in agents_json(fleet_server)}
            assert sorted(by_agent["host-a"] + by_agent["host-b"]) == sorted(ids)
            assert by_agent["host-a"]  # one from each agent
            assert by_agent["host-b"]
            for bot_id in ids:
                assert api.post(f"/api/v1/bot/{bot_id}/leave_call/").status_code == 200
            for bot_id in ids:
                done = wait_until(api, bot_id, lambda b: b["status"] == "finished", 60)
                assert done["stop_reason"] == "manually_stopped"
    finally:
        for agent in agents:
            agent.term()
        for agent in agents:
            try:
                agent.wait(60)
            except subprocess.TimeoutExpired:
                agent.kill9()


def create(api: httpx.Client, lab: Lab, room: int, name: str) -> str:
    body = {"meeting_url": lab.room_url(room), "bot_name": name, "stop_options": FAST_TIMERS}
    r = api.post("/api/v1/bot/", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])

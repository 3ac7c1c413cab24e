"""Agents as real processes (``meetbot agent --simulate``) against real control-plane replicas
(``MEETBOT_LAUNCHER=fleet meetbot serve``) on PostgreSQL: an ad-hoc bot joins through an
agent; an agent killed -9 offers nothing after ``MEETBOT_AGENT_TIMEOUT`` and its bot not yet
joining goes to another agent; SIGTERM drains; a replica killed -9 and the agent and its bots
carry on through the other."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pg_testdb import temporary_database, unavailable_reason

from harness.fleet import MEET, Fleet, bot, wait_for

pytestmark = pytest.mark.postgres

SETTINGS = {
    "MEETBOT_AGENT_TIMEOUT": "3",
    "MEETBOT_SCHEDULED_THRESHOLD": "5",
    "MEETBOT_DISPATCH_LEAD": "60",
    "MEETBOT_SIMULATED_CALL_SECONDS": "600",
    "MEETBOT_HEARTBEAT_TIMEOUT": "60",
}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    with temporary_database("meetbot_fleet") as url:
        fleet = Fleet(tmp_path / "data", url, dict(SETTINGS))
        try:
            yield fleet
        finally:
            fleet.stop()


def status(fleet: Fleet, bot_id: str) -> str:
    with fleet.client() as http:
        return str(bot(http, bot_id)["status"])


def warm_offered(fleet: Fleet, name: str) -> bool:
    a = fleet.listed(name)
    return bool(a["state"] == "live" and a["warm_idle"] >= 1)


def test_an_adhoc_bot_joins_through_an_agent(fleet: Fleet) -> None:
    fleet.replica()
    agent = fleet.agent("host-a", warm=1)
    wait_for(lambda: warm_offered(fleet, "host-a"), what="a warm browser offered")
    with fleet.client() as http:
        created = http.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        wait_for(lambda: bot(http, bot_id)["status"] == "recording", what="in the call")
        steps = [c["status"] for c in bot(http, bot_id)["status_changes"]]
    assert steps[0] == "booting"
    assert steps[-1] == "recording"
    assert "joining" in steps
    assert fleet.listed("host-a")["bots"] == [bot_id]
    assert agent.alive()


def test_a_killed_agent_offers_nothing_and_its_waiting_bot_goes_to_another(
    fleet: Fleet,
) -> None:
    fleet.replica()
    first = fleet.agent("host-a", warm=1)
    wait_for(lambda: warm_offered(fleet, "host-a"), what="host-a live")
    join_at = datetime.now(UTC) + timedelta(seconds=25)
    with fleet.client() as http:
        body = {"meeting_url": MEET, "join_at": join_at.isoformat()}
        created = http.post("/api/v1/bot/", json=body)
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        wait_for(lambda: bot_id in fleet.listed("host-a")["bots"], what="host-a runs the bot")
        first.kill9()
        wait_for(lambda: fleet.listed("host-a")["state"] == "lost", timeout=20, what="lost")
        gone = http.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert gone.status_code == 507, gone.text  # its warm browser is no longer offered
        fleet.agent("host-b", warm=1)
        wait_for(lambda: bot_id in fleet.listed("host-b").get("bots", []), timeout=30,
                 what="the bot handed to host-b")  # fmt: skip
        wait_for(lambda: bot(http, bot_id)["status"] == "recording", timeout=40)
        changes = bot(http, bot_id)["status_changes"]
    joining = next(c for c in changes if c["status"] == "joining")
    joined_at = datetime.fromisoformat(joining["at"].replace("Z", "+00:00"))
    assert joined_at >= join_at - timedelta(seconds=1)


def test_sigterm_drains_then_the_bot_leaves_saying_the_host_shut_down(fleet: Fleet) -> None:
    fleet.replica()
    agent = fleet.agent("host-a", warm=1, extra=["--drain-timeout", "1"])
    wait_for(lambda: warm_offered(fleet, "host-a"))
    with fleet.client() as http:
        bot_id = http.post("/api/v1/bot/", json={"meeting_url": MEET}).json()["id"]
        wait_for(lambda: bot(http, bot_id)["status"] == "recording")
        agent.term()
        assert agent.wait(60) == 0, agent.output()[-3000:]
        assert http.post("/api/v1/bot/", json={"meeting_url": MEET}).status_code == 507
        wait_for(lambda: bot(http, bot_id)["status"] not in ("recording", "leaving"))
        changes = bot(http, bot_id)["status_changes"]
    leaving = next(c for c in changes if c["status"] == "leaving")
    assert leaving["sub_code"] == "host_shutdown", changes
    assert fleet.listed("host-a")["state"] in ("draining", "lost")  # gone since its last beat


def test_a_killed_replica_and_the_agent_fails_over_without_losing_a_bot(fleet: Fleet) -> None:
    first, second = fleet.replica(), fleet.replica()
    fleet.agent("host-a", [first.url, second.url], warm=1)
    wait_for(lambda: warm_offered(fleet, "host-a"))
    with fleet.client(first) as http:
        bot_id = http.post("/api/v1/bot/", json={"meeting_url": MEET}).json()["id"]
        wait_for(lambda: bot(http, bot_id)["status"] == "recording")
    first.kill9()
    with fleet.client(second) as http:
        # the bot's runner reports through the second replica: a leave reaches it there
        r = http.post(f"/api/v1/bot/{bot_id}/leave_call/")
        assert r.status_code in (200, 202), r.text
        wait_for(lambda: bot(http, bot_id)["status"] not in ("recording", "leaving"),
                 timeout=40)  # fmt: skip
        assert any(c.get("stop_reason") == "manually_stopped" or "leave" in str(c)
                   for c in bot(http, bot_id)["status_changes"])  # fmt: skip
        # and the agent polls the second one: a new ad-hoc bot reaches it
        wait_for(lambda: warm_offered(fleet, "host-a"), timeout=30)
        created = http.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert created.status_code == 201, created.text
        new_id = created.json()["id"]
        wait_for(lambda: bot(http, new_id)["status"] == "recording", timeout=30)

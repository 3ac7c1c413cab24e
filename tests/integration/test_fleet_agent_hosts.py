"""Runner hosts as network namespaces (root; :mod:`harness.netns`): two agents, each on a host
of its own, the control plane reached over a veth link. A host cut off (its link down) is lost
and offers nothing, new bots go to the other host, and once its link is back the agent is live
again and its bot's runner, which kept running, still records."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_testdb import temporary_database, unavailable_reason

from harness import netns
from harness.fleet import MEET, Fleet, bot, wait_for

pytestmark = pytest.mark.postgres

SETTINGS = {
    "MEETBOT_AGENT_TIMEOUT": "3",
    "MEETBOT_SIMULATED_CALL_SECONDS": "600",
    "MEETBOT_HEARTBEAT_TIMEOUT": "60",
}


@pytest.fixture
def hosts() -> Iterator[netns.Hosts]:
    if (reason := netns.available()) is not None:
        pytest.skip(reason)
    made = netns.Hosts(net=40 + os.getpid() % 200)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    with temporary_database("meetbot_hosts") as url:
        fleet = Fleet(tmp_path / "data", url, dict(SETTINGS))
        try:
            yield fleet
        finally:
            fleet.stop()


def live_with_warm(fleet: Fleet, name: str) -> bool:
    a = fleet.listed(name)
    return bool(a["state"] == "live" and a["warm_idle"] >= 1)


def test_a_host_cut_off_is_lost_then_comes_back_with_its_bot(
    hosts: netns.Hosts, fleet: Fleet
) -> None:
    a, b = hosts.add(), hosts.add()
    fleet.replica(host=hosts.server_address)
    fleet.agent("host-a", warm=1, prefix=a.prefix)
    wait_for(lambda: live_with_warm(fleet, "host-a"), what="host-a live")
    with fleet.client() as http:
        first = http.post("/api/v1/bot/", json={"meeting_url": MEET}).json()["id"]
        wait_for(lambda: bot(http, first)["status"] == "recording", what="first bot recording")
        fleet.agent("host-b", warm=1, prefix=b.prefix)
        wait_for(lambda: live_with_warm(fleet, "host-b"), what="host-b live")

        a.cut()
        wait_for(lambda: fleet.listed("host-a")["state"] == "lost", timeout=20, what="a lost")
        created = http.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert created.status_code == 201, created.text
        second = created.json()["id"]
        wait_for(lambda: bot(http, second)["status"] == "recording", what="second recording")
        assert fleet.listed("host-b")["bots"] == [second]
        assert http.post("/api/v1/bot/", json={"meeting_url": MEET}).status_code in (201, 507)

        a.restore()
        wait_for(lambda: fleet.listed("host-a")["state"] == "live", timeout=30, what="a back")
        assert first in fleet.listed("host-a")["bots"]
        assert bot(http, first)["status"] == "recording"  # its runner kept recording

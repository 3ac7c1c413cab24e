"""``--simulate``: the real session and report channel against a simulated meeting."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from harness.waiting import until
from meetbot.agent.simulated import SimulatedHost
from meetbot.contract.assignment import Assignment
from meetbot.runner.session_ports import SessionConfig

FAST = SessionConfig(poll_interval=0.01, warm_lead=0.1, drain_timeout=2.0, leave_timeout=1.0)


class Plane:
    """The control plane's runner routes: records each bot's report types."""

    def __init__(self) -> None:
        self.reports: dict[str, list[str]] = {}
        self.joined: dict[str, datetime] = {}
        self.hosts: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        if request.url.host == "down.test":
            raise httpx.ConnectError("down", request=request)
        bot = request.url.path.split("/")[3]
        if request.url.path.endswith("/join"):
            self.joined[bot] = datetime.now(UTC)
            return httpx.Response(200, json={"commands": []})
        if request.url.path.endswith("/events"):
            events = json.loads(request.content)["events"]
            self.reports.setdefault(bot, []).extend(e["type"] for e in events)
        return httpx.Response(200, json={"commands": []})


def bot(bot_id: str, tmp: Path, join_in: float | None) -> Assignment:
    join_at = None if join_in is None else datetime.now(UTC) + timedelta(seconds=join_in)
    return Assignment(
        bot_id=bot_id, meeting_url="https://meet.google.com/abc-defg-hij", platform="google_meet",
        bot_name="N", stop_options={}, join_at=join_at, token="t", control_url="http://down.test",
        storage={"kind": "local", "root": str(tmp)}, heartbeat_interval=0.05,
    )  # fmt: skip


async def test_simulated_bots_join_at_join_at_stay_then_the_meeting_ends(tmp_path: Path) -> None:
    plane = Plane()
    client = httpx.AsyncClient(transport=httpx.MockTransport(plane.handler))
    host = SimulatedHost(
        servers=["http://cp.test"], slots=3, warm=2, call_seconds=0.3, lobby_seconds=0.05,
        client=client, config=FAST,
    )  # fmt: skip
    await host.start()
    assert host.warm_idle() == 2
    scheduled = bot("b2", tmp_path, join_in=0.5)
    host.take(bot("b1", tmp_path, join_in=None), warm=True)
    host.take(scheduled, warm=False)
    assert host.busy() == 2
    assert host.bots() == ["b1", "b2"]
    assert host.warm_idle() == 1  # one slot left
    await until(lambda: host.busy() == 0, timeout=10)
    for b in ("b1", "b2"):
        assert plane.reports[b][:2] == ["waiting", "in_call"]
        assert "participant_joined" in plane.reports[b]
        assert plane.reports[b][-2:] == ["leaving", "left"]
    assert scheduled.join_at is not None
    assert plane.joined["b2"] >= scheduled.join_at
    assert "down.test" in plane.hosts  # the assignment's URL failed: the agent's list took over
    await host.close()


async def test_a_drained_simulated_bot_leaves_with_host_shutdown(tmp_path: Path) -> None:
    plane = Plane()
    client = httpx.AsyncClient(transport=httpx.MockTransport(plane.handler))
    host = SimulatedHost(
        servers=["http://cp.test"], slots=2, warm=1, call_seconds=60, lobby_seconds=0.0,
        client=client, config=FAST,
    )  # fmt: skip
    host.take(bot("b1", tmp_path, join_in=None), warm=True)
    await until(lambda: "in_call" in plane.reports.get("b1", []), timeout=10)
    await host.stop_warm()
    assert host.warm_idle() == 0
    assert not await host.wait_idle(0.05)
    host.leave_all()
    assert await host.wait_idle(10)
    assert plane.reports["b1"][-2:] == ["leaving", "left"]
    await host.close()
    await asyncio.sleep(0)

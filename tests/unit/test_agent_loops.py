"""The agent's loops against a fake control plane (httpx.MockTransport) and a fake host."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from harness.waiting import until
from meetbot.agent.agent import EXIT_OK, EXIT_REVOKED, Agent, AgentOptions
from meetbot.agent.control_client import ControlClient
from meetbot.contract.agent_protocol import HEARTBEAT_PATH, POLL_PATH, RunnerExit
from meetbot.contract.assignment import Assignment, dump_assignment


def assignment(bot_id: str, token: str = "tok") -> dict[str, Any]:
    a = Assignment(
        bot_id=bot_id, meeting_url="http://meet.example/r", platform="janus", bot_name="N",
        stop_options={}, join_at=datetime.now(UTC) + timedelta(seconds=30), token=token,
        control_url="http://cp.test",
    )  # fmt: skip
    loaded: dict[str, Any] = json.loads(dump_assignment(a))
    return loaded


@dataclass
class FakeHost:
    """A host with ``warm`` idle runners; :meth:`take` claims one at once."""

    warm: int = 2
    taken: list[tuple[str, bool]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    warm_stopped: bool = False
    told_to_leave: bool = False
    closed: bool = False
    adopted: set[tuple[str, str]] = field(default_factory=set)
    exits: list[RunnerExit] = field(default_factory=list)

    def take_exits(self) -> list[RunnerExit]:
        exits, self.exits = self.exits, []
        return exits

    def warm_idle(self) -> int:
        return 0 if self.warm_stopped else self.warm

    def busy(self) -> int:
        return len(self.running)

    def runs(self, bot_id: str, token: str) -> bool:
        return (bot_id, token) in self.adopted

    def bots(self) -> list[str]:
        return sorted(self.running)

    async def start(self) -> None:
        return None

    def take(self, a: Assignment, *, warm: bool) -> None:
        if warm and self.warm:
            self.warm -= 1
        self.taken.append((a.bot_id, warm))
        self.running.add(a.bot_id)
        self.changed.set()

    async def stop_warm(self) -> None:
        self.warm_stopped = True

    def leave_all(self) -> None:
        self.told_to_leave = True
        self.running.clear()

    async def wait_idle(self, timeout: float) -> bool:
        await asyncio.sleep(min(timeout, 0.05))
        return not self.running

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakePlane:
    """Queued hand-offs are answered until acknowledged; every request is recorded."""

    queued: list[dict[str, Any]] = field(default_factory=list)
    beats: list[dict[str, Any]] = field(default_factory=list)
    polls: list[dict[str, Any]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    status: int = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        if request.url.host in self.down:
            raise httpx.ConnectError("down", request=request)
        if self.status != 200:
            return httpx.Response(self.status, json={"code": "x", "detail": "x"})
        assert request.headers["authorization"] == "Bearer agent-token"
        body = json.loads(request.content)
        acked = set(body.get("ack", []))
        self.queued = [h for h in self.queued if h["id"] not in acked]
        if request.url.path == HEARTBEAT_PATH:
            self.beats.append(body)
            return httpx.Response(
                200, json={"agent_id": "ag1", "heartbeat_interval": 0.05, "timeout": 15}
            )
        assert request.url.path == POLL_PATH
        self.polls.append(body)
        return httpx.Response(200, json={"handoffs": self.queued})


def agent_on(plane: FakePlane, host: FakeHost, *servers: str, **options: Any) -> Agent:
    client = httpx.AsyncClient(transport=httpx.MockTransport(plane.handler))
    control = ControlClient(client, list(servers or ["http://a.test"]), "agent-token")
    opts = AgentOptions(name="host-a", slots=4, warm=2, poll_wait=0.0, **options)
    return Agent(control, host, opts)


async def test_a_handoff_is_taken_once_acknowledged_and_counted() -> None:
    plane, host = FakePlane(), FakeHost()
    handoff = {"id": "h1", "bot_id": "b1", "warm": True, "assignment": assignment("b1")}
    plane.queued = [handoff, dict(handoff)]  # delivered twice in one answer
    agent, stop = agent_on(plane, host), asyncio.Event()
    run = asyncio.create_task(agent.run(stop))
    await until(lambda: not plane.queued, timeout=5)
    await until(lambda: any(b["received"] == 1 for b in plane.beats), timeout=5)
    assert host.taken == [("b1", True)]
    beat = next(b for b in plane.beats if b["received"] == 1)
    assert beat["warm_idle"] == 1  # read in the same step as the claim
    assert beat["bots"] == ["b1"]
    assert beat["busy"] == 1
    # a later delivery of the same hand-off (an answer lost on the way) is only acknowledged
    plane.queued = [handoff]
    await until(lambda: not plane.queued, timeout=5)
    assert host.taken == [("b1", True)]
    stop.set()
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert host.closed


async def test_the_same_bot_and_token_in_another_handoff_starts_nothing() -> None:
    plane, host = FakePlane(), FakeHost()
    plane.queued = [
        {"id": "h1", "bot_id": "b1", "warm": False, "assignment": assignment("b1")},
        {"id": "h2", "bot_id": "b1", "warm": False, "assignment": assignment("b1")},
        {"id": "h3", "bot_id": "b1", "warm": False, "assignment": assignment("b1", "new")},
    ]
    agent, stop = agent_on(plane, host), asyncio.Event()
    run = asyncio.create_task(agent.run(stop))
    await until(lambda: not plane.queued, timeout=5)
    assert host.taken == [("b1", False), ("b1", False)]  # the redispatch (new token) runs
    assert agent.received == 3
    stop.set()
    await asyncio.wait_for(run, 5)


async def test_the_agent_fails_over_to_the_next_server() -> None:
    plane, host = FakePlane(down={"a.test"}), FakeHost()
    plane.queued = [{"id": "h1", "bot_id": "b1", "warm": True, "assignment": assignment("b1")}]
    agent, stop = agent_on(plane, host, "http://a.test", "http://b.test"), asyncio.Event()
    run = asyncio.create_task(agent.run(stop))
    await until(lambda: host.taken == [("b1", True)], timeout=5)
    assert agent.control.server == "http://b.test"
    plane.down = {"b.test"}  # b dies, a is back
    plane.beats.clear()
    await until(lambda: len(plane.beats) >= 2, timeout=5)
    assert plane.hosts[-1] == "a.test"
    stop.set()
    await asyncio.wait_for(run, 5)


async def test_a_revoked_token_stops_asking_and_exits_3() -> None:
    plane, host = FakePlane(status=401), FakeHost()
    agent = agent_on(plane, host)
    assert await asyncio.wait_for(agent.run(asyncio.Event()), 5) == EXIT_REVOKED
    assert plane.polls == []
    assert host.warm_stopped


async def test_sigterm_drains_then_makes_running_bots_leave() -> None:
    plane, host = FakePlane(), FakeHost()
    plane.queued = [{"id": "h1", "bot_id": "b1", "warm": True, "assignment": assignment("b1")}]
    agent, stop = agent_on(plane, host, drain_timeout=0.1), asyncio.Event()
    run = asyncio.create_task(agent.run(stop))
    await until(lambda: bool(host.taken), timeout=5)
    stop.set()
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert host.warm_stopped
    assert host.told_to_leave  # still running after the drain timeout
    last = plane.beats[-1]
    assert last["draining"] is True
    assert last["warm_idle"] == 0
    assert last["busy"] == 0


async def test_stopping_without_a_drain_leaves_running_bots_alone() -> None:
    """``meetbot serve``'s own agent (``run(drain=False)``): at stop its last heartbeat offers
    no warm browser, nothing is made to leave and nothing is waited for; the host closes."""
    plane, host = FakePlane(), FakeHost()
    plane.queued = [{"id": "h1", "bot_id": "b1", "warm": True, "assignment": assignment("b1")}]
    agent, stop = agent_on(plane, host, drain_timeout=60), asyncio.Event()
    run = asyncio.create_task(agent.run(stop, drain=False))
    await until(lambda: bool(host.taken), timeout=5)
    stop.set()
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert not host.told_to_leave
    assert host.closed
    last = plane.beats[-1]
    assert (last["draining"], last["warm_idle"], last["bots"]) == (False, 0, ["b1"])


async def test_a_restarted_agent_starts_no_second_runner_for_an_adopted_bot() -> None:
    """The control plane answers unacknowledged hand-offs again to a new incarnation."""
    plane, host = FakePlane(), FakeHost(adopted={("b1", "tok")})
    plane.queued = [
        {"id": "h1", "bot_id": "b1", "warm": True, "assignment": assignment("b1")},
        {"id": "h2", "bot_id": "b2", "warm": True, "assignment": assignment("b2")},
    ]
    agent, stop = agent_on(plane, host), asyncio.Event()
    run = asyncio.create_task(agent.run(stop))
    await until(lambda: not plane.queued, timeout=5)
    assert host.taken == [("b2", True)]
    assert agent.received == 2  # both taken (and acknowledged): counted
    stop.set()
    await asyncio.wait_for(run, 5)


async def test_a_runner_exit_is_told_in_heartbeats_until_one_is_answered() -> None:
    """Before, only ``meetbot serve``'s own agent told the control plane that a runner ended;
    a remote agent's crashed runner failed its bot only after the runner heartbeat timeout."""
    plane, host = FakePlane(down={"a.test"}), FakeHost()
    agent, stop = agent_on(plane, host, "http://a.test"), asyncio.Event()
    exit_ = RunnerExit(bot_id="b1", token_sha="ab" * 16, returncode=-9)
    host.exits.append(exit_)
    run = asyncio.create_task(agent.run(stop))
    await until(lambda: plane.hosts.count("a.test") >= 2, timeout=5)  # unreachable: kept
    assert plane.beats == []
    plane.down = set()
    await until(lambda: len(plane.beats) >= 3, timeout=5)
    told = [b["exited"] for b in plane.beats]
    assert told[0] == [exit_.model_dump()]
    assert told[1:] == [[]] * (len(told) - 1)  # answered once: not told again
    stop.set()
    await asyncio.wait_for(run, 5)

"""What a runner does for a fleet: fail over between control-plane URLs, and leave with the
sub_code ``host_shutdown`` when its host shuts down (SIGTERM)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from harness.waiting import until
from meetbot.contract.assignment import Assignment
from meetbot.contract.lifecycle import StopReason
from meetbot.contract.reports import InCall, Joining, Leaving, NotAdmitted
from meetbot.runner.platforms.base import Phase, Snapshot
from meetbot.runner.reporter import Reporter
from meetbot.runner.session import EXIT_OK, HOST_SHUTDOWN, Session
from meetbot.runner.session_ports import SessionConfig
from meetbot.testing.fakes_runner import FakeBrowser, FakePage, FakeReports, MemoryStorage, in_call

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAST = SessionConfig(poll_interval=0.01, warm_lead=0.2, drain_timeout=1.0, leave_timeout=1.0)


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def session_on(page: FakePage) -> tuple[Session, FakeReports]:
    reports = FakeReports()
    browser = FakeBrowser()

    async def launch() -> FakeBrowser:
        return browser

    a = Assignment(
        bot_id="bot1", meeting_url="http://meet.example/room", platform="fake",
        bot_name="Note Taker", stop_options={"waiting_room_timeout": 10}, join_at=None,
        token="secret", control_url="http://127.0.0.1:1", timer_unit_seconds=0.05,
    )  # fmt: skip
    session = Session(
        a, page, reports, MemoryStorage(), _Clock(), launch=launch, browser=browser, config=FAST
    )
    return session, reports


async def test_a_host_shutdown_in_the_call_leaves_cleanly_and_says_why() -> None:
    session, reports = session_on(FakePage(in_call("alice")))
    run = asyncio.create_task(session.run())
    await until(lambda: "participant_joined" in reports.types)
    session.request_leave(HOST_SHUTDOWN)
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert reports.types[-2:] == ["leaving", "left"]  # the recording is kept
    leaving = reports.of("leaving")[0]
    assert isinstance(leaving, Leaving)
    assert leaving.stop_reason is StopReason.MANUALLY_STOPPED
    assert leaving.sub_code == HOST_SHUTDOWN


async def test_a_host_shutdown_in_the_lobby_is_not_admitted_with_the_sub_code() -> None:
    session, reports = session_on(FakePage(Snapshot(Phase.WAITING_ROOM)))
    run = asyncio.create_task(session.run())
    await until(lambda: "waiting" in reports.types)
    session.request_leave(HOST_SHUTDOWN)
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    refused = reports.of("not_admitted")[0]
    assert isinstance(refused, NotAdmitted)
    assert refused.sub_code == HOST_SHUTDOWN
    assert refused.stop_reason is StopReason.MANUALLY_STOPPED


async def test_a_plain_leave_still_has_no_sub_code() -> None:
    session, reports = session_on(FakePage(Snapshot(Phase.WAITING_ROOM)))
    run = asyncio.create_task(session.run())
    await until(lambda: "waiting" in reports.types)
    session.request_leave()
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    refused = reports.of("not_admitted")[0]
    assert isinstance(refused, NotAdmitted)
    assert refused.sub_code is None


# --- failover between control-plane replicas ----------------------------------------------


def reporter_over(handler: Any, *fallback: str) -> Reporter:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Reporter(
        client,
        control_url="http://a.test/",
        bot_id="b1",
        token="tok",
        heartbeat_interval=0.05,
        command_wait=0,
        fallback_urls=fallback,
    )


async def test_reports_fail_over_to_the_next_replica_and_lose_nothing() -> None:
    seen: list[tuple[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "a.test":
            raise httpx.ConnectError("replica a is down", request=request)
        if request.url.host == "b.test" and len(seen) == 0:
            seen.append(("b", []))
            return httpx.Response(502)
        events = [e["type"] for e in json.loads(request.content)["events"]]
        seen.append((request.url.host, events))
        return httpx.Response(200, json={"commands": []})

    r = reporter_over(handler, "http://b.test", "http://a.test/", "http://c.test")
    r.emit(Joining(at=T0))
    r.emit(InCall(at=T0))
    task = asyncio.create_task(r.send_loop())
    try:
        await until(lambda: r.sent == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen[:2] == [("b", []), ("c.test", ["joining", "in_call"])]
    assert r.control_url == "http://c.test"


async def test_join_and_commands_fail_over_too() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(f"{request.url.host}{request.url.path}")
        if request.url.host == "a.test":
            return httpx.Response(503)
        if request.url.path.endswith("/join"):
            return httpx.Response(200, json={"commands": []})
        return httpx.Response(200, json={"commands": [{"type": "leave"}]})

    r = reporter_over(handler, "http://b.test")
    assert await r.start_joining(T0) is not None
    assert hosts == ["a.test/internal/bots/b1/join", "b.test/internal/bots/b1/join"]
    loop = asyncio.create_task(r.command_loop())
    try:
        assert (await asyncio.wait_for(r.commands.get(), 5)).type == "leave"
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert hosts[2] == "b.test/internal/bots/b1/commands"

"""Reservations with the real scheduler and the real local launcher.

- ``meetbot serve`` as it runs in production (``MEETBOT_MAX_CONCURRENT_BOTS=2``, no warm pool),
  on SQLite and on PostgreSQL: two bots at one ``join_at`` are 201, a third is 409
  ``schedule_full``, a third two hours later is 201.
- In process, the scheduler dispatching two reserved bots while the ad-hoc pool fills the
  machine with browsers still starting: the pool gives way and both get their runner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from harness.waiting import until
from meetbot.clock import SystemClock
from meetbot.config import Settings
from meetbot.control.agents import FleetCapacity
from meetbot.control.api.app import create_app
from meetbot.control.launchers.local import LocalLauncher
from meetbot.control.scheduler import Scheduler
from meetbot.control.service import Services
from meetbot.control.service.core import CommandBus
from meetbot.control.service.keys import create_key
from meetbot.control.service.local_agent import InProcessChannel
from meetbot.control.store import open_store
from meetbot.crypto import SecretBox
from meetbot.lab.serve import Server, start_server
from meetbot.pidfiles import runner_alive

MEET = "https://meet.google.com/abc-defg-hij"


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def server(tmp_path: Path, sql_url: str) -> Iterator[Server]:
    env = {
        "MEETBOT_DATABASE_URL": sql_url,
        "MEETBOT_MAX_CONCURRENT_BOTS": "2",
        "MEETBOT_ADHOC_POOL_SIZE": "0",
        "MEETBOT_DELIVERY": "inline",
    }
    srv = start_server(tmp_path / "data", env)
    yield srv
    srv.stop()


def test_serve_reserves_two_places_and_refuses_a_third(server: Server) -> None:
    headers = {"Authorization": f"Token {server.first_key()}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        join_at = at(3600)
        for _ in range(2):
            r = client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "scheduled"
        r = client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "schedule_full"
        assert "2 bots are booked in that window" in r.json()["detail"]
        assert len(client.get("/api/v1/bot/").json()["results"]) == 2
        r = client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": at(3 * 3600)})
        assert r.status_code == 201, r.text
        timeline = client.get("/api/v1/capacity/", params={"from": at(3600), "step": 60}).json()
        assert timeline["capacity"] == 2
        assert [s["reserved"] for s in timeline["steps"][:3]] == [2, 1, 1]


SLOW_WARM_RUNNER = """#!/bin/sh
# warm: never READY (a browser still starting); --cold: take the assignment, then wait
case "$*" in *--cold*) ;; *) while :; do sleep 0.1; done ;; esac
IFS= read -r line || exit 0
printf '%s\\n' "$line" > "$FAKE_DIR/$$.json"
while [ ! -f "$FAKE_DIR/$$.exit" ]; do sleep 0.05; done
exit 0
"""


def finish_all(fake_dir: Path) -> None:
    """Let every runner that took an assignment exit."""
    for assigned in fake_dir.glob("*.json"):
        part = fake_dir / f"{assigned.stem}.exit.part"
        part.write_text("0")  # then renamed: never read empty
        part.rename(fake_dir / f"{assigned.stem}.exit")


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    script = tmp_path / "slow-runner"
    script.write_text(SLOW_WARM_RUNNER)
    script.chmod(0o755)
    settings = Settings(
        data_dir=tmp_path / "data",
        max_concurrent_bots=2,
        adhoc_pool_size=2,
        scheduled_threshold=2,
        dispatch_lead=2,
        scheduler_interval=0.1,
    )
    store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    clock, commands, box = SystemClock(), CommandBus(), SecretBox(bytes(32))
    launcher = LocalLauncher(
        settings, store, clock, box, commands.notify,
        python=str(script), env={"FAKE_DIR": str(tmp_path)}, stop_timeout=1.0,
    )  # fmt: skip
    svc = Services(
        settings=settings,
        store=store,
        launcher=launcher,
        clock=clock,
        commands=commands,
        secret_box=box,
        capacity=FleetCapacity(None),
    )
    launcher.attach(InProcessChannel(svc, "mba_test", name="local"))
    scheduler = Scheduler(svc)
    await launcher.start()
    await scheduler.start()
    try:
        yield svc
    finally:
        await scheduler.stop()
        finish_all(tmp_path)
        await until(lambda: launcher.state().busy == 0)
        await launcher.close()
        await store.close()


async def test_the_scheduler_dispatches_reserved_bots_into_the_pools_places(
    services: Services, tmp_path: Path
) -> None:
    launcher = services.launcher
    assert isinstance(launcher, LocalLauncher)
    key, _ = await create_key(services.store, services.clock, name="t")
    app = create_app(services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Token {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://x", headers=headers) as c:
        await until(lambda: launcher.state().starting == 2)  # the pool holds both places
        join_at = at(4)
        body = {"meeting_url": MEET, "join_at": join_at}
        made = [await c.post("/api/v1/bot/", json=body) for _ in range(3)]
        assert [r.status_code for r in made] == [201, 201, 409]
        ids = [r.json()["id"] for r in made[:2]]

        async def statuses() -> list[str]:
            return [(await c.get(f"/api/v1/bot/{i}/")).json()["status"] for i in ids]

        deadline = time.monotonic() + 30
        while (seen := await statuses()) != ["booting", "booting"]:
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.05)
        # Both cold runners got their assignment; the starting warm runners gave way.
        await until(lambda: len(list(tmp_path.glob("*.json"))) == 2)
        assert launcher.state().total == 2
        assert sum(runner_alive(p) for p in launcher.pids().values()) == 2
        # Running, they hold both places: a bot in the next hour is refused.
        r = await c.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": at(600)})
        assert (r.status_code, r.json()["code"]) == (409, "schedule_full")

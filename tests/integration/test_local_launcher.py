"""``MEETBOT_LAUNCHER=local``: the fleet's code with one agent in the server's process
(``LocalLauncher`` = ``FleetLauncher`` + the real ``Agent`` with a ``ProcessHost``), with real
processes (a shell script that speaks the runner's protocol) and a real SQLite store.

What the single-machine launcher promised still holds: 507 only when no warm browser is idle,
a runner that exits with its bot unfinished fails it at once (only the bot's newest runner
says so), ``close()`` leaves busy runners running and the next server adopts them (the same
agent row), and runners get only the environment they need.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.waiting import until
from meetbot.clock import SystemClock
from meetbot.config import Settings
from meetbot.contract.assignment import Assignment
from meetbot.control.agents import FleetCapacity
from meetbot.control.api.app import create_app
from meetbot.control.launchers.local import EXIT_UNKNOWN, LocalLauncher, local_agent_token
from meetbot.control.ports import Store
from meetbot.control.service import Services
from meetbot.control.service.core import CommandBus
from meetbot.control.service.keys import create_key
from meetbot.control.service.local_agent import InProcessChannel
from meetbot.control.service.lost_runners import runner_exited
from meetbot.control.service.reactions import Subscribers
from meetbot.control.store import open_store
from meetbot.crypto import SecretBox
from meetbot.pidfiles import runner_alive

MEET = "https://meet.google.com/abc-defg-hij"
SECRET = bytes(range(32))
FAKE_RUNNER = """#!/bin/sh
# READY, then one line -> $FAKE_DIR/<pid>.json; exit with the code written to <pid>.exit
echo "$@" > "$FAKE_DIR/$$.args"
env > "$FAKE_DIR/$$.env"
echo READY
IFS= read -r line || exit 0
printf '%s\\n' "$line" > "$FAKE_DIR/$$.json"
while [ ! -f "$FAKE_DIR/$$.exit" ]; do sleep 0.05; done
exit "$(cat "$FAKE_DIR/$$.exit")"
"""


@dataclass
class Local:
    launcher: LocalLauncher
    services: Services
    exits: list[tuple[str, int]]
    fake_dir: Path

    def client(self, key: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(self.services), raise_app_exceptions=False)
        headers = {"Authorization": f"Token {key}"}
        return httpx.AsyncClient(transport=transport, base_url="http://x", headers=headers)


def fake_runner(tmp_path: Path) -> Path:
    script = tmp_path / "fake-runner"
    if not script.exists():
        script.write_text(FAKE_RUNNER)
        script.chmod(0o755)
    return script


async def local(tmp_path: Path, store: Store, *, pool: int = 2, slots: int = 3) -> Local:
    """A started local launcher wired like ``server.build`` wires it."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data", adhoc_pool_size=pool, max_concurrent_bots=slots,
        runner_spool_mb=7,
    )  # fmt: skip
    exits: list[tuple[str, int]] = []
    clock, commands, box, reactions = SystemClock(), CommandBus(), SecretBox(SECRET), Subscribers()
    launcher = LocalLauncher(
        settings, store, clock, box, commands.notify, on_exit=reactions.runner_exited,
        python=str(fake_runner(tmp_path)), env={"FAKE_DIR": str(tmp_path)}, stop_timeout=2.0,
    )  # fmt: skip
    svc = Services(
        settings=settings, store=store, launcher=launcher, clock=clock, commands=commands,
        secret_box=box, capacity=FleetCapacity(None), reactions=reactions,
    )  # fmt: skip
    reactions.on_runner_exited.append(functools.partial(runner_exited, svc))
    reactions.on_runner_exited.append(lambda bot, rc: exits.append((bot, rc)))
    token = local_agent_token(SECRET, settings.data_dir)
    launcher.attach(InProcessChannel(svc, token, name="local"))
    await launcher.start()
    return Local(launcher, svc, exits, tmp_path)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    yield store
    await store.close()


def finish(fake_dir: Path, pid: int, code: int) -> None:
    """Tell the fake runner ``pid`` to exit with ``code`` (written then renamed: never empty)."""
    part = fake_dir / f"{pid}.exit.part"
    part.write_text(str(code))
    part.rename(fake_dir / f"{pid}.exit")


def assigned_pid(fake_dir: Path, bot_id: str) -> int | None:
    for file in fake_dir.glob("*.json"):
        if json.loads(file.read_text())["bot_id"] == bot_id:
            return int(file.stem)
    return None


def assigned(fake_dir: Path) -> set[int]:
    """The pids of the fake runners that got an assignment."""
    return {int(p.stem) for p in fake_dir.glob("*.json")}


async def offered(svc: Services) -> int:
    """Warm browsers the agent's row offers for a claim (what the heartbeat reported)."""
    async with svc.store.transaction(write=False) as tx:
        (agent,) = await tx.agents.list_agents()
    return agent.offered


async def test_ad_hoc_bots_take_warm_browsers_then_507_when_none_is_idle(
    tmp_path: Path, store: Store
) -> None:
    """One slot, one warm browser: the first create takes it (through the agent's row and
    its long poll); the second finds no idle browser and no room to start one: 507."""
    lo = await local(tmp_path, store, pool=1, slots=1)
    try:
        key, _ = await create_key(store, lo.services.clock, name="t")
        await until(lambda: lo.launcher.state().idle == 1)
        await until_async(lambda: offered(lo.services), 1)
        async with lo.client(key) as c:
            first = await c.post("/api/v1/bot/", json={"meeting_url": MEET})
            assert first.status_code == 201, first.text
            bot_id = first.json()["id"]
            await until(lambda: assigned_pid(tmp_path, bot_id) is not None)
            pid = assigned_pid(tmp_path, bot_id)
            assert pid is not None
            args = (tmp_path / f"{pid}.args").read_text().split()
            assert args == ["-m", "meetbot.runner"]  # no --server: the assignment's URL
            record = json.loads((tmp_path / "data" / "runners" / f"{pid}.json").read_text())
            assert record["bot_id"] == bot_id
            second = await c.post("/api/v1/bot/", json={"meeting_url": MEET})
            assert (second.status_code, second.json()["code"]) == (507, "adhoc_pool_exhausted")
            finish(tmp_path, pid, 3)
            await until(lambda: lo.exits == [(bot_id, 3)])
            await until_async(lambda: status(c, bot_id), "failed")  # at once: no reaper
            bot = (await c.get(f"/api/v1/bot/{bot_id}/")).json()
            assert bot["sub_code"] == "bot_process_lost"
    finally:
        await lo.launcher.close()


async def status(c: httpx.AsyncClient, bot_id: str) -> str:
    return str((await c.get(f"/api/v1/bot/{bot_id}/")).json()["status"])


async def until_async(
    probe: Callable[[], Awaitable[object]], expected: object, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while (got := await probe()) != expected:
        assert time.monotonic() < deadline, f"{got!r} != {expected!r}"
        await asyncio.sleep(0.05)


def assignment(bot_id: str, token: str = "t") -> Assignment:
    return Assignment(
        bot_id=bot_id, meeting_url="http://127.0.0.1:1/videoroomtest.html?room=1",
        platform="janus", bot_name="bot", stop_options={}, join_at=None, token=token,
        control_url="http://127.0.0.1:2",
    )  # fmt: skip


async def test_the_exit_of_a_superseded_runner_says_nothing_about_its_bot(
    tmp_path: Path, store: Store
) -> None:
    """A bot given a new runner (a retry after ``bot_detected``, or a dispatch after its
    ``join_at`` moved) while the old one still runs: the old runner's exit would fail it."""
    lo = await local(tmp_path, store)
    host = lo.launcher.host
    try:
        await until(lambda: host.warm_idle() == 2)
        host.take(assignment("bot-1", "old"), warm=True)
        await until(lambda: assigned_pid(tmp_path, "bot-1") is not None)
        old_pid = assigned_pid(tmp_path, "bot-1")
        assert old_pid is not None
        host.take(assignment("bot-1", "new"), warm=True)
        await until(lambda: len(assigned(tmp_path)) == 2)
        (new_pid,) = assigned(tmp_path) - {old_pid}
        finish(tmp_path, old_pid, 3)
        await until(lambda: old_pid not in host.pids().values())
        assert lo.exits == []
        finish(tmp_path, new_pid, 0)
        await until(lambda: lo.exits == [("bot-1", 0)])
    finally:
        await lo.launcher.close()


async def test_close_leaves_busy_runners_and_the_next_server_adopts_them(
    tmp_path: Path, store: Store
) -> None:
    lo = await local(tmp_path, store)
    host = lo.launcher.host
    await until(lambda: host.warm_idle() == 2)
    idle_pids = list(host.pids().values())
    host.take(assignment("bot-9"), warm=True)
    await until(lambda: assigned_pid(tmp_path, "bot-9") is not None)
    busy_pid = assigned_pid(tmp_path, "bot-9")
    assert busy_pid is not None
    async with store.transaction(write=False) as tx:
        (agent,) = await tx.agents.list_agents()
    await lo.launcher.close()
    assert runner_alive(busy_pid)
    assert not any(runner_alive(p) for p in idle_pids if p != busy_pid)

    successor = await local(tmp_path, store)
    try:
        async with store.transaction(write=False) as tx:
            agents = await tx.agents.list_agents()
        assert [a.id for a in agents] == [agent.id]  # the same agent, not a second one
        assert (agents[0].name, agents[0].bots) == ("local", ("bot-9",))
        state = successor.launcher.state()
        assert (state.orphans, successor.launcher.snapshot().busy) == (1, 1)
        await until(lambda: successor.launcher.state().idle == 2)
        assert successor.launcher.state().total == 3
        finish(tmp_path, busy_pid, 0)
        await until(lambda: ("bot-9", EXIT_UNKNOWN) in successor.exits, timeout=15)
        assert successor.launcher.state().orphans == 0
    finally:
        await successor.launcher.close()
        for pid in idle_pids:
            if runner_alive(pid):
                os.kill(pid, signal.SIGKILL)


def _env_text(fake_dir: Path) -> str:
    """The environment the first fake runner saw (``env`` output), or ``""`` before it ran."""
    return next((p.read_text() for p in sorted(fake_dir.glob("*.env"))), "")


async def test_a_runner_gets_only_the_environment_it_needs(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the server's secrets (issue 12): no database URL, no secret, no storage keys; the
    runner settings it reads are given from the server's settings (the spool bounds were
    not, and runners ignored the operator's)."""
    monkeypatch.setenv("MEETBOT_DATABASE_URL", "postgresql://u:pw@db/meetbot")
    monkeypatch.setenv("MEETBOT_SECRET", "ab" * 32)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bucket-key")
    monkeypatch.setenv("TZ", "UTC")
    lo = await local(tmp_path, store, pool=1, slots=1)
    try:
        await until(lambda: "FAKE_DIR=" in _env_text(tmp_path))
        env = dict(line.split("=", 1) for line in _env_text(tmp_path).splitlines() if "=" in line)
    finally:
        await lo.launcher.close()
    assert {"FAKE_DIR", "PATH", "TZ"} <= env.keys()
    assert not env.keys() & {"MEETBOT_DATABASE_URL", "MEETBOT_SECRET", "AWS_SECRET_ACCESS_KEY"}
    assert env["MEETBOT_RUNNER_SPOOL_MB"] == "7"
    assert env["MEETBOT_CHROMIUM_PATH"] == lo.services.settings.chromium_path

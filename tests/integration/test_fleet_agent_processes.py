"""The agent's runner processes (ProcessHost) with a shell script that speaks the runner's
protocol: the warm pool under the slots, warm and cold hand-offs, adoption, leaving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.waiting import until
from meetbot.agent.processes import ProcessHost
from meetbot.contract.assignment import Assignment
from meetbot.pidfiles import runner_alive

FAKE_RUNNER = """#!/bin/sh
# READY, then one line -> $FAKE_DIR/<pid>.json; exit with the code written to <pid>.exit;
# SIGTERM -> <pid>.term, then exit 0
trap 'touch "$FAKE_DIR/$$.term"; exit 0' TERM
echo "$@" > "$FAKE_DIR/$$.args"
env > "$FAKE_DIR/$$.env"
echo READY
IFS= read -r line || exit 0
printf '%s\\n' "$line" > "$FAKE_DIR/$$.json"
while [ ! -f "$FAKE_DIR/$$.exit" ]; do sleep 0.05; done
exit "$(cat "$FAKE_DIR/$$.exit")"
"""


def assignment(bot_id: str) -> Assignment:
    return Assignment(
        bot_id=bot_id, meeting_url="http://127.0.0.1:1/videoroomtest.html?room=1",
        platform="janus", bot_name="bot", stop_options={}, join_at=None, token="t",
        control_url="http://127.0.0.1:2",
    )  # fmt: skip


def make(tmp_path: Path, *, slots: int = 3, warm: int = 2) -> ProcessHost:
    script = tmp_path / "fake-runner"
    script.write_text(FAKE_RUNNER)
    script.chmod(0o755)
    return ProcessHost(
        data_dir=tmp_path / "data", servers=["http://127.0.0.1:2", "http://127.0.0.1:3"],
        slots=slots, warm=warm, python=str(script), env={"FAKE_DIR": str(tmp_path)},
        stop_timeout=2.0,
    )  # fmt: skip


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[ProcessHost]:
    host = make(tmp_path)
    await host.start()
    yield host
    for pid_file in (tmp_path / "data" / "agent" / "runners").glob("*.json"):  # busy leftovers
        part = tmp_path / f"{pid_file.stem}.exit.part"
        part.write_text("0")  # then renamed: never read empty
        part.rename(tmp_path / f"{pid_file.stem}.exit")
    await host.wait_idle(10)  # they exit while this loop still watches them
    await host.close()


def assigned_pid(tmp_path: Path, bot_id: str) -> int | None:
    for file in tmp_path.glob("*.json"):
        if json.loads(file.read_text())["bot_id"] == bot_id:
            return int(file.stem)
    return None


async def test_warm_and_cold_handoffs_under_the_slots(host: ProcessHost, tmp_path: Path) -> None:
    await until(lambda: host.warm_idle() == 2)
    host.take(assignment("warm-1"), warm=True)
    assert (host.warm_idle(), host.busy()) == (1, 1)  # claimed before take() returned
    await until(lambda: assigned_pid(tmp_path, "warm-1") is not None)
    pid = assigned_pid(tmp_path, "warm-1")
    args = (tmp_path / f"{pid}.args").read_text().split()
    assert args == ["-m", "meetbot.runner", "--server", "http://127.0.0.1:2,http://127.0.0.1:3"]
    await until(lambda: host.warm_idle() == 2)  # refilled: 2 warm + 1 busy = 3 slots

    # A cold hand-off takes an idle warm runner too (its browser is up): none starts cold.
    host.take(assignment("cold-1"), warm=False)
    assert (host.warm_idle(), host.busy()) == (1, 2)
    await until(lambda: assigned_pid(tmp_path, "cold-1") is not None)
    cold = assigned_pid(tmp_path, "cold-1")
    assert (tmp_path / f"{cold}.args").read_text().split()[-1] != "--cold"
    assert host.bots() == ["cold-1", "warm-1"]
    await asyncio.sleep(0.3)
    assert host.warm_idle() == 1  # at the slots: no refill

    part = tmp_path / f"{pid}.exit.part"
    part.write_text("0")  # then renamed: never read empty
    part.rename(tmp_path / f"{pid}.exit")
    await until(lambda: host.bots() == ["cold-1"])
    await until(lambda: host.warm_idle() == 2 and host.busy() == 1)  # refilled under the slots
    host.take(assignment("late-1"), warm=True)
    host.take(assignment("late-2"), warm=True)
    host.take(assignment("late-3"), warm=False)  # none idle now: a --cold runner
    await until(lambda: assigned_pid(tmp_path, "late-3") is not None)
    late = assigned_pid(tmp_path, "late-3")
    assert (tmp_path / f"{late}.args").read_text().split()[-1] == "--cold"


def env_text(tmp_path: Path) -> str:
    """The environment the first fake runner saw, or ``""`` before it ran."""
    return next((p.read_text() for p in sorted(tmp_path.glob("*.env"))), "")


async def test_runners_get_no_agent_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETBOT_AGENT_TOKEN", "agent-secret")
    monkeypatch.setenv("MEETBOT_WARM_LEAD", "7")
    host = make(tmp_path, slots=1, warm=1)
    await host.start()
    try:
        await until(lambda: "FAKE_DIR=" in env_text(tmp_path))
        env = env_text(tmp_path)
    finally:
        await host.close()
    assert "agent-secret" not in env
    assert "MEETBOT_WARM_LEAD=7" in env


async def test_a_restarted_agent_adopts_its_busy_runners(tmp_path: Path) -> None:
    first = make(tmp_path)
    await first.start()
    await until(lambda: first.warm_idle() == 2)
    first.take(assignment("bot-1"), warm=True)
    await until(lambda: assigned_pid(tmp_path, "bot-1") is not None)
    pid = assigned_pid(tmp_path, "bot-1")
    assert pid is not None
    await first.close()  # the agent goes away; its busy runner does not
    assert runner_alive(pid)

    second = make(tmp_path)
    await second.start()
    try:
        assert second.bots() == ["bot-1"]
        assert second.busy() == 1
        assert second.runs("bot-1", "t")
        assert not second.runs("bot-1", "a-new-token")  # a redispatch is another runner
        await until(lambda: second.warm_idle() == 2)
        second.leave_all()  # a drain's deadline reaches adopted runners too
        await until(lambda: (tmp_path / f"{pid}.term").exists())
        assert await second.wait_idle(10)
        assert second.bots() == []
        # reaped by this loop (the first host's child): its transport closes before the loop does
        await until(lambda: not Path(f"/proc/{pid}").exists())
        await asyncio.sleep(0.1)
    finally:
        await second.close()


async def test_drain_stops_warm_runners_and_leave_all_signals_busy_ones(
    host: ProcessHost, tmp_path: Path
) -> None:
    await until(lambda: host.warm_idle() == 2)
    host.take(assignment("bot-1"), warm=True)
    await until(lambda: assigned_pid(tmp_path, "bot-1") is not None)
    await host.stop_warm()
    assert host.warm_idle() == 0
    idle_pids = [p for p in host.pids().values() if p != assigned_pid(tmp_path, "bot-1")]
    assert idle_pids == []
    assert not await host.wait_idle(0.3)
    host.leave_all()
    assert await host.wait_idle(10)
    pid = assigned_pid(tmp_path, "bot-1")
    assert pid is not None
    assert (tmp_path / f"{pid}.term").exists()
    assert not runner_alive(pid)

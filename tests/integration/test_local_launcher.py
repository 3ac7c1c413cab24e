"""LocalLauncher with real processes: a shell script that speaks the runner's protocol."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.waiting import until
from meetbot.config import Settings
from meetbot.contract.assignment import Assignment
from meetbot.control.launchers import EXIT_UNKNOWN, LocalLauncher
from meetbot.pidfiles import runner_alive

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


def assignment(bot_id: str) -> Assignment:
    return Assignment(
        bot_id=bot_id,
        meeting_url="http://127.0.0.1:1/videoroomtest.html?room=1",
        platform="janus",
        bot_name="bot",
        stop_options={},
        join_at=None,
        token="t",
        control_url="http://127.0.0.1:2",
    )


@pytest.fixture
def fake_runner(tmp_path: Path) -> Path:
    script = tmp_path / "fake-runner"
    script.write_text(FAKE_RUNNER)
    script.chmod(0o755)
    return script


@pytest.fixture
async def exits() -> list[tuple[str, int]]:
    return []


@pytest.fixture
async def launcher(
    tmp_path: Path, fake_runner: Path, exits: list[tuple[str, int]]
) -> AsyncIterator[LocalLauncher]:
    launcher = make(tmp_path, fake_runner, exits)
    await launcher.start()
    yield launcher
    await launcher.close()
    for pid_file in (tmp_path / "data" / "runners").glob("*.json"):  # busy leftovers
        finish(tmp_path, int(pid_file.stem), 0)


def make(tmp_path: Path, fake_runner: Path, exits: list[tuple[str, int]]) -> LocalLauncher:
    return LocalLauncher(
        data_dir=tmp_path / "data",
        pool_size=2,
        max_concurrent=3,
        on_exit=lambda bot, rc: exits.append((bot, rc)),
        python=str(fake_runner),
        env={"FAKE_DIR": str(tmp_path)},
        stop_timeout=2.0,
    )


def finish(tmp_path: Path, pid: int, code: int) -> None:
    """Tell the fake runner ``pid`` to exit with ``code``. Written then renamed: a runner that
    saw the file before its content would ``exit ""`` (status 2; seen on a loaded machine)."""
    part = tmp_path / f"{pid}.exit.part"
    part.write_text(str(code))
    part.rename(tmp_path / f"{pid}.exit")


def pid_of(launcher: LocalLauncher, slot_id: str) -> int:
    return launcher.pids()[slot_id]


async def test_pool_fills_claims_refill_under_the_cap(
    launcher: LocalLauncher, tmp_path: Path, exits: list[tuple[str, int]]
) -> None:
    await until(lambda: launcher.state().idle == 2)
    slot = await launcher.claim_warm()
    assert slot is not None
    assert slot.warm
    await until(lambda: launcher.state().idle == 2)  # refilled: 2 idle + 1 claimed = cap 3
    assert launcher.state().total == 3

    pid = pid_of(launcher, slot.id)
    await launcher.assign(slot, assignment("bot-1"))
    await until(lambda: (tmp_path / f"{pid}.json").exists())
    line = (tmp_path / f"{pid}.json").read_text()
    assert json.loads(line)["bot_id"] == "bot-1"
    assert (tmp_path / f"{pid}.args").read_text().split() == ["-m", "meetbot.runner"]
    record = json.loads((tmp_path / "data" / "runners" / f"{pid}.json").read_text())
    assert record["bot_id"] == "bot-1"

    second = await launcher.claim_warm()
    assert second is not None
    await asyncio.sleep(0.3)
    assert launcher.state().to_start == 0  # at the cap: no refill
    (idle_pid,) = (p for s, p in launcher.pids().items() if s not in (slot.id, second.id))
    # At the cap, the idle warm runner gives way to a reservation (a scheduled bot's).
    reservation = await launcher.reserve()
    assert reservation is not None
    assert not reservation.warm
    assert (launcher.state().idle, launcher.state().total) == (0, 3)
    await until(lambda: not runner_alive(idle_pid))
    assert await launcher.reserve() is None  # nothing left to give way
    await launcher.release(reservation)
    await launcher.release(second)
    await until(lambda: launcher.state().idle == 2)  # the pool refills

    finish(tmp_path, pid, 3)
    await until(lambda: exits == [("bot-1", 3)])
    assert not (tmp_path / "data" / "runners" / f"{pid}.json").exists()
    await until(lambda: launcher.state().idle == 2)


async def test_the_exit_of_a_superseded_runner_says_nothing_about_its_bot(
    launcher: LocalLauncher, tmp_path: Path, exits: list[tuple[str, int]]
) -> None:
    """A bot given a new runner (its ``join_at`` moved far ahead then dispatched again, or a
    retry after ``bot_detected``) while the old one is still exiting: the old runner's exit
    used to be reported for the bot, which failed it (``bot_process_lost``)."""
    await until(lambda: launcher.state().idle == 2)
    old = await launcher.claim_warm()
    assert old is not None
    await launcher.assign(old, assignment("bot-1"))
    old_pid = pid_of(launcher, old.id)
    new = await launcher.claim_warm()
    assert new is not None
    await launcher.assign(new, assignment("bot-1"))
    new_pid = pid_of(launcher, new.id)
    finish(tmp_path, old_pid, 3)
    await until(lambda: old_pid not in launcher.pids().values())
    await asyncio.sleep(0.1)
    assert exits == []
    finish(tmp_path, new_pid, 0)
    await until(lambda: exits == [("bot-1", 0)])


def _env_text(tmp_path: Path) -> str:
    """The environment the first fake runner saw (``env`` output), or ``""`` before it ran."""
    return next((p.read_text() for p in sorted(tmp_path.glob("*.env"))), "")


async def test_a_runner_gets_only_the_environment_it_needs(
    tmp_path: Path, fake_runner: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the server's secrets (issue 12): no database URL, no secret, no storage keys."""
    monkeypatch.setenv("MEETBOT_DATABASE_URL", "postgresql://u:pw@db/meetbot")
    monkeypatch.setenv("MEETBOT_SECRET", "server-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bucket-key")
    monkeypatch.setenv("TZ", "UTC")
    launcher = make(tmp_path, fake_runner, [])
    await launcher.start()
    try:
        await until(lambda: "FAKE_DIR=" in _env_text(tmp_path))
        names = {line.split("=", 1)[0] for line in _env_text(tmp_path).splitlines() if "=" in line}
    finally:
        await launcher.close()
    assert {"FAKE_DIR", "PATH", "TZ"} <= names
    assert not names & {"MEETBOT_DATABASE_URL", "MEETBOT_SECRET", "AWS_SECRET_ACCESS_KEY"}
    assert not {n for n in names if n.startswith("MEETBOT_")}  # only those given explicitly


async def test_a_reservation_starts_a_cold_runner_at_assign(
    tmp_path: Path, fake_runner: Path, exits: list[tuple[str, int]]
) -> None:
    launcher = LocalLauncher(
        data_dir=tmp_path / "data",
        pool_size=0,
        max_concurrent=1,
        on_exit=lambda bot, rc: exits.append((bot, rc)),
        python=str(fake_runner),
        env={"FAKE_DIR": str(tmp_path)},
    )
    await launcher.start()
    try:
        assert await launcher.claim_warm() is None
        slot = await launcher.reserve()
        assert slot is not None
        assert not slot.warm
        assert await launcher.reserve() is None  # capacity held
        await launcher.assign(slot, assignment("cold-1"))
        (pid,) = launcher.pids().values()
        await until(lambda: (tmp_path / f"{pid}.json").exists())
        assert (tmp_path / f"{pid}.args").read_text().split() == ["-m", "meetbot.runner", "--cold"]
        finish(tmp_path, pid, 0)
        await until(lambda: exits == [("cold-1", 0)])
        assert await launcher.reserve() is not None
    finally:
        await launcher.close()


SLOW_WARM_RUNNER = """#!/bin/sh
# warm: never READY (a browser still starting); --cold: take the assignment like a runner
echo "$@" > "$FAKE_DIR/$$.args"
case "$*" in *--cold*) ;; *) while :; do sleep 0.1; done ;; esac
IFS= read -r line || exit 0
printf '%s\\n' "$line" > "$FAKE_DIR/$$.json"
while [ ! -f "$FAKE_DIR/$$.exit" ]; do sleep 0.05; done
exit "$(cat "$FAKE_DIR/$$.exit")"
"""


async def test_a_starting_warm_runner_gives_way_to_a_reservation_at_the_cap(
    tmp_path: Path, exits: list[tuple[str, int]]
) -> None:
    """Regression: a reserved bot dispatched while the pool's runners were still starting found
    no idle runner and no headroom, and failed (failed_to_launch_in_time)."""
    script = tmp_path / "slow-runner"
    script.write_text(SLOW_WARM_RUNNER)
    script.chmod(0o755)
    launcher = LocalLauncher(
        data_dir=tmp_path / "data",
        pool_size=2,
        max_concurrent=2,
        on_exit=lambda bot, rc: exits.append((bot, rc)),
        python=str(script),
        env={"FAKE_DIR": str(tmp_path)},
        stop_timeout=1.0,
    )
    await launcher.start()
    try:
        await until(lambda: launcher.state().starting == 2)
        warm_pids = set(launcher.pids().values())
        assert await launcher.claim_warm() is None
        slot = await launcher.reserve()
        assert slot is not None
        assert launcher.state().starting == 1
        await launcher.assign(slot, assignment("reserved-1"))
        (cold_pid,) = set(launcher.pids().values()) - warm_pids
        await until(lambda: (tmp_path / f"{cold_pid}.json").exists())
        await until(lambda: sum(runner_alive(p) for p in warm_pids) == 1)
        assert launcher.state().total == 2  # the cap holds
        finish(tmp_path, cold_pid, 0)
        await until(lambda: exits == [("reserved-1", 0)])
        await until(lambda: launcher.state().starting == 2)  # refilled, no back-off
    finally:
        await launcher.close()
        for pid in launcher.pids().values():
            if runner_alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_close_stops_idle_runners_and_the_next_launcher_adopts_busy_ones(
    launcher: LocalLauncher, tmp_path: Path, fake_runner: Path, exits: list[tuple[str, int]]
) -> None:
    await until(lambda: launcher.state().idle == 2)
    idle_pids = list(launcher.pids().values())
    slot = await launcher.claim_warm()
    assert slot is not None
    busy_pid = pid_of(launcher, slot.id)
    await launcher.assign(slot, assignment("bot-9"))
    await launcher.close()

    assert runner_alive(busy_pid)
    assert not any(runner_alive(p) for p in idle_pids if p != busy_pid)

    successor = make(tmp_path, fake_runner, exits)
    assert successor.adopt() == 1
    await successor.start()
    try:
        await until(lambda: successor.state().idle == 2)
        assert successor.state().orphans == 1
        assert successor.state().total == 3
        finish(tmp_path, busy_pid, 0)
        await until(lambda: ("bot-9", EXIT_UNKNOWN) in exits, timeout=15)
        assert successor.state().orphans == 0
    finally:
        await successor.close()
        for pid in idle_pids:
            if runner_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_runner_gets_the_settings_it_reads(tmp_path: Path) -> None:
    """Its environment is an allow-list (issue 12), so each setting the runner reads is
    passed explicitly: the spool bounds were not, and runners ignored the operator's."""
    settings = Settings(data_dir=tmp_path, runner_spool_mb=7, runner_video_spool_mb=9)
    launcher = LocalLauncher.from_settings(settings)
    env = launcher._env
    assert env["MEETBOT_RUNNER_SPOOL_MB"] == "7"
    assert env["MEETBOT_RUNNER_VIDEO_SPOOL_MB"] == "9"
    assert env["MEETBOT_CHROMIUM_PATH"] == settings.chromium_path

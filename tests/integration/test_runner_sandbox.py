"""The bot's Chromium runs in its sandbox (issue 12): a real runner started by the real
launcher, warm on a blank page, its processes read from ``/proc``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.waiting import until
from meetbot.agent.processes import ProcessHost
from meetbot.config import Settings
from meetbot.control.launchers.runner_env import settings_environment
from meetbot.runner.priority import descendants
from meetbot.runner.sandbox import command_line, renderer_report

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


def launcher_for(tmp_path: Path, **settings: str) -> ProcessHost:
    """The local launcher's runner host (``meetbot serve``'s agent), as it builds it."""
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), **settings}
    config = Settings(data_dir=tmp_path / "data", adhoc_pool_size=1, max_concurrent_bots=1)
    return ProcessHost(
        data_dir=config.data_dir, runners_dir=config.data_dir / "runners", servers=(),
        slots=1, warm=1, env={**settings_environment(config), **env},
    )  # fmt: skip


def chromium_processes(runner_pid: int) -> dict[int, list[str]]:
    found = {}
    for pid in descendants(runner_pid):
        argv = command_line(pid)
        if argv and "chrom" in Path(argv[0]).name:
            found[pid] = argv
    return found


async def test_a_runners_chromium_runs_sandboxed(tmp_path: Path) -> None:
    launcher = launcher_for(tmp_path)
    await launcher.start()
    try:
        await until(lambda: launcher.warm_idle() == 1, timeout=90, what="a warm runner")
        (runner_pid,) = launcher.pids().values()
        processes = chromium_processes(runner_pid)
        assert processes, "no Chromium under the runner"
        for argv in processes.values():
            assert "--no-sandbox" not in argv
            assert "--no-zygote" not in argv
        renderers = [pid for pid, argv in processes.items() if "--type=renderer" in argv]
        assert renderers, processes
        for pid in renderers:
            report = renderer_report(pid)
            assert report is not None
            assert report.sandboxed, report
            if os.geteuid() == 0:
                assert report.uid == 65534  # nobody, never root
        if os.geteuid() == 0:  # the browser process too
            for pid in processes:
                report = renderer_report(pid)
                assert report is None or report.uid == 65534, (pid, processes[pid])
    finally:
        await launcher.close()


async def test_a_runner_refuses_to_start_without_a_sandbox(tmp_path: Path) -> None:
    """No such user for Chromium: the sandbox cannot work, the runner exits before READY."""
    if os.geteuid() != 0:
        pytest.skip("the runner drops to MEETBOT_CHROMIUM_USER only as root")
    launcher = launcher_for(tmp_path, MEETBOT_CHROMIUM_USER="no-such-user-meetbot")
    logs = tmp_path / "data" / "runners" / "logs"
    await launcher.start()
    try:
        await until(lambda: any("sandbox" in p.read_text() for p in logs.glob("*.log")), 60)
        assert launcher.warm_idle() == 0
        text = "".join(p.read_text() for p in logs.glob("*.log"))
        assert "MEETBOT_CHROMIUM_NO_SANDBOX=1" in text
        # the Playwright driver it started before reading its settings went with it
        runner_pid = int(re.findall(r"runner\[(\d+)\]", text)[0])
        await until(lambda: not session_members(runner_pid), 30, what="the runner's processes")
    finally:
        await launcher.close()


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (a runner's: the launcher starts it in its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


async def test_no_sandbox_only_when_the_operator_says_so(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the runner drops to MEETBOT_CHROMIUM_USER only as root")
    launcher = launcher_for(
        tmp_path, MEETBOT_CHROMIUM_USER="no-such-user-meetbot", MEETBOT_CHROMIUM_NO_SANDBOX="1"
    )
    await launcher.start()
    try:
        await until(lambda: launcher.warm_idle() == 1, timeout=90, what="a warm runner")
        (runner_pid,) = launcher.pids().values()
        processes = chromium_processes(runner_pid)
        assert processes
        assert all("--no-sandbox" in argv for argv in processes.values())
    finally:
        await launcher.close()


def test_serve_refuses_to_start_when_runners_could_not_be_sandboxed(tmp_path: Path) -> None:
    """`meetbot serve` with the local launcher says why at once (exit 2), not a runner log."""
    if os.geteuid() != 0:
        pytest.skip("the runner drops to MEETBOT_CHROMIUM_USER only as root")
    env = {
        **os.environ,
        "MEETBOT_DATA_DIR": str(tmp_path / "data"),
        "MEETBOT_LAUNCHER": "local",
        "MEETBOT_CHROMIUM_USER": "no-such-user-meetbot",
    }
    done = subprocess.run(
        [sys.executable, "-m", "meetbot.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "MEETBOT_CHROMIUM_NO_SANDBOX=1" in done.stderr
    assert "no user 'no-such-user-meetbot'" in done.stderr

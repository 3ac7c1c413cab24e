"""Runner processes on this host with a warm pool (implements :class:`.hosts.RunnerHost`).

Each runner is ``python -m meetbot.runner --server URL,...`` (protocol: the module docstring of
:mod:`meetbot.runner.__main__`; ``--server`` lists the control-plane replicas its reports fail
over to). ``warm`` of them are kept WARM (Chromium up, READY printed); every runner process
(warm, starting, busy, adopted) counts against ``slots``. A hand-off, warm or cold, takes an
idle runner (its assignment goes to its stdin); with none idle it starts a ``--cold`` runner
(its browser comes up ``warm_lead`` s before ``join_at``).

Runners run in their own session (``start_new_session``), so they survive the agent; their pid
files (``<data_dir>/agent/runners/<pid>.json``; ``meetbot serve``'s own agent keeps
``<data_dir>/runners/``) let the next agent :meth:`ProcessHost.adopt` them. Logs:
``<runners dir>/logs/<slot>.log``.

``on_exit(bot_id, returncode)`` is called when a bot's newest runner exits (``returncode``:
:data:`EXIT_UNKNOWN` for an adopted one): ``meetbot serve``'s agent fails its bot at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from meetbot.contract.agent_protocol import RunnerExit
from meetbot.contract.assignment import Assignment, dump_assignment
from meetbot.pidfiles import PidDir, PidRecord, runner_alive, token_digest

log = logging.getLogger("meetbot.agent.runners")

READY_LINE: Final = "READY"
EXIT_UNKNOWN: Final = -1000
"""``returncode`` passed to ``on_exit`` for an adopted runner (not our child)."""
OnExit = Callable[[str, int], object]
RUNNER_ENV_PASSED: Final = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH",
    "LD_LIBRARY_PATH", "PLAYWRIGHT_BROWSERS_PATH",
)  # fmt: skip
"""What a runner gets of the agent's environment besides its ``MEETBOT_*`` settings (the same
allow-list as the single-machine launcher's): never the agent's token."""
RUNNER_SETTINGS: Final = (
    "MEETBOT_CHROMIUM_PATH", "MEETBOT_CHROMIUM_USER", "MEETBOT_CHROMIUM_NO_SANDBOX",
    "MEETBOT_WARM_LEAD", "MEETBOT_LOG_LEVEL", "MEETBOT_LOG_FORMAT",
    "MEETBOT_RUNNER_SPOOL_MB", "MEETBOT_RUNNER_VIDEO_SPOOL_MB",
)  # fmt: skip
State = Literal["starting", "idle", "busy"]


def runner_environment(agent_env: Mapping[str, str]) -> dict[str, str]:
    """A runner's environment: the allow-list and the runner settings of the agent's."""
    return {k: agent_env[k] for k in (*RUNNER_ENV_PASSED, *RUNNER_SETTINGS) if k in agent_env}


@dataclass(slots=True)
class _Runner:
    slot: str
    process: asyncio.subprocess.Process
    state: State
    record: PidRecord
    bot_id: str | None = None


class ProcessHost:
    def __init__(
        self,
        *,
        data_dir: Path,
        servers: Sequence[str],
        slots: int,
        warm: int,
        command_prefix: Sequence[str] = (),
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 5.0,
        runners_dir: Path | None = None,
        on_exit: OnExit | None = None,
    ) -> None:
        """``command_prefix`` goes before the runner command (e.g. ``ip netns exec NS``);
        ``env`` is added to what a runner gets of this process's environment; ``servers``
        (may be empty) is the runners' ``--server`` list; ``runners_dir`` (default
        ``<data_dir>/agent/runners``) holds the pid files and logs."""
        self.slots = slots
        self.warm = warm
        self.on_exit = on_exit
        self.changed = asyncio.Event()
        self._wake = asyncio.Event()
        """The pool's own wake-up (``changed`` is the agent's to clear)."""
        self._command = [*command_prefix, python, "-m", "meetbot.runner"]
        if servers:
            self._command += ["--server", ",".join(servers)]
        self._env = {**runner_environment(os.environ), **(env or {})}
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._dir = runners_dir if runners_dir is not None else Path(data_dir) / "agent" / "runners"
        self._pids = PidDir(self._dir)
        self._runners: dict[str, _Runner] = {}
        self._orphans: dict[int, PidRecord] = {}
        self._exits: list[RunnerExit] = []
        self._current: dict[str, int] = {}
        """Bot id → the pid of its newest runner: only its exit is reported (``on_exit``)."""
        self._ids = itertools.count(1)
        self._run_id = f"{int(time.time()):x}-{os.getpid()}"
        self._tasks: set[asyncio.Task[None]] = set()
        self._pool_task: asyncio.Task[None] | None = None
        self._filling = True
        self._failures = 0
        self._cold_pending = 0
        self._closing = False

    def _touch(self) -> None:
        self.changed.set()
        self._wake.set()

    # --- counts ---------------------------------------------------------------------------

    def warm_idle(self) -> int:
        return sum(1 for r in self._runners.values() if r.state == "idle")

    def starting(self) -> int:
        """Warm runners launched, not READY yet."""
        return sum(1 for r in self._runners.values() if r.state == "starting")

    def adopted(self) -> int:
        """Live busy runners adopted from a previous process."""
        return len(self._orphans)

    def busy(self) -> int:
        return sum(1 for r in self._runners.values() if r.state == "busy") + len(self._orphans)

    def bots(self) -> list[str]:
        mine = [r.bot_id for r in self._runners.values() if r.bot_id is not None]
        adopted = [r.bot_id for r in self._orphans.values() if r.bot_id is not None]
        return sorted({*mine, *adopted})

    def runs(self, bot_id: str, token: str) -> bool:
        digest = token_digest(token)
        records = [r.record for r in self._runners.values()] + list(self._orphans.values())
        return any(r.bot_id == bot_id and r.token_sha == digest for r in records)

    def pids(self) -> dict[str, int]:
        """Slot → pid of every runner process this host started and still watches."""
        return {slot: r.process.pid for slot, r in self._runners.items()}

    def _total(self) -> int:
        """Runner processes counted against the slots (cold starts under way included)."""
        return len(self._runners) + len(self._orphans) + self._cold_pending

    def _to_start(self) -> int:
        spare = sum(1 for r in self._runners.values() if r.state in ("idle", "starting"))
        room = self.slots - self._total()
        return max(0, min(self.warm - spare, room)) if self._filling else 0

    # --- the RunnerHost protocol ------------------------------------------------------------

    async def start(self) -> None:
        self.adopt()
        self._pool_task = asyncio.create_task(self._keep_pool(), name="agent.pool")

    def take(self, assignment: Assignment, *, warm: bool) -> None:
        """An idle warm runner takes any hand-off, cold ones too: the control plane counts
        every hand-off in flight against the warm browsers offered (docs/fleet.md)."""
        idle = [r for r in self._runners.values() if r.state == "idle"]
        runner = next((r for r in idle if r.process.returncode is None), None)
        if runner is not None:
            runner.state = "busy"
        else:
            if warm:
                log.warning("bot %s: no idle warm runner here; a cold start", assignment.bot_id)
            self._give_way()
            self._cold_pending += 1
        self._spawn_task(self._assign(runner, assignment), f"agent.assign.{assignment.bot_id}")
        self._touch()

    def _give_way(self) -> None:
        """A cold start at the slots: a warm runner no bot has (one still starting first)
        makes room, as the control plane counted it (the ad-hoc pool gives way)."""
        if self._total() < self.slots:
            return
        spare = [r for r in self._runners.values() if r.state in ("starting", "idle")]
        if spare:
            runner = min(spare, key=lambda r: r.state != "starting")
            del self._runners[runner.slot]
            log.info("%s gives way to a cold start", runner.slot)
            self._spawn_task(self._stop(runner), f"agent.give-way.{runner.slot}")

    async def stop_warm(self) -> None:
        self._filling = False
        spare = [r for r in self._runners.values() if r.state != "busy"]
        for runner in spare:
            del self._runners[runner.slot]
        await asyncio.gather(*(self._stop(r) for r in spare))
        self._touch()

    def leave_all(self) -> None:
        pids = [r.process.pid for r in self._runners.values() if r.state == "busy"]
        for pid in [*pids, *self._orphans]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    async def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.busy():
            self._check_orphans()
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.2)
        return True

    async def close(self) -> None:
        """Stop the pool and the runners with no bot; busy ones are left running (a restarted
        agent adopts them) unless :meth:`leave_all` was asked first and they overstay."""
        self._filling = False
        self._closing = True
        if self._pool_task is not None:  # not cancelled mid-spawn: it would leak the process
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ready_timeout):
                    await asyncio.shield(self._pool_task)
            self._pool_task.cancel()
            await asyncio.gather(self._pool_task, return_exceptions=True)
        await asyncio.gather(*(self._stop(r) for r in self._runners.values() if not r.bot_id))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0.05)  # the stopped runners' pipes close (their transports' callbacks)

    # --- adoption ---------------------------------------------------------------------------

    def adopt(self) -> int:
        """Adopt live busy runners of a previous agent; stop its warm ones. Returns how many."""
        mine = {r.process.pid for r in self._runners.values()}
        for record in self._pids.records():
            if record.pid in mine or record.pid in self._orphans:
                continue
            if not runner_alive(record.pid):
                self._pids.remove(record.pid)
            elif record.bot_id is None:  # warm, but its agent (and its stdin) is gone
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGTERM)
                self._pids.remove(record.pid)
            else:
                log.info("adopted runner pid %d (bot %s)", record.pid, record.bot_id)
                self._orphans[record.pid] = record
                self._current.setdefault(record.bot_id, record.pid)
        self._touch()
        return len(self._orphans)

    def _check_orphans(self) -> None:
        for pid in [p for p in self._orphans if not runner_alive(p)]:
            record = self._orphans.pop(pid)
            self._pids.remove(pid)
            self._touch()
            self._exited(record, pid, EXIT_UNKNOWN)

    def take_exits(self) -> list[RunnerExit]:
        exits, self._exits = self._exits, []
        return exits

    def _exited(self, record: PidRecord, pid: int, returncode: int) -> None:
        """Tell ``on_exit`` (and :meth:`take_exits`) that the runner of ``record.bot_id``
        ended, if it was the bot's newest."""
        bot_id = record.bot_id
        if bot_id is None or self._current.get(bot_id) != pid:
            return
        del self._current[bot_id]
        if record.token_sha:
            exit_ = RunnerExit(bot_id=bot_id, token_sha=record.token_sha, returncode=returncode)
            self._exits.append(exit_)
        if self.on_exit is None:
            return
        try:
            self.on_exit(bot_id, returncode)
        except Exception:
            log.exception("on_exit failed for bot %s", bot_id)

    # --- processes --------------------------------------------------------------------------

    def _spawn_task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _assign(self, runner: _Runner | None, assignment: Assignment) -> None:
        try:
            if runner is None:
                try:
                    runner = await self._spawn(cold=True, state="busy")
                finally:
                    self._cold_pending -= 1
            elif runner.process.returncode is not None:  # the warm one died meanwhile
                runner = await self._spawn(cold=True, state="busy")
            runner.bot_id = assignment.bot_id
            self._current[assignment.bot_id] = runner.process.pid  # an older one is superseded
            digest = token_digest(assignment.token)
            runner.record = replace(runner.record, bot_id=assignment.bot_id, token_sha=digest)
            self._pids.write(runner.record)
            stdin = runner.process.stdin
            assert stdin is not None
            stdin.write((dump_assignment(assignment) + "\n").encode())
            await stdin.drain()
            stdin.close()
            log.info("bot %s → %s (pid %d)", assignment.bot_id, runner.slot, runner.process.pid)
        except (OSError, AssertionError) as exc:
            log.error("bot %s: no runner could take it: %r", assignment.bot_id, exc)
            if self.on_exit is not None and assignment.bot_id not in self._current:
                self.on_exit(assignment.bot_id, EXIT_UNKNOWN)  # no runner: the bot fails now
        self._touch()

    async def _keep_pool(self) -> None:
        while not self._closing:
            self._check_orphans()
            wanted = self._to_start()
            if wanted and self._failures:
                await asyncio.sleep(min(60.0, 0.5 * 2**self._failures))
                wanted = self._to_start()
            for _ in range(wanted):
                try:
                    runner = await self._spawn(cold=False, state="starting")
                except OSError as exc:
                    log.error("cannot start a runner: %s", exc)
                    self._failures += 1
                    break
                if not self._filling:  # the drain began while it started
                    self._runners.pop(runner.slot, None)
                    await self._stop(runner)
                    break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            self._wake.clear()

    async def _spawn(self, *, cold: bool, state: State) -> _Runner:
        slot = f"runner-{self._run_id}-{next(self._ids)}"
        (self._dir / "logs").mkdir(parents=True, exist_ok=True)
        log_path = self._dir / "logs" / f"{slot}.log"
        with log_path.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                *self._command, *(["--cold"] if cold else []),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                env=self._env, start_new_session=True,
            )  # fmt: skip
        record = PidRecord(pid=process.pid, slot=slot, started_at=time.time(), log=str(log_path))
        runner = _Runner(slot, process, state, record)
        self._runners[slot] = runner
        self._pids.write(record)
        self._spawn_task(self._supervise(runner), f"agent.{slot}")
        self._touch()
        return runner

    async def _supervise(self, runner: _Runner) -> None:
        """Wait for READY (a warm runner becomes idle), then for the exit."""
        process = runner.process
        try:
            if await self._await_ready(process):
                self._failures = 0
                if runner.state == "starting":
                    runner.state = "idle"
                self._touch()
            elif runner.state != "busy":
                self._failures += 1  # the pool backs off: a runner that cannot start
                if process.returncode is None:
                    log.error(
                        "%s: no READY in %.0fs; stopping it", runner.slot, self._ready_timeout
                    )
                    await self._stop(runner)
            returncode = await process.wait()
        finally:
            if self._runners.get(runner.slot) is runner:
                del self._runners[runner.slot]
            self._touch()
        self._pids.remove(process.pid)
        log.info("%s (pid %d, bot %s) exited with %d", runner.slot, process.pid,
                 runner.bot_id, returncode)  # fmt: skip
        self._exited(runner.record, process.pid, returncode)

    async def _await_ready(self, process: asyncio.subprocess.Process) -> bool:
        stdout = process.stdout
        assert stdout is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._ready_timeout):
                while raw := await stdout.readline():
                    if raw.decode(errors="replace").strip() == READY_LINE:
                        return True
        return False

    async def _stop(self, runner: _Runner) -> None:
        """Close stdin (a waiting runner exits 0), then SIGTERM, then SIGKILL."""
        process = runner.process
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if process.returncode is not None:
                break
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._stop_timeout):
                    await process.wait()
        self._pids.remove(process.pid)

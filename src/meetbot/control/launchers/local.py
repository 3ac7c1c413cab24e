"""Runner processes on this machine, with a warm pool (implements :class:`meetbot.ports.Launcher`).

Each runner is ``[*command_prefix, python, "-m", "meetbot.runner"]`` (protocol: the module
docstring of :mod:`meetbot.runner.__main__`). The launcher keeps ``pool_size`` of them WARM
(Chromium up, READY printed), hands one out atomically with :meth:`claim_warm`, and starts a
replacement in the background. :meth:`reserve` holds capacity for a cold start; :meth:`assign`
then starts a ``--cold`` runner (its browser comes up ``warm_lead`` s before ``join_at``) and
writes the assignment to its stdin at once. Every runner process (warm, starting, busy,
adopted) and every reservation counts against ``max_concurrent``; at the cap, a reservation
takes the place of a warm runner no bot has (the ad-hoc pool gives way to scheduled bots).

When a runner with a bot exits, ``on_exit(bot_id, returncode)`` is called (from the event
loop) so the control plane can fail the bot at once if the runner left it unfinished.
``returncode`` is the process's exit status (negative: killed by that signal), or
:data:`EXIT_UNKNOWN` for a runner adopted from a previous control plane.

Runners run in their own session (``start_new_session``), so they survive the control plane.
:meth:`close` stops warm idle runners and leaves busy ones to finish their meetings; their pid
files (``<data_dir>/runners/<pid>.json``) let the next control plane :meth:`adopt` them: while
alive they count against capacity. Logs: ``<data_dir>/runners/logs/<slot>.log`` (stderr).
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from meetbot.contract.assignment import Assignment, dump_assignment
from meetbot.control.launchers.runner_env import runner_environment, settings_environment
from meetbot.control.launchers.warm_pool import PoolState
from meetbot.control.ports import CapacitySnapshot, Slot, Tx
from meetbot.pidfiles import PidDir, PidRecord, runner_alive

if TYPE_CHECKING:
    from meetbot.config import Settings

log = logging.getLogger("meetbot.launcher")

EXIT_UNKNOWN: Final = -1000
"""``returncode`` passed to ``on_exit`` for an adopted runner (not our child)."""
READY_LINE: Final = "READY"
OnExit = Callable[[str, int], object]
State = Literal["starting", "idle", "claimed", "busy"]


class LaunchError(RuntimeError):
    """A runner could not be started or given its assignment."""


@dataclass(slots=True)
class _Runner:
    slot: str
    process: asyncio.subprocess.Process
    state: State
    record: PidRecord
    ready: asyncio.Event
    bot_id: str | None = None


class LocalLauncher:
    def __init__(
        self,
        *,
        data_dir: Path,
        pool_size: int = 2,
        max_concurrent: int = 8,
        on_exit: OnExit | None = None,
        command_prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        ready_timeout: float = 60.0,
        stop_timeout: float = 5.0,
    ) -> None:
        """``command_prefix`` goes before the runner command (e.g. ``ip netns exec NS``);
        ``env`` is added to the few variables of this process's environment a runner gets
        (:func:`runner_environment`)."""
        self.pool_size = pool_size
        self.max_concurrent = max_concurrent
        self.on_exit = on_exit
        self._command = [*command_prefix, python, "-m", "meetbot.runner"]
        self._env = runner_environment(os.environ, env or {})
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._runners_dir = Path(data_dir) / "runners"
        self._pids = PidDir(self._runners_dir)
        self._logs = self._runners_dir / "logs"
        self._runners: dict[str, _Runner] = {}
        self._reserved: set[str] = set()
        self._orphans: dict[int, str | None] = {}
        self._ids = itertools.count(1)
        self._run_id = f"{int(time.time()):x}"
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._giving_way: set[asyncio.Task[None]] = set()
        self._pool_task: asyncio.Task[None] | None = None
        self._closing = False
        self._failures = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        on_exit: OnExit | None = None,
        command_prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> LocalLauncher:
        runner_env = {**settings_environment(settings), **(env or {})}
        return cls(
            data_dir=settings.data_dir,
            pool_size=settings.adhoc_pool_size,
            max_concurrent=settings.max_concurrent_bots,
            on_exit=on_exit,
            command_prefix=command_prefix,
            env=runner_env,
        )

    # --- the Launcher Protocol -----------------------------------------------------------------

    def state(self) -> PoolState:
        counts = {"idle": 0, "starting": 0, "busy": 0}
        for r in self._runners.values():
            counts["busy" if r.state in ("claimed", "busy") else r.state] += 1
        return PoolState(
            pool_size=self.pool_size,
            max_concurrent=self.max_concurrent,
            reserved=len(self._reserved),
            orphans=len(self._orphans),
            **counts,
        )

    def snapshot(self) -> CapacitySnapshot:
        state = self.state()
        return CapacitySnapshot(
            slots=state.max_concurrent,
            busy=state.busy + state.reserved + state.orphans,
            warm_idle=state.idle,
            warm_starting=state.starting,
            warm_target=state.pool_size,
        )

    def pids(self) -> dict[str, int]:
        """Slot id → pid of every runner process this launcher started and still watches."""
        return {slot: r.process.pid for slot, r in self._runners.items()}

    async def claim_warm(self, tx: Tx | None = None) -> Slot | None:
        idle = [r for r in self._runners.values() if r.state == "idle"]
        for runner in idle:
            if runner.process.returncode is None:
                runner.state = "claimed"
                self._changed.set()
                return Slot(id=runner.slot, warm=True)
        return None

    async def reserve(self, tx: Tx | None = None) -> Slot | None:
        """Capacity for a cold start. At the cap, a warm runner of the ad-hoc pool that no bot
        has (one still starting first, else an idle one) gives way: it is stopped and the
        reservation takes its place; the pool refills when capacity frees again."""
        if self._closing:
            return None
        if not self.state().can_reserve and not self._give_way():
            return None
        slot = Slot(id=f"reservation-{self._run_id}-{next(self._ids)}", warm=False)
        self._reserved.add(slot.id)
        return slot

    def _give_way(self) -> bool:
        spare = [r for r in self._runners.values() if r.state in ("starting", "idle")]
        if not spare:
            return False
        runner = min(spare, key=lambda r: r.state != "starting")  # starting ones first
        del self._runners[runner.slot]  # no longer counted (it exits within stop_timeout)
        log.info("%s (pid %d) gives way to a reservation", runner.slot, runner.process.pid)
        task = asyncio.create_task(self._stop(runner), name=f"launcher.give-way.{runner.slot}")
        self._giving_way.add(task)
        task.add_done_callback(self._giving_way.discard)
        return True

    async def queue(self, tx: Tx, slot: Slot, assignment: Assignment) -> None:
        """Nothing to record: the runner gets its bot in :meth:`assign`."""

    async def release(self, slot: Slot) -> None:
        self._reserved.discard(slot.id)
        runner = self._runners.get(slot.id)
        if runner is not None and runner.state == "claimed":
            runner.state = "idle"
        self._changed.set()

    async def assign(self, slot: Slot, assignment: Assignment) -> None:
        line = (dump_assignment(assignment) + "\n").encode()
        runner = self._runners.get(slot.id) if slot.warm else None
        if runner is None or runner.state != "claimed" or runner.process.returncode is not None:
            if slot.warm:
                log.warning("warm runner %s is gone; starting a cold one", slot.id)
            try:  # the reservation counts until its runner does (the pool must not fill it)
                runner = await self._spawn(cold=True, state="busy")
            finally:
                self._reserved.discard(slot.id)
        runner.state = "busy"
        self._supersede(assignment.bot_id)
        runner.bot_id = assignment.bot_id
        self._save(runner, bot_id=assignment.bot_id)
        stdin = runner.process.stdin
        if stdin is None:  # pragma: no cover - PIPE was asked
            raise LaunchError("runner started without stdin")
        try:
            stdin.write(line)
            await stdin.drain()
            stdin.close()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise LaunchError(f"runner {runner.slot} died before its assignment") from exc
        log.info("bot %s → runner %s (pid %d)", assignment.bot_id, runner.slot, runner.process.pid)
        self._changed.set()

    async def start(self) -> None:
        """Adopt runners left by a previous control plane, then fill the pool."""
        self._closing = False
        self.adopt()
        self._pool_task = asyncio.create_task(self._keep_pool(), name="launcher.pool")

    async def close(self) -> None:
        """Stop warm idle (and starting, and claimed-but-unassigned) runners; busy runners
        finish their meetings on their own and stay in the pid files for the next adopt."""
        self._closing = True
        if self._pool_task is not None:
            self._pool_task.cancel()
            await asyncio.gather(self._pool_task, return_exceptions=True)
        spare = [r for r in self._runners.values() if r.state != "busy"]
        await asyncio.gather(*(self._stop(r) for r in spare))
        await asyncio.gather(*self._giving_way, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- adoption ------------------------------------------------------------------------------

    def adopt(self) -> int:
        """Count live busy runners of a previous control plane; drop the rest. Returns how many."""
        mine = {r.process.pid for r in self._runners.values()}
        for record in self._pids.records():
            if record.pid in mine or record.pid in self._orphans:
                continue
            if not runner_alive(record.pid):
                self._pids.remove(record.pid)
            elif record.bot_id is None:
                # A warm runner whose launcher died: it cannot be given work any more.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGTERM)
                self._pids.remove(record.pid)
            else:
                log.info("adopted runner pid %d (bot %s)", record.pid, record.bot_id)
                self._orphans[record.pid] = record.bot_id
        return len(self._orphans)

    def _check_orphans(self) -> None:
        for pid, bot_id in list(self._orphans.items()):
            if not runner_alive(pid):
                del self._orphans[pid]
                self._pids.remove(pid)
                self._changed.set()
                if bot_id is not None:
                    self._notify_exit(bot_id, EXIT_UNKNOWN)

    # --- processes -----------------------------------------------------------------------------

    async def _keep_pool(self) -> None:
        while not self._closing:
            self._check_orphans()
            wanted = self.state().to_start
            if wanted and self._failures:
                delay = min(60.0, 0.5 * 2**self._failures)
                log.warning("runners keep failing; next start in %.1f s", delay)
                await asyncio.sleep(delay)
                wanted = self.state().to_start
            for _ in range(wanted):
                try:
                    await self._spawn(cold=False, state="starting")
                except LaunchError as exc:
                    log.error("%s", exc)
                    self._failures += 1
                    break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._changed.wait()

    async def _spawn(self, *, cold: bool, state: State) -> _Runner:
        slot = f"runner-{self._run_id}-{next(self._ids)}"
        self._logs.mkdir(parents=True, exist_ok=True)
        log_path = self._logs / f"{slot}.log"
        command = [*self._command, *(["--cold"] if cold else [])]
        try:
            with log_path.open("ab") as stderr:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=stderr,
                    env=self._env,
                    start_new_session=True,
                )
        except OSError as exc:
            raise LaunchError(f"cannot start a runner ({command[0]}): {exc}") from exc
        record = PidRecord(pid=process.pid, slot=slot, started_at=time.time(), log=str(log_path))
        runner = _Runner(slot, process, state, record, asyncio.Event())
        self._runners[slot] = runner
        self._save(runner)
        task = asyncio.create_task(self._supervise(runner), name=f"launcher.{slot}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return runner

    async def _supervise(self, runner: _Runner) -> None:
        """Wait for READY (a warm runner becomes idle), then for the exit."""
        process, started = runner.process, time.monotonic()
        try:
            if await self._await_ready(runner):
                runner.ready.set()
                self._failures = 0
                log.debug("%s READY in %.2f s", runner.slot, time.monotonic() - started)
                if runner.state == "starting":
                    runner.state = "idle"
                self._changed.set()
            elif self._runners.get(runner.slot) is not runner:
                pass  # it gave way to a reservation (_give_way): stopped on purpose
            elif process.returncode is None:
                log.error("%s: no READY in %.0f s; killing it", runner.slot, self._ready_timeout)
                self._failures += 1
                await self._stop(runner)
            else:
                self._failures += 1
            returncode = await process.wait()
        finally:  # also when close() cancels us: a busy runner keeps running, and its pid file
            if self._runners.get(runner.slot) is runner:
                del self._runners[runner.slot]
            self._changed.set()
        self._pids.remove(process.pid)
        log.info("%s (pid %d) exited with %d", runner.slot, process.pid, returncode)
        if runner.bot_id is not None:
            self._notify_exit(runner.bot_id, returncode)

    async def _await_ready(self, runner: _Runner) -> bool:
        stdout = runner.process.stdout
        if stdout is None:  # pragma: no cover
            return False
        deadline = time.monotonic() + self._ready_timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    raw = await stdout.readline()
            except TimeoutError:
                return False
            if not raw:
                return False
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

    def _supersede(self, bot_id: str) -> None:
        """The bot gets a new runner (a retry after ``bot_detected``, or a dispatch after its
        ``join_at`` moved): an earlier runner's exit no longer says anything about it."""
        for runner in self._runners.values():
            if runner.bot_id == bot_id:
                runner.bot_id = None
        for pid, orphan_bot in self._orphans.items():
            if orphan_bot == bot_id:
                self._orphans[pid] = None

    def _save(self, runner: _Runner, *, bot_id: str | None = None) -> None:
        if bot_id is not None:
            runner.record = replace(runner.record, bot_id=bot_id)
        self._pids.write(runner.record)

    def _notify_exit(self, bot_id: str, returncode: int) -> None:
        if self.on_exit is None:
            return
        try:
            self.on_exit(bot_id, returncode)
        except Exception:
            log.exception("on_exit callback failed for bot %s", bot_id)

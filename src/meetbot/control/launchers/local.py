"""``MEETBOT_LAUNCHER=local`` (the single-machine default): the fleet's code with one agent in
this process, so there is one path, not two.

:class:`LocalLauncher` is the :class:`~meetbot.control.launchers.fleet.FleetLauncher` (a claim is
a conditional update of an agent's row in the dispatching transaction, the assignment is sealed
on the hand-off row) plus the real :class:`meetbot.agent.agent.Agent` with a
:class:`~meetbot.agent.processes.ProcessHost`, run as a task of ``meetbot serve``. The agent talks
to the control plane through the agent protocol's two calls (heartbeat, long poll), in
process: :class:`meetbot.control.service.local_agent.InProcessChannel` calls the same use cases
as ``/internal/agents/*``. Its row is created at start, named ``local``; its token is derived
from the server secret, the host name and the data directory (:func:`local_agent_token`), so a
restarted server is the same agent and adopts the runners its predecessor left.

``MEETBOT_MAX_CONCURRENT_BOTS`` is the agent's slots, ``MEETBOT_ADHOC_POOL_SIZE`` its warm
browsers. The host's pid files stay in ``<data_dir>/runners/``. A runner that exits with its bot
unfinished fails the bot at once (``on_exit``); :meth:`LocalLauncher.close` stops the agent
without a drain: warm runners are stopped, busy ones go on and are adopted by the next server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from meetbot.agent.agent import Agent, AgentOptions
from meetbot.agent.control_client import ControlChannel
from meetbot.agent.processes import EXIT_UNKNOWN, OnExit, ProcessHost
from meetbot.config import Settings
from meetbot.control.launchers.fleet import FleetLauncher
from meetbot.control.launchers.runner_env import settings_environment
from meetbot.control.launchers.warm_pool import PoolState
from meetbot.control.ports import CapacitySnapshot, Store
from meetbot.crypto import SecretBox
from meetbot.ports import Clock

__all__ = ["EXIT_UNKNOWN", "LOCAL_AGENT_NAME", "LocalChannel", "LocalLauncher", "local_agent_token"]

log = logging.getLogger("meetbot.launcher")

LOCAL_AGENT_NAME = "local"
REGISTER_TIMEOUT = 10.0
"""Seconds :meth:`LocalLauncher.start` waits for the agent's first heartbeat."""


class LocalChannel(ControlChannel, Protocol):
    async def register(self) -> None:
        """Create the agent's row if there is none."""
        ...


def local_agent_token(secret: bytes, data_dir: Path) -> str:
    """The token of ``meetbot serve``'s own agent: the same across restarts of one server (its
    runners' pid files are in its data directory), distinct per host and data directory."""
    where = f"meetbot-local-agent:{socket.gethostname()}:{Path(data_dir).resolve()}"
    return "mba_" + hmac.new(secret, where.encode(), hashlib.sha256).hexdigest()


class LocalLauncher(FleetLauncher):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        box: SecretBox,
        wake: Callable[[str], None],
        *,
        on_exit: OnExit | None = None,
        command_prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        stop_timeout: float = 5.0,
    ) -> None:
        """``command_prefix`` goes before the runner command (e.g. ``ip netns exec NS``);
        ``env`` is added to what a runner gets (the runner settings of ``settings`` and the
        allow-list of this process's environment)."""
        super().__init__(settings, store, clock, box, wake)
        slots = settings.max_concurrent_bots
        self.host = ProcessHost(
            data_dir=settings.data_dir, runners_dir=Path(settings.data_dir) / "runners",
            servers=(), slots=slots, warm=min(settings.adhoc_pool_size, slots),
            command_prefix=command_prefix, python=python, stop_timeout=stop_timeout,
            env={**settings_environment(settings), **(env or {})}, on_exit=on_exit,
        )  # fmt: skip
        self.options = AgentOptions(name=LOCAL_AGENT_NAME, slots=slots, warm=self.host.warm)
        self.agent: Agent | None = None
        self._channel: LocalChannel | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[int] | None = None

    @property
    def on_exit(self) -> OnExit | None:
        return self.host.on_exit

    def attach(self, channel: LocalChannel) -> None:
        """The in-process channel to the use cases (built once the services exist)."""
        self._channel = channel

    async def start(self) -> None:
        """Create the agent's row, start the agent (it adopts the runners a previous server
        left and fills the warm pool), and wait for its first heartbeat."""
        if self._channel is None:
            raise RuntimeError("LocalLauncher.start: attach() its channel first")
        await self._channel.register()
        self._stop = asyncio.Event()
        self.agent = Agent(self._channel, self.host, self.options)
        self._task = asyncio.create_task(self.agent.run(self._stop, drain=False), name="agent")
        registered = asyncio.ensure_future(self.agent.registered.wait())
        await asyncio.wait({registered, self._task}, timeout=REGISTER_TIMEOUT,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        registered.cancel()
        if self._task.done():
            log.error("the local agent stopped at once (exit %s)", self._task.result())
        elif not self.agent.registered.is_set():
            log.warning("the local agent is not registered yet; it keeps trying")

    async def close(self) -> None:
        """Stop the agent without a drain: warm runners stop, busy ones go on."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        await super().close()

    # --- what this process can say without I/O ------------------------------------------------

    def state(self) -> PoolState:
        host = self.host
        return PoolState(
            pool_size=host.warm, max_concurrent=host.slots, idle=host.warm_idle(),
            starting=host.starting(), busy=host.busy() - host.adopted(),
            orphans=host.adopted(),
        )  # fmt: skip

    def snapshot(self) -> CapacitySnapshot:
        state = self.state()
        return CapacitySnapshot(
            slots=state.max_concurrent,
            busy=state.busy + state.orphans,
            warm_idle=state.idle,
            warm_starting=state.starting,
            warm_target=state.pool_size,
        )

    def pids(self) -> dict[str, int]:
        """Slot → pid of every runner process the host started and still watches."""
        return self.host.pids()

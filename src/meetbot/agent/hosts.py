"""What runs the agent's bots: the boundary between the agent's loops and its runners.

Two drivers: :class:`meetbot.agent.processes.ProcessHost` (a runner process per bot, warm ones
kept ready) and :class:`meetbot.agent.simulated.SimulatedHost` (``--simulate``: each bot a task
in the agent's process). :mod:`meetbot.agent.command` picks one.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from meetbot.contract.agent_protocol import RunnerExit
from meetbot.contract.assignment import Assignment


class RunnerHost(Protocol):
    changed: asyncio.Event
    """Set whenever a count changes (a runner became warm, a bot ended): worth a heartbeat."""

    def warm_idle(self) -> int:
        """Warm runners no bot has."""
        ...

    def busy(self) -> int:
        """Runners with a bot (adopted ones included)."""
        ...

    def bots(self) -> list[str]:
        """The ids of the bots whose runners are alive here."""
        ...

    def take_exits(self) -> list[RunnerExit]:
        """The runners with a bot that ended since the last call (each reported once here)."""
        ...

    def runs(self, bot_id: str, token: str) -> bool:
        """Does a live runner here have this bot with this token (adopted ones included)?"""
        ...

    async def start(self) -> None:
        """Adopt the runners a previous agent left, then keep the warm pool filled."""
        ...

    def take(self, assignment: Assignment, *, warm: bool) -> None:
        """Give the bot a runner: an idle warm one when there is one (claimed at once, before
        this returns, so the warm count a heartbeat reports is exact; a host may keep cold
        hand-offs off its warm runners), else a cold one.
        Starting it goes on in the background; a failure is logged (the control plane's
        runner heartbeat then ends the bot)."""
        ...

    async def stop_warm(self) -> None:
        """Drain: start no more warm runners and stop the idle ones."""
        ...

    def leave_all(self) -> None:
        """Make every runner with a bot leave now (SIGTERM: sub_code ``host_shutdown``)."""
        ...

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no runner has a bot; ``False`` after ``timeout`` seconds."""
        ...

    async def close(self) -> None:
        """Stop what is left (runners still busy after the drain are killed)."""
        ...

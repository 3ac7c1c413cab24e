"""``meetbot agent --simulate``: each bot a task in the agent's process (no Chromium).

The task runs the REAL runner session (:class:`meetbot.runner.session.Session`) with the real
report channel (:class:`meetbot.runner.reporter.Reporter` over HTTP, failing over between the
agent's ``--server`` URLs) and real media storage; only the browser and the meeting page are
simulated (:mod:`meetbot.agent.simulated_meeting`): the bot joins at ``join_at``, waits in a
lobby for a moment, is admitted, sees two participants, stays ``call_seconds``
(``MEETBOT_SIMULATED_CALL_SECONDS``, default 60) and then the meeting ends. One process hosts
hundreds of bots, for scale and chaos tests. Warm browsers cost nothing here: ``warm`` of them
are always idle while slots are free.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from meetbot.agent.simulated_meeting import SimulatedBrowser, SimulatedMeeting
from meetbot.clock import SystemClock
from meetbot.contract.agent_protocol import RunnerExit
from meetbot.contract.assignment import Assignment
from meetbot.pidfiles import token_digest
from meetbot.ports import Storage
from meetbot.runner.reporter import Reporter
from meetbot.runner.session import HOST_SHUTDOWN, Session
from meetbot.runner.session_ports import SessionConfig
from meetbot.runner.uploads import UploadStorage
from meetbot.storage import storage_from_descriptor

log = logging.getLogger("meetbot.agent.simulated")


@dataclass(slots=True)
class _Bot:
    task: asyncio.Task[None]
    token: str
    session: Session | None = None


class SimulatedHost:
    def __init__(
        self,
        *,
        servers: Sequence[str],
        slots: int,
        warm: int,
        call_seconds: float = 60.0,
        warm_lead: float = 20.0,
        lobby_seconds: float = 0.3,
        client: httpx.AsyncClient | None = None,
        config: SessionConfig | None = None,
    ) -> None:
        """``client``: the HTTP client of every bot's reports (default: one without a
        connection cap, since each bot long-polls for commands, that keeps a connection per
        bot and channel open: with fewer kept than the bots use at once, every request beyond
        them opened a new connection, and at 100 bots per agent the server's accept queue
        filled up and runners timed out connecting)."""
        self.slots = slots
        self.warm = warm
        self.changed = asyncio.Event()
        self._servers = list(servers)
        self._call_seconds = call_seconds
        self._lobby_seconds = lobby_seconds
        self._config = config or SessionConfig(warm_lead=warm_lead)
        self._bots: dict[str, _Bot] = {}
        self._exits: list[RunnerExit] = []
        self._filling = True
        self._clock = SystemClock()
        self._client = client or httpx.AsyncClient(
            trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=3 * slots + 10),
        )

    def warm_idle(self) -> int:
        return max(0, min(self.warm, self.slots - len(self._bots))) if self._filling else 0

    def busy(self) -> int:
        return len(self._bots)

    def bots(self) -> list[str]:
        return sorted(self._bots)

    def take_exits(self) -> list[RunnerExit]:
        exits, self._exits = self._exits, []
        return exits

    def runs(self, bot_id: str, token: str) -> bool:
        bot = self._bots.get(bot_id)
        return bot is not None and bot.token == token

    async def start(self) -> None:
        self.changed.set()

    def take(self, assignment: Assignment, *, warm: bool) -> None:
        bot_id = assignment.bot_id
        old = self._bots.get(bot_id)
        if old is not None and old.session is not None:  # a new dispatch supersedes it
            old.session.request_leave()
        task = asyncio.create_task(self._run(assignment, warm), name=f"sim.{bot_id}")
        bot = _Bot(task, assignment.token)
        self._bots[bot_id] = bot
        bot.task.add_done_callback(lambda _t: self._ended(bot_id, bot))
        self.changed.set()

    def _ended(self, bot_id: str, bot: _Bot) -> None:
        if self._bots.get(bot_id) is bot:
            del self._bots[bot_id]
            failed = bot.task.cancelled() or bot.task.exception() is not None
            self._exits.append(
                RunnerExit(bot_id=bot_id, token_sha=token_digest(bot.token), returncode=int(failed))
            )
        self.changed.set()

    async def _run(self, assignment: Assignment, warm: bool) -> None:
        started = time.monotonic()
        reporter = Reporter.for_assignment(self._client, assignment, self._servers)
        try:
            storage: Storage = (
                UploadStorage.for_assignment(self._client, assignment)
                if assignment.storage.get("kind") == "upload"  # runners hold no storage keys
                else storage_from_descriptor(assignment.storage)
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.error("bot %s: no storage: %s", assignment.bot_id, exc)
            return

        async def launch() -> SimulatedBrowser:
            return SimulatedBrowser()

        session = Session(
            assignment,
            SimulatedMeeting(self._call_seconds, self._lobby_seconds),
            reporter,
            storage,
            self._clock,
            launch=launch,
            browser=SimulatedBrowser() if warm else None,
            config=self._config,
        )
        self._bots[assignment.bot_id].session = session
        try:
            code = await session.run()
        except Exception:
            log.exception("bot %s: simulated session failed", assignment.bot_id)
            return
        log.info("bot %s ended (%d) after %.1f s", assignment.bot_id, code,
                 time.monotonic() - started)  # fmt: skip

    async def stop_warm(self) -> None:
        self._filling = False
        self.changed.set()

    def leave_all(self) -> None:
        for bot in self._bots.values():
            if bot.session is not None:
                bot.session.request_leave(HOST_SHUTDOWN)

    async def wait_idle(self, timeout: float) -> bool:
        tasks = [b.task for b in self._bots.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return not self._bots

    async def close(self) -> None:
        self._filling = False
        tasks = [b.task for b in self._bots.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

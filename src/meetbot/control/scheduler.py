"""The control plane's periodic work, as named tasks with one stop event and a graceful drain.

- dispatch: scheduled bots → runners at ``join_at - dispatch_lead``;
- reaper: dispatched bots whose runner went silent end ``failed``/``bot_process_lost``;
- agents (``MEETBOT_LAUNCHER=fleet`` or ``local``): the live agents' slots are read for
  reservations, and the ``booting`` bots of lost or revoked agents go to others
  (:func:`meetbot.control.service.agents.tend_fleet`);
- janitor: expired idempotency keys and long-expired leases are purged, and finished webhook
  deliveries older than ``webhook_delivery_retention`` are deleted (in batches, one short
  transaction each).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from meetbot.control.service import Services
from meetbot.control.service.agents import prune_agents, tend_fleet
from meetbot.control.service.dispatch import dispatch_due
from meetbot.control.service.housekeeping import PRUNE_BATCH, prune_deliveries, purge_expired
from meetbot.control.service.lost_runners import reap_silent_runners
from meetbot.errors import StoreUnavailable

log = logging.getLogger("meetbot.control.scheduler")


@dataclass(frozen=True, slots=True)
class Periodic:
    name: str
    interval: float
    step: Callable[[], Awaitable[object]]


class Scheduler:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.prune_batch = PRUNE_BATCH
        s = services.settings
        self.jobs: tuple[Periodic, ...] = (
            Periodic("dispatch", s.scheduler_interval, lambda: dispatch_due(services)),
            Periodic(
                "reaper", min(5.0, s.heartbeat_timeout / 3), lambda: reap_silent_runners(services)
            ),
            Periodic("janitor", 3600.0, self.tidy),
        )
        if s.launcher in ("fleet", "local"):  # local: one agent in this process
            self.jobs += (Periodic("agents", 1.0, lambda: tend_fleet(services)),)
        if s.launcher == "fleet":  # agents sharing a token come and go (a Deployment's pods)
            self.jobs += (Periodic("agent_rows", 60.0, lambda: prune_agents(services)),)

    async def tidy(self) -> int:
        """The janitor's pass (:mod:`meetbot.control.service.housekeeping`): how many rows it
        deleted."""
        svc = self.services
        return await purge_expired(svc) + await prune_deliveries(svc, self.prune_batch)

    async def _loop(self, job: Periodic) -> None:
        while not self._stop.is_set():
            try:
                await job.step()
            except StoreUnavailable as exc:  # an outage, not a bug: no traceback every turn
                log.warning("%s: %s; retrying in %.2fs", job.name, exc.detail, job.interval)
            except Exception:
                log.exception("%s failed; retrying in %.2fs", job.name, job.interval)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(job.interval):
                    await self._stop.wait()

    async def start(self) -> None:
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self._loop(job), name=f"scheduler:{job.name}") for job in self.jobs
        ]

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

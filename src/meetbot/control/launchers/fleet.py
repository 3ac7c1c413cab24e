"""``MEETBOT_LAUNCHER=fleet``: this server starts no runner; agents on runner hosts do.

A claim is a conditional update of one agent's row in the dispatching transaction
(:meth:`meetbot.control.agent_repo.AgentRepo.claim`); :meth:`FleetLauncher.queue` stores the
runner's assignment, sealed, on the hand-off row in that same transaction, so a bot is
``booting`` exactly when its hand-off exists. After the commit, :meth:`FleetLauncher.assign`
wakes this process's long polls of that agent (another replica's polls read the row within
:data:`meetbot.control.service.agent_polls.POLL_STEP`).

Capacity for reservations: :class:`meetbot.control.agents.FleetCapacity`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence

from meetbot.config import Settings
from meetbot.contract.assignment import Assignment, dump_assignment
from meetbot.control.agents import HANDOFF_CONTEXT, live_since
from meetbot.control.ports import CapacitySnapshot, Slot, Store, Tx
from meetbot.crypto import SecretBox
from meetbot.ports import Clock

log = logging.getLogger("meetbot.control.launchers.fleet")

SNAPSHOT_EVERY = 2.0
"""Seconds between two reads of the agents for ``/metrics``."""


def wake_key(agent_id: str) -> str:
    """The :class:`~meetbot.control.service.core.CommandBus` entry an agent's long polls
    wait on."""
    return f"agent:{agent_id}"


class FleetLauncher:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        box: SecretBox,
        wake: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.box = box
        self.wake = wake
        self._agents: dict[str, str] = {}
        """Hand-off id → agent id, for the slots this process claimed and has not assigned."""
        self._snapshot = CapacitySnapshot(slots=0, busy=0, warm_idle=0)
        self._refresher: asyncio.Task[None] | None = None

    async def claim_warm(self, tx: Tx) -> Slot | None:
        return await self._claim(tx, warm=True)

    async def reserve(self, tx: Tx) -> Slot | None:
        return await self._claim(tx, warm=False)

    async def _claim(self, tx: Tx, *, warm: bool) -> Slot | None:
        now = self.clock.now()
        since = live_since(now, self.settings.agent_timeout)
        # Claims lock agents' rows, several in one dispatch batch, in an order their free
        # counts decide: under the schedule lock first (the capacity checks take it anyway),
        # two replicas never lock two agents in opposite orders (no deadlock).
        await tx.bots.lock_schedule()
        row = await tx.agents.claim(str(uuid.uuid4()), warm=warm, live_since=since, at=now)
        if row is None:
            return None
        self._agents[row.id] = row.agent_id
        return Slot(id=row.id, warm=warm)

    async def claim_many(self, tx: Tx, count: int) -> list[Slot]:
        now = self.clock.now()
        await tx.bots.lock_schedule()
        ids = [str(uuid.uuid4()) for _ in range(count)]
        rows = await tx.agents.claim_many(
            ids, live_since=live_since(now, self.settings.agent_timeout), at=now
        )
        for row in rows:
            self._agents[row.id] = row.agent_id
        return [Slot(id=row.id, warm=row.warm) for row in rows]

    async def queue_many(self, tx: Tx, items: Sequence[tuple[Slot, Assignment]]) -> None:
        await tx.agents.queue_many(
            [(slot.id, a.bot_id, seal_assignment(self.box, slot.id, a)) for slot, a in items]
        )

    async def queue(self, tx: Tx, slot: Slot, assignment: Assignment) -> None:
        sealed = seal_assignment(self.box, slot.id, assignment)
        await tx.agents.queue(slot.id, assignment.bot_id, sealed)

    async def release(self, slot: Slot) -> None:
        self._agents.pop(slot.id, None)
        async with self.store.transaction() as tx:
            await tx.agents.release(slot.id)  # nothing if the claim was rolled back

    async def assign(self, slot: Slot, assignment: Assignment) -> None:
        agent_id = self._agents.pop(slot.id, None)
        if agent_id is not None:
            self.wake(wake_key(agent_id))

    def snapshot(self) -> CapacitySnapshot:
        """The live agents as last read (every :data:`SNAPSHOT_EVERY` seconds, by
        :meth:`start`'s task): no I/O at a ``/metrics`` scrape."""
        return self._snapshot

    async def refresh_snapshot(self) -> CapacitySnapshot:
        """Read the agents once: the sum over live agents."""
        now = self.clock.now()
        async with self.store.transaction(write=False) as tx:
            agents = await tx.agents.list_agents()
        states = [a.state(now, self.settings.agent_timeout) for a in agents]
        live = [a for a, state in zip(agents, states, strict=True) if state == "live"]
        self._snapshot = CapacitySnapshot(
            agents={s: states.count(s) for s in ("live", "draining", "lost", "revoked")},
            slots=sum(a.slots for a in live),
            busy=sum(a.busy + a.in_flight for a in live),
            warm_idle=sum(max(a.offered, 0) for a in live),
            warm_target=sum(a.warm_idle for a in live),
        )
        return self._snapshot

    async def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh(), name="fleet-snapshot")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None

    async def _refresh(self) -> None:
        while True:
            try:
                await self.refresh_snapshot()
            except Exception as exc:  # the database is down: keep the last figures
                log.warning("fleet: reading the agents for /metrics failed: %s", exc)
            await asyncio.sleep(SNAPSHOT_EVERY)


def seal_assignment(box: SecretBox, handoff_id: str, assignment: Assignment) -> str:
    """The assignment as stored on its hand-off row: it holds a runner token and may hold
    credentials, so it is sealed, bound to the hand-off."""
    data = json.loads(dump_assignment(assignment))
    return box.seal_json(data, f"{HANDOFF_CONTEXT}:{handoff_id}")


def open_assignment(box: SecretBox, handoff_id: str, sealed: str) -> dict[str, object]:
    return box.open_json(sealed, f"{HANDOFF_CONTEXT}:{handoff_id}")

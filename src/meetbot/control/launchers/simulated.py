"""A launcher that starts no runner: capacity is counted, assignments are only recorded.

``MEETBOT_LAUNCHER=fake`` serves the API with it (API-only deployments, benchmarks and tests
that need no browser); tests drive it as :class:`meetbot.testing.fakes.FakeLauncher`, the same
class: :meth:`refill` and :meth:`finish` stand in for runners starting and exiting.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from meetbot.contract.assignment import Assignment
from meetbot.control.ports import CapacitySnapshot, Slot, Tx


@dataclass
class SimulatedLauncher:
    """A launcher with ``pool_size`` warm slots that refill only when :meth:`refill` is called
    (or at once with ``auto_refill``), capped at ``max_concurrent`` slots in use."""

    pool_size: int = 2
    max_concurrent: int = 8
    auto_refill: bool = False
    assignments: list[tuple[Slot, Assignment]] = field(default_factory=list)
    released: list[Slot] = field(default_factory=list)
    given_way: int = 0
    """Idle warm slots stopped to make room for a reservation."""
    _idle: int = field(init=False, default=0)
    _busy: set[str] = field(init=False, default_factory=set)
    _ids: itertools.count[int] = field(init=False, default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.refill()

    def refill(self) -> None:
        room = self.max_concurrent - len(self._busy)
        self._idle = max(0, min(self.pool_size, room))

    def snapshot(self) -> CapacitySnapshot:
        return CapacitySnapshot(
            slots=self.max_concurrent,
            busy=len(self._busy),
            warm_idle=self._idle,
            warm_target=self.pool_size,
        )

    def _take(self, warm: bool) -> Slot:
        slot = Slot(id=f"slot-{next(self._ids)}", warm=warm)
        self._busy.add(slot.id)
        if self.auto_refill:
            self.refill()
        return slot

    async def claim_warm(self, tx: Tx | None = None) -> Slot | None:
        if self._idle == 0:
            return None
        self._idle -= 1
        return self._take(warm=True)

    async def reserve(self, tx: Tx | None = None) -> Slot | None:
        """At the cap, an idle warm slot gives way (as the local launcher's pool does)."""
        if len(self._busy) + self._idle >= self.max_concurrent:
            if self._idle == 0:
                return None
            self._idle -= 1
            self.given_way += 1
        return self._take(warm=False)

    async def claim_many(self, tx: Tx, count: int) -> list[Slot]:
        slots = []
        for _ in range(count):
            slot = await self.claim_warm(tx) or await self.reserve(tx)
            if slot is None:
                break
            slots.append(slot)
        return slots

    async def queue_many(self, tx: Tx, items: Sequence[tuple[Slot, Assignment]]) -> None:
        """Nothing to record (see :meth:`queue`)."""

    async def queue(self, tx: Tx, slot: Slot, assignment: Assignment) -> None:
        """Nothing to record: the runner gets its bot in :meth:`assign`."""

    async def release(self, slot: Slot) -> None:
        self.released.append(slot)
        self._busy.discard(slot.id)

    def finish(self, bot_id: str) -> None:
        """The runner of ``bot_id`` exited: its capacity is free again."""
        for slot, assignment in self.assignments:
            if assignment.bot_id == bot_id:
                self._busy.discard(slot.id)

    async def assign(self, slot: Slot, assignment: Assignment) -> None:
        self.assignments.append((slot, assignment))

    def assigned(self, bot_id: str) -> Assignment | None:
        found = [a for _, a in self.assignments if a.bot_id == bot_id]
        return found[-1] if found else None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @property
    def idle(self) -> int:
        return self._idle

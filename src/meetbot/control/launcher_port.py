"""The launcher's boundary: what runs bots (:class:`Launcher`), the capacity it hands out
(:class:`Slot`) and what it holds now (:class:`CapacitySnapshot`).

Drivers: ``launchers/fleet.py`` (agents' rows) and ``launchers/local.py`` (one agent in the
server's process); the fake: :class:`meetbot.testing.fakes.FakeLauncher`. Re-exported by
:mod:`meetbot.control.ports`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from meetbot.contract.assignment import Assignment

if TYPE_CHECKING:
    from meetbot.control.ports import Tx


@dataclass(frozen=True, slots=True)
class Slot:
    """Capacity for one bot: a warm runner (``warm``) or a reservation for a cold start."""

    id: str
    warm: bool


@dataclass(frozen=True, slots=True)
class CapacitySnapshot:
    """What a launcher holds right now, for ``/metrics`` (a fleet: the sum over live agents)."""

    slots: int
    """Bots that can run at once."""
    busy: int
    """Slots running or reserved for a bot."""
    warm_idle: int
    """Warm runners ready for an ad-hoc bot."""
    warm_starting: int = 0
    """Warm runners launched, not ready yet."""
    warm_target: int = 0
    """The warm pool's size (what the launcher refills to; a fleet: its agents' idle warm
    browsers)."""
    agents: Mapping[str, int] = field(default_factory=dict)
    """A fleet's agents by state (``live``, ``draining``, ``lost``, ``revoked``); empty for a
    single machine."""


class Launcher(Protocol):
    """Claims happen inside the transaction that dispatches the bot (``tx``: a fleet records
    them in the database; a local launcher ignores it); runners start after it commits."""

    def snapshot(self) -> CapacitySnapshot:
        """Slots, busy, warm idle: cheap, no I/O (read at each ``/metrics`` scrape; a fleet
        launcher answers from its last read of the agents)."""
        ...

    async def claim_warm(self, tx: Tx) -> Slot | None:
        """Atomically take an idle warm runner, or ``None`` if none is idle."""
        ...

    async def reserve(self, tx: Tx) -> Slot | None:
        """Hold capacity for a bot without a warm runner; at the concurrency cap a warm runner
        of the ad-hoc pool that no bot has gives way; ``None`` when none can."""
        ...

    async def claim_many(self, tx: Tx, count: int) -> list[Slot]:
        """Up to ``count`` slots, each a warm runner while one is idle, else capacity for a cold
        start (the dispatcher's batch: a fleet claims them all in a few statements); fewer
        at the cap."""
        ...

    async def queue_many(self, tx: Tx, items: Sequence[tuple[Slot, Assignment]]) -> None:
        """:meth:`queue` for several slots, in the same transaction."""
        ...

    async def queue(self, tx: Tx, slot: Slot, assignment: Assignment) -> None:
        """In the dispatching transaction: record that ``slot`` gets this bot (a fleet's
        hand-off row); nothing for a local launcher."""
        ...

    async def release(self, slot: Slot) -> None:
        """Give back a slot that was claimed but will not be used (also after the claiming
        transaction rolled back)."""
        ...

    async def assign(self, slot: Slot, assignment: Assignment) -> None:
        """Hand the bot to the slot's runner (starting one for a reservation), after commit."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

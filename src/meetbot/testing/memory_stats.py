"""The in-memory :class:`~meetbot.control.ports.StatsRepo`: the SQL one's counts over a dict."""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from meetbot.contract.lifecycle import ENDED, Status
from meetbot.control.webhooks.models import OPEN_STATUSES
from meetbot.testing.memory_state import MemoryRepo


@dataclass(frozen=True, slots=True)
class MemoryStatsRepo(MemoryRepo):
    async def active_bots_by_status(self) -> dict[Status, int]:
        counts = Counter(b.status for b in self.state.bots.values() if b.status not in ENDED)
        return dict(counts)

    async def scheduled_before(self, cutoffs: Sequence[datetime]) -> builtins.list[int]:
        joins = [
            b.join_at
            for b in self.state.bots.values()
            if b.status is Status.SCHEDULED and b.join_at is not None
        ]
        return [sum(1 for j in joins if j < cutoff) for cutoff in cutoffs]

    async def due_deliveries(self, now: datetime) -> int:
        return sum(
            1
            for d in self.state.webhooks.deliveries.values()
            if d.status in OPEN_STATUSES
            and d.next_attempt_at is not None
            and d.next_attempt_at <= now
        )

    async def ping(self) -> None:
        return None

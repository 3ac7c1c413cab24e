"""The counts ``/metrics`` shows, in :class:`~meetbot.testing.memory_store.MemoryStore`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from meetbot.contract.lifecycle import Status
from meetbot.testing.memory_state import MemoryRepo
from meetbot.timefmt import utc


@dataclass(frozen=True, slots=True)
class MemoryMetricsRepo(MemoryRepo):
    async def bots_by_status(self) -> dict[str, int]:
        return dict(Counter(b.status.value for b in self.state.bots.values()))

    async def scheduled_between(self, start: datetime, end: datetime) -> int:
        return sum(
            1
            for b in self.state.bots.values()
            if b.status is Status.SCHEDULED
            and b.join_at is not None
            and utc(start) <= utc(b.join_at) < utc(end)
        )

    async def webhook_queue_depth(self) -> int:
        return sum(
            1
            for d in self.state.webhooks.deliveries.values()
            if d.status.value in ("pending", "delivering")
        )

"""The SQL :class:`~meetbot.control.ports.MetricsRepo`: the counts ``/metrics`` shows, each one
aggregate query on an index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import bots
from meetbot.control.store.webhook_tables import webhook_deliveries

OPEN_DELIVERIES = ("pending", "delivering")


@dataclass(frozen=True, slots=True)
class SqlMetricsRepo(SqlRepo):
    async def bots_by_status(self) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(bots.c.status, sa.func.count()).group_by(bots.c.status)
        )
        return {status: int(n) for status, n in rows}

    async def scheduled_between(self, start: datetime, end: datetime) -> int:
        found = await self.conn.execute(
            sa.select(sa.func.count())
            .select_from(bots)
            .where(bots.c.status == "scheduled", bots.c.join_at >= start, bots.c.join_at < end)
        )
        return int(found.scalar_one())

    async def webhook_queue_depth(self) -> int:
        found = await self.conn.execute(
            sa.select(sa.func.count())
            .select_from(webhook_deliveries)
            .where(webhook_deliveries.c.status.in_(OPEN_DELIVERIES))
        )
        return int(found.scalar_one())

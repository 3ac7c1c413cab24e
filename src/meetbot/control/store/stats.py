"""Counts for ``/metrics``, read at scrape time: each one query on an index.

- bots by status: ``SELECT status, count(*) FROM bots WHERE status IN (<not ended>) GROUP BY
  status`` (index ``ix_bots_due`` on ``(status, join_at)``: ended bots are never read);
- scheduled bots per window: ``SELECT sum(CASE WHEN join_at < :cutoff THEN 1 ELSE 0 END), ...
  FROM bots WHERE status = 'scheduled' AND join_at < :last`` (the same index);
- due webhook deliveries: ``SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending',
  'delivering') AND next_attempt_at <= :now`` (index ``ix_webhook_deliveries_due``).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from meetbot.contract.lifecycle import ENDED, Status
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import bots
from meetbot.control.store.webhook_tables import webhook_deliveries as D
from meetbot.control.webhooks.models import OPEN_STATUSES

_ACTIVE = sorted(s.value for s in Status if s not in ENDED)
_OPEN = sorted(s.value for s in OPEN_STATUSES)


@dataclass(frozen=True, slots=True)
class SqlStatsRepo(SqlRepo):
    async def active_bots_by_status(self) -> dict[Status, int]:
        stmt = (
            sa.select(bots.c.status, sa.func.count())
            .where(bots.c.status.in_(_ACTIVE))
            .group_by(bots.c.status)
        )
        rows = (await self.conn.execute(stmt)).all()
        return {Status(status): int(count) for status, count in rows}

    async def scheduled_before(self, cutoffs: Sequence[datetime]) -> builtins.list[int]:
        if not cutoffs:
            return []
        sums = [
            sa.func.coalesce(sa.func.sum(sa.case((bots.c.join_at < cutoff, 1), else_=0)), 0)
            for cutoff in cutoffs
        ]
        stmt = sa.select(*sums).where(
            bots.c.status == Status.SCHEDULED.value, bots.c.join_at < max(cutoffs)
        )
        row = (await self.conn.execute(stmt)).one()
        return [int(v) for v in row]

    async def due_deliveries(self, now: datetime) -> int:
        stmt = (
            sa.select(sa.func.count())
            .select_from(D)
            .where(D.c.status.in_(_OPEN), D.c.next_attempt_at <= now)
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    async def ping(self) -> None:
        await self.conn.execute(sa.text("SELECT 1"))

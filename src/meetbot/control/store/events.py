"""The outbox: events written in the same transaction as the change they describe.

``seq`` is the feed cursor, and a reader that has seen ``seq = n`` never looks below ``n``
again, so an event must never become visible *after* a larger ``seq`` did.

On PostgreSQL a sequence hands out numbers at INSERT time, not at COMMIT time: transaction A
takes 5, transaction B takes 6 and commits first, a reader sees 6, moves its cursor past 5 and
never sees A's event. :meth:`SqlEventRepo.append` therefore takes a transaction-scoped advisory
lock before taking a number, so numbers are taken and committed in the same order (the lock is
released by the COMMIT). The price is that appending transactions serialise from their first
append to their commit, so append events *last*, after the rows you lock, and keep those
transactions short. (Filtering readers by ``pg_snapshot_xmin`` is not enough on its own: an
in-flight transaction's rows are invisible, so the reader cannot tell a gap from a rollback.)

On SQLite write transactions are serialised already (``BEGIN IMMEDIATE``), so the order holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from meetbot.contract.models import OutboxEvent
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import events
from meetbot.errors import Conflict

# pg_advisory_xact_lock key for event appends: int.from_bytes(b"mbevents", "big") >> 1.
EVENT_APPEND_LOCK = 0x6D626576656E7473 >> 1

# Built once (every state change appends): the values come as parameters.
_APPEND_LOCK = sa.select(sa.func.pg_advisory_xact_lock(EVENT_APPEND_LOCK))
_INSERT = sa.insert(events).returning(events.c.id, events.c.seq)


def event_from_row(row: sa.RowMapping) -> OutboxEvent:
    return OutboxEvent(
        seq=row["seq"],
        id=row["id"],
        workspace_id=row["workspace_id"],
        bot_id=row["bot_id"],
        type=row["type"],
        created_at=row["created_at"],
        data=dict(row["data"]),
    )


@dataclass(frozen=True, slots=True)
class SqlEventRepo(SqlRepo):
    async def append(self, event: OutboxEvent) -> OutboxEvent:
        (stored,) = await self.append_all([event])
        return stored

    async def append_all(self, events: Sequence[OutboxEvent]) -> list[OutboxEvent]:
        """One lock and one INSERT for all of ``events`` (a runner's batch emits up to ten:
        the lock is held until COMMIT, so every round trip after it delays other appenders)."""
        self.check_write("events.append")
        if not events:
            return []
        if self.is_postgres:
            await self.conn.execute(_APPEND_LOCK)
        values = [
            {
                "id": e.id,
                "workspace_id": e.workspace_id,
                "bot_id": e.bot_id,
                "type": e.type,
                "created_at": e.created_at,
                "data": dict(e.data),
            }
            for e in events
        ]
        try:
            rows = (await self.conn.execute(_INSERT, values)).all()
        except IntegrityError as exc:  # a bug upstream; no savepoint spent on it
            ids = ", ".join(e.id for e in events)
            which = f"id {ids}" if len(events) == 1 else f"one of the ids {ids}"
            raise Conflict(f"An event with {which} already exists.") from exc
        # Rows come back in any order; the seqs were taken in the VALUES' order.
        seq_of = {row.id: row.seq for row in rows}
        return [dataclasses.replace(e, seq=seq_of[e.id]) for e in events]

    async def list_after(
        self, workspace_id: str, after_seq: int, limit: int, *, bot_id: str | None = None
    ) -> list[OutboxEvent]:
        where = [events.c.workspace_id == workspace_id, events.c.seq > after_seq]
        if bot_id is not None:
            where.append(events.c.bot_id == bot_id)
        stmt = sa.select(events).where(*where).order_by(events.c.seq).limit(max(limit, 0))
        return [event_from_row(row) for row in (await self.conn.execute(stmt)).mappings()]

    async def seq_range(
        self, workspace_id: str, start: datetime, end: datetime
    ) -> tuple[int, int] | None:
        stmt = sa.select(sa.func.min(events.c.seq), sa.func.max(events.c.seq)).where(
            events.c.workspace_id == workspace_id,
            events.c.created_at >= start,
            events.c.created_at < end,
        )
        low, high = (await self.conn.execute(stmt)).one()
        return None if low is None else (int(low), int(high))

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

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from meetbot.errors import Conflict
from meetbot.models import OutboxEvent
from meetbot.store.repo import SqlRepo
from meetbot.store.tables import events

# pg_advisory_xact_lock key for event appends: int.from_bytes(b"mbevents", "big") >> 1.
EVENT_APPEND_LOCK = 0x6D626576656E7473 >> 1

# Built once (every state change appends): the values come as parameters.
_APPEND_LOCK = sa.select(sa.func.pg_advisory_xact_lock(EVENT_APPEND_LOCK))
_INSERT = sa.insert(events).returning(events.c.seq)


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
        self.check_write("events.append")
        if self.is_postgres:
            await self.conn.execute(_APPEND_LOCK)
        values = {
            "id": event.id,
            "workspace_id": event.workspace_id,
            "bot_id": event.bot_id,
            "type": event.type,
            "created_at": event.created_at,
            "data": dict(event.data),
        }
        try:
            seq = (await self.conn.execute(_INSERT, values)).scalar_one()
        except IntegrityError as exc:  # a bug upstream; no savepoint spent on it
            raise Conflict(f"An event with id {event.id} already exists.") from exc
        return OutboxEvent(
            seq=seq,
            id=event.id,
            workspace_id=event.workspace_id,
            bot_id=event.bot_id,
            type=event.type,
            created_at=event.created_at,
            data=event.data,
        )

    async def list_after(self, workspace_id: str, after_seq: int, limit: int) -> list[OutboxEvent]:
        stmt = (
            sa.select(events)
            .where(events.c.workspace_id == workspace_id, events.c.seq > after_seq)
            .order_by(events.c.seq)
            .limit(max(limit, 0))
        )
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

"""Stored responses of requests made with an ``Idempotency-Key``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from meetbot.contract.models import IdempotencyRecord
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import idempotency_keys
from meetbot.errors import IdempotencyKeyReused


def record_from_row(row: sa.RowMapping) -> IdempotencyRecord:
    return IdempotencyRecord(
        workspace_id=row["workspace_id"],
        key=row["key"],
        request_hash=row["request_hash"],
        status_code=row["status_code"],
        body=bytes(row["body"]),
        created_at=row["created_at"],
    )


@dataclass(frozen=True, slots=True)
class SqlIdempotencyRepo(SqlRepo):
    async def get(self, workspace_id: str, key: str) -> IdempotencyRecord | None:
        stmt = sa.select(idempotency_keys).where(
            idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key
        )
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else record_from_row(row)

    async def put(self, record: IdempotencyRecord) -> None:
        """Store a response; the first one stored for a key wins.

        Raises :class:`~meetbot.errors.IdempotencyKeyReused` if the key is taken (a concurrent
        request with the same key committed first): rolling back the loser's transaction undoes
        the work it did twice.
        """
        self.check_write("idempotency.put")
        stmt = sa.insert(idempotency_keys).values(
            workspace_id=record.workspace_id,
            key=record.key,
            request_hash=record.request_hash,
            status_code=record.status_code,
            body=record.body,
            created_at=record.created_at,
        )
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(stmt)
        except IntegrityError as exc:
            raise IdempotencyKeyReused(
                "A request with this Idempotency-Key was processed concurrently."
            ) from exc

    async def purge(self, before: datetime) -> int:
        self.check_write("idempotency.purge")
        stmt = sa.delete(idempotency_keys).where(idempotency_keys.c.created_at < before)
        return (await self.conn.execute(stmt)).rowcount

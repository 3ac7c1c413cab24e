"""The SQL :class:`~meetbot.ports.LeaseRepo`: one row per held lease.

:meth:`SqlLeaseRepo.acquire` first updates the row if it is the owner's or expired, else inserts
it unless it exists (``ON CONFLICT DO NOTHING``). On PostgreSQL two replicas racing for one
name serialise on the row (or on its primary key): the second one's UPDATE re-reads the row
after the first commits and matches nothing, its INSERT does nothing, so it gets ``False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from meetbot.store.repo import SqlRepo
from meetbot.store.tables import leases

L = leases


@dataclass(frozen=True, slots=True)
class SqlLeaseRepo(SqlRepo):
    async def acquire(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        self.check_write("leases.acquire")
        taken = await self.conn.execute(
            sa.update(L)
            .where(L.c.name == name, sa.or_(L.c.owner == owner, L.c.until <= now))
            .values(owner=owner, until=until)
        )
        if taken.rowcount == 1:
            return True
        insert = postgresql.insert(L) if self.is_postgres else sqlite.insert(L)
        added = await self.conn.execute(
            insert.values(name=name, owner=owner, until=until)
            .on_conflict_do_nothing()
            .returning(L.c.name)  # psycopg gives no rowcount for this INSERT
        )
        return added.first() is not None

    async def release(self, name: str, owner: str) -> None:
        self.check_write("leases.release")
        await self.conn.execute(sa.delete(L).where(L.c.name == name, L.c.owner == owner))

    async def purge(self, before: datetime) -> int:
        self.check_write("leases.purge")
        result = await self.conn.execute(sa.delete(L).where(L.c.until < before))
        return int(result.rowcount)

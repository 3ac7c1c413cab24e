"""The SQL :class:`~meetbot.ports.LeaseRepo`: one row per held lease.

:meth:`SqlLeaseRepo.acquire` is one ``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE`` the
row is the owner's or expired, ``RETURNING`` the name: a row back means the lease is ours. On
PostgreSQL two replicas racing for one name serialise on its primary key: the second one's
conflict check runs after the first commits and finds the row held by another owner, so it gets
no row back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import leases

L = leases


@dataclass(frozen=True, slots=True)
class SqlLeaseRepo(SqlRepo):
    async def acquire(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        self.check_write("leases.acquire")
        insert = postgresql.insert(L) if self.is_postgres else sqlite.insert(L)
        values = insert.values(name=name, owner=owner, until=until)
        stmt = values.on_conflict_do_update(
            index_elements=[L.c.name],
            set_={"owner": values.excluded.owner, "until": values.excluded.until},
            where=sa.or_(L.c.owner == owner, L.c.until <= now),
        ).returning(L.c.name)  # a row: inserted or taken over; none: another owner's
        return (await self.conn.execute(stmt)).first() is not None

    async def release(self, name: str, owner: str) -> None:
        self.check_write("leases.release")
        await self.conn.execute(sa.delete(L).where(L.c.name == name, L.c.owner == owner))

    async def purge(self, before: datetime) -> int:
        self.check_write("leases.purge")
        result = await self.conn.execute(sa.delete(L).where(L.c.until < before))
        return int(result.rowcount)

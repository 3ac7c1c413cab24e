"""Workspaces' default credentials: one sealed blob per workspace (see :mod:`meetbot.crypto`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import workspace_credentials as table

# Built once (every ad-hoc create reads it): parameters, not a statement per call.
_GET = sa.select(table.c.ciphertext).where(table.c.workspace_id == sa.bindparam("workspace_id"))


@dataclass(frozen=True, slots=True)
class SqlCredentialRepo(SqlRepo):
    async def get(self, workspace_id: str) -> str | None:
        result = await self.conn.execute(_GET, {"workspace_id": workspace_id})
        return result.scalar_one_or_none()

    async def put(self, workspace_id: str, ciphertext: str, at: datetime) -> None:
        self.check_write("credentials.put")
        insert = postgresql.insert if self.is_postgres else sqlite.insert
        stmt = insert(table).values(workspace_id=workspace_id, ciphertext=ciphertext, updated_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.workspace_id],
            set_={"ciphertext": stmt.excluded.ciphertext, "updated_at": stmt.excluded.updated_at},
        )
        await self.conn.execute(stmt)

    async def delete(self, workspace_id: str) -> None:
        self.check_write("credentials.delete")
        await self.conn.execute(sa.delete(table).where(table.c.workspace_id == workspace_id))

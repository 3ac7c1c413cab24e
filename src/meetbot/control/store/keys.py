"""Workspaces and their API keys (only the keys' hashes are stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from meetbot.contract.models import ApiKey
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import api_keys, workspaces
from meetbot.errors import Conflict, NotFound


def _key(row: sa.RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        workspace_id=row["workspace_id"],
        name=row["name"],
        key_hash=row["key_hash"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


@dataclass(frozen=True, slots=True)
class SqlKeyRepo(SqlRepo):
    async def create_workspace(self, workspace_id: str, name: str, at: datetime) -> None:
        self.check_write("keys.create_workspace")
        stmt = sa.insert(workspaces).values(id=workspace_id, name=name, created_at=at)
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(stmt)
        except IntegrityError as exc:
            raise Conflict(f"Workspace {workspace_id} already exists.") from exc

    async def workspace_exists(self, workspace_id: str) -> bool:
        stmt = sa.select(sa.literal(1)).where(workspaces.c.id == workspace_id)
        return (await self.conn.execute(stmt)).first() is not None

    async def add(self, key: ApiKey) -> None:
        self.check_write("keys.add")
        if not await self.workspace_exists(key.workspace_id):
            raise NotFound(f"No workspace {key.workspace_id}.")
        stmt = sa.insert(api_keys).values(
            id=key.id,
            workspace_id=key.workspace_id,
            name=key.name,
            key_hash=key.key_hash,
            prefix=key.prefix,
            created_at=key.created_at,
        )
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(stmt)
        except IntegrityError as exc:
            raise Conflict(f"API key {key.id} (or its hash) already exists.") from exc

    async def workspace_for(self, key_hash: str) -> str | None:
        stmt = sa.select(api_keys.c.workspace_id).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        return (await self.conn.execute(stmt)).scalar_one_or_none()

    async def list_keys(self) -> list[ApiKey]:
        stmt = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        return [_key(row) for row in (await self.conn.execute(stmt)).mappings()]

    async def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        self.check_write("keys.revoke")
        await self.conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        row = (
            (await self.conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)))
            .mappings()
            .first()
        )
        return _key(row) if row is not None else None

    async def count(self) -> int:
        """The number of API keys, all workspaces together."""
        stmt = sa.select(sa.func.count()).select_from(api_keys)
        return (await self.conn.execute(stmt)).scalar_one()

"""API keys and workspaces. Keys are random, shown once, and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from meetbot.contract.models import ApiKey
from meetbot.control.ports import Store
from meetbot.control.service.core import new_id
from meetbot.ports import Clock

KEY_PREFIX = "mb_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    store: Store, clock: Clock, *, name: str, workspace_id: str | None = None
) -> tuple[str, str]:
    """Create an API key (in a new workspace unless one is named); return (key, workspace_id)."""
    now = clock.now()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with store.transaction() as tx:
        if workspace_id is None:
            workspace_id = new_id()
            await tx.keys.create_workspace(workspace_id, name, now)
        elif not await tx.keys.workspace_exists(workspace_id):
            await tx.keys.create_workspace(workspace_id, workspace_id, now)
        await tx.keys.add(
            ApiKey(
                id=new_id(),
                workspace_id=workspace_id,
                name=name,
                key_hash=hash_key(key),
                prefix=key[:8],
                created_at=now,
            )
        )
    return key, workspace_id


async def ensure_first_key(store: Store, clock: Clock) -> str | None:
    """On a fresh data dir, create one key and return it (to print once); else ``None``."""
    async with store.transaction(write=False) as tx:
        if await tx.keys.count() > 0:
            return None
    key, _ = await create_key(store, clock, name="default")
    return key


async def workspace_for_key(store: Store, key: str) -> str | None:
    async with store.transaction(write=False) as tx:
        return await tx.keys.workspace_for(hash_key(key))

"""API keys and workspaces. Keys are random, shown once, and stored as SHA-256 hashes.

A key is named by its id everywhere after its creation (``meetbot keys list``/``revoke``):
the key itself is never asked for again. A revoked key is refused by every server within
:data:`REVOCATION_DELAY` (the servers' key caches live no longer)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from meetbot.contract.models import ApiKey
from meetbot.control.ports import Store
from meetbot.control.service.core import new_id
from meetbot.errors import InvalidRequest, NotFound
from meetbot.ports import Clock

KEY_PREFIX = "mb_"
REVOCATION_DELAY: Final = 5.0
"""Seconds within which every running server refuses a revoked key."""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str
    """Shown once; only its hash is stored."""
    id: str
    workspace_id: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    store: Store, clock: Clock, *, name: str, workspace_id: str | None = None
) -> tuple[str, str]:
    """Create an API key (in a new workspace unless one is named); return (key, workspace_id)."""
    issued = await issue_key(store, clock, name=name, workspace_id=workspace_id)
    return issued.key, issued.workspace_id


async def issue_key(
    store: Store, clock: Clock, *, name: str, workspace_id: str | None = None
) -> IssuedKey:
    """Create an API key (in a new workspace unless one is named)."""
    now = clock.now()
    key_id = new_id()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with store.transaction() as tx:
        if workspace_id is None:
            workspace_id = new_id()
            await tx.keys.create_workspace(workspace_id, name, now)
        elif not await tx.keys.workspace_exists(workspace_id):
            await tx.keys.create_workspace(workspace_id, workspace_id, now)
        await tx.keys.add(
            ApiKey(
                id=key_id,
                workspace_id=workspace_id,
                name=name,
                key_hash=hash_key(key),
                prefix=key[:8],
                created_at=now,
            )
        )
    return IssuedKey(key, key_id, workspace_id)


async def list_keys(store: Store) -> list[ApiKey]:
    async with store.transaction(write=False) as tx:
        return await tx.keys.list_keys()


async def revoke_key(store: Store, clock: Clock, key_id: str) -> ApiKey:
    """Revoke the key with this id (its id, never the key); :class:`NotFound` if none."""
    if key_id.startswith(KEY_PREFIX):
        raise InvalidRequest("That is a key, not a key id: pass the id (see `meetbot keys list`).")
    async with store.transaction() as tx:
        revoked = await tx.keys.revoke(key_id, clock.now())
    if revoked is None:
        raise NotFound(f"No API key with id {key_id}.")
    return revoked


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

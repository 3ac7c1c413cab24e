"""The janitor's use cases: rows whose time is over are deleted, in short transactions."""

from __future__ import annotations

from datetime import timedelta

from meetbot.control.service.core import Services

PRUNE_BATCH = 1000


async def purge_expired(svc: Services) -> int:
    """Idempotency keys past their TTL, leases expired an hour ago (a lease is deleted by
    its holder when the work ends; these are the ones of dead processes), and fleet hand-offs
    acknowledged a day ago. Returns how many rows went."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        keys = await tx.idempotency.purge(now - timedelta(seconds=svc.settings.idempotency_ttl))
        leases = await tx.leases.purge(now - timedelta(hours=1))
        handoffs = await tx.agents.purge_handoffs(now - timedelta(days=1))
    return keys + leases + handoffs


async def prune_deliveries(svc: Services, batch: int = PRUNE_BATCH) -> int:
    """Finished webhook deliveries older than ``webhook_delivery_retention``, ``batch`` rows
    per transaction; returns how many went."""
    before = svc.clock.now() - timedelta(seconds=svc.settings.webhook_delivery_retention)
    pruned = 0
    while True:
        async with svc.store.transaction() as tx:
            done = await tx.webhooks.prune(before, batch)
        pruned += done
        if done < batch:
            return pruned

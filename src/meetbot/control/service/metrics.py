"""What ``/metrics`` shows, read in one read-only transaction (:mod:`meetbot.control.metrics`)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from meetbot.contract.lifecycle import DISPATCHED
from meetbot.control.metrics import Snapshot
from meetbot.control.service import capacity
from meetbot.control.service.core import Services


async def snapshot(svc: Services) -> Snapshot:
    now = svc.clock.now()
    timeout = svc.settings.agent_timeout
    lead = timedelta(seconds=svc.settings.dispatch_lead)
    windows = {"dispatch_lead": lead, "1h": timedelta(hours=1), "24h": timedelta(days=1)}
    async with svc.store.transaction(write=False) as tx:
        agents = await tx.agents.list_agents()
        by_status = await tx.metrics.bots_by_status()
        reserved = {
            name: await tx.metrics.scheduled_between(now, now + span)
            for name, span in windows.items()
        }
        # Dispatched within the next lead: join_at before now + 2 leads (and any overdue).
        upcoming = await tx.metrics.scheduled_between(now - timedelta(days=1), now + 2 * lead)
        depth = await tx.metrics.webhook_queue_depth()
    states: Counter[str] = Counter(a.state(now, timeout) for a in agents)
    live = [a for a in agents if a.state(now, timeout) == "live"]
    running = sum(by_status.get(s.value, 0) for s in DISPATCHED)
    return Snapshot(
        agents_by_state=dict(states),
        slots=sum(a.slots for a in live),
        busy=sum(a.busy for a in live),
        warm_idle=sum(max(a.offered, 0) for a in live),
        capacity=capacity.total(svc),
        bots_by_status=by_status,
        reserved=reserved,
        slots_needed=running + upcoming,
        webhook_queue_depth=depth,
    )

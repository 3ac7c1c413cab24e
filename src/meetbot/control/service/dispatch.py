"""Dispatching scheduled bots to runners, on time or openly failed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from meetbot import errors
from meetbot.contract.lifecycle import Dispatch, Fail
from meetbot.contract.models import Bot
from meetbot.control.ports import Slot
from meetbot.control.service.core import Pending, Services, new_token, token_hash
from meetbot.control.service.credentials import UNREADABLE, platform_credentials
from meetbot.control.service.handoff import Handoff

log = logging.getLogger("meetbot.control.scheduler")

FAILED_TO_LAUNCH = "failed_to_launch_in_time"


def _may_wait(svc: Services, join_at: datetime | None, now: datetime) -> bool:
    """A fleet's capacity comes and goes with its agents (a rollout restarts them): a bot no
    agent has room for stays ``scheduled`` until its ``join_at``, then fails."""
    return svc.settings.launcher == "fleet" and join_at is not None and join_at > now


BATCH = 64
"""Bots dispatched in one transaction. Its statements do not grow with it (the claims, the
bots' rows, the hand-offs and the events are each written together): at 16 bots a batch of
one statement per step spent 1.4 to 2.7 s per batch waiting its turn on a loaded event loop."""

ROUNDS = 16
"""Batches one scheduler turn runs at most, back to back, while they come back full."""


async def dispatch_due(svc: Services, *, batch: int = BATCH, rounds: int = ROUNDS) -> int:
    """Dispatch every scheduled bot whose ``join_at - dispatch_lead`` has come.

    Each bot takes a warm runner if one is idle, else reserved capacity for a cold start; with
    no capacity at all it ends ``failed``/``failed_to_launch_in_time`` — never silently late.
    A full batch is followed at once by the next one (up to ``rounds``): a thousand bots due in
    the same minute are not held to one batch per scheduler turn; a batch that moved no bot
    (all waiting for an agent's room) ends the turn. Returns the number of bots handled.
    """
    handled = 0
    for _ in range(rounds):
        due, moved = await _dispatch_batch(svc, batch)
        handled += due
        if due < batch or not moved:
            break
    return handled


async def _dispatch_batch(svc: Services, batch: int) -> tuple[int, int]:
    """One transaction's batch: (bots due in it, bots it dispatched or failed). Its writes go
    together, in a fixed number of statements: the slots (:meth:`Handoff.claim_many`), the
    bots' rows (:meth:`Pending.write`), the hand-offs (:meth:`Handoff.assign_many`), and the
    events last (their append holds the feed's lock until COMMIT)."""
    failed = 0
    now = svc.clock.now()
    cutoff = now + timedelta(seconds=svc.settings.dispatch_lead)
    pending = Pending()
    async with Handoff(svc) as handoff:
        async with svc.store.transaction(priority=True) as tx:
            due = await tx.bots.due_for_dispatch(cutoff, batch)
            ready: list[tuple[Bot, dict[str, Any] | None]] = []
            shared: dict[str, str | None] = {}
            for bot in due:
                try:
                    ready.append((bot, await platform_credentials(svc, tx, bot, shared)))
                except errors.CredentialsUnreadable:
                    log.exception("bot %s: its credentials do not decrypt", bot.id)
                    pending.change(bot, Fail(UNREADABLE), now)
                    failed += 1
            slots = await handoff.claim_many(tx, len(ready))
            assigned: list[tuple[Slot, Bot, str, dict[str, Any] | None]] = []
            for slot, (bot, credentials) in zip(slots, ready, strict=False):
                token = new_token()
                dispatched = bot.evolve(runner_token_hash=token_hash(token), dispatched_at=now)
                dispatched = pending.change(dispatched, Dispatch(), now)
                assigned.append((slot, dispatched, token, credentials))
            for bot, _ in ready[len(slots) :]:
                if _may_wait(svc, bot.join_at, now):
                    continue  # a fleet: an agent may come back or be added before join_at
                log.warning("bot %s: no capacity at dispatch time", bot.id)
                pending.change(bot, Fail(FAILED_TO_LAUNCH), now)
                failed += 1
            await pending.write(tx)
            await handoff.assign_many(tx, assigned)
            await pending.emit(svc, tx)
        if due:
            svc.reactions.events_committed()
        for _, bot, _, _ in assigned:
            svc.reactions.bot_dispatched(bot)
    return len(due), failed + len(assigned)

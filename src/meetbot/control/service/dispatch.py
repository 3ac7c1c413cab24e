"""Dispatching scheduled bots to runners, on time or openly failed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from meetbot import errors
from meetbot.contract.lifecycle import Dispatch, Fail
from meetbot.contract.models import Bot
from meetbot.control.service.core import Pending, Services, new_token, token_hash
from meetbot.control.service.credentials import UNREADABLE, platform_credentials
from meetbot.control.service.handoff import Handoff

log = logging.getLogger("meetbot.control.scheduler")

FAILED_TO_LAUNCH = "failed_to_launch_in_time"


def _may_wait(svc: Services, join_at: datetime | None, now: datetime) -> bool:
    """A fleet's capacity comes and goes with its agents (a rollout restarts them): a bot no
    agent has room for stays ``scheduled`` until its ``join_at``, then fails."""
    return svc.settings.launcher == "fleet" and join_at is not None and join_at > now


BATCH = 16
"""Bots dispatched in one transaction."""

ROUNDS = 64
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
    """One transaction's batch: (bots due in it, bots it dispatched or failed)."""
    moved = 0
    now = svc.clock.now()
    cutoff = now + timedelta(seconds=svc.settings.dispatch_lead)
    dispatched: list[Bot] = []
    events = Pending()  # appended last: the append holds the feed's lock until COMMIT
    async with Handoff(svc) as handoff:
        async with svc.store.transaction() as tx:
            due = await tx.bots.due_for_dispatch(cutoff, batch)
            for bot in due:
                try:
                    credentials = await platform_credentials(svc, tx, bot)
                except errors.CredentialsUnreadable:
                    log.exception("bot %s: its credentials do not decrypt", bot.id)
                    await events.transition(tx, bot, Fail(UNREADABLE), now)
                    moved += 1
                    continue
                slot = await handoff.claim(tx)
                if slot is None and _may_wait(svc, bot.join_at, now):
                    continue  # a fleet: an agent may come back or be added before join_at
                if slot is None:
                    log.warning("bot %s: no capacity at dispatch time", bot.id)
                    await events.transition(tx, bot, Fail(FAILED_TO_LAUNCH), now)
                    moved += 1
                    continue
                token = new_token()
                ready = bot.evolve(runner_token_hash=token_hash(token), dispatched_at=now)
                ready = await events.transition(tx, ready, Dispatch(), now)
                await handoff.assign(tx, slot, ready, token, credentials)
                dispatched.append(ready)
            await events.emit(svc, tx)
        if due:
            svc.reactions.events_committed()
        for bot in dispatched:
            svc.reactions.bot_dispatched(bot)
    return len(due), moved + len(dispatched)

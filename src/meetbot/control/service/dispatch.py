"""Dispatching scheduled bots to runners, on time or openly failed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from meetbot import errors
from meetbot.contract.assignment import Assignment
from meetbot.contract.lifecycle import Dispatch, Fail
from meetbot.contract.models import Bot
from meetbot.control.ports import Slot
from meetbot.control.service.core import Services, new_token, token_hash, transition
from meetbot.control.service.credentials import UNREADABLE, platform_credentials

log = logging.getLogger("meetbot.control.scheduler")

FAILED_TO_LAUNCH = "failed_to_launch_in_time"


def assignment_for(
    svc: Services, bot: Bot, token: str, credentials: Mapping[str, Any] | None = None
) -> Assignment:
    """The runner's assignment; ``credentials`` are the decrypted
    :func:`~meetbot.control.service.credentials.platform_credentials`."""
    s = svc.settings
    return Assignment(
        bot_id=bot.id,
        meeting_url=bot.meeting.url,
        platform=bot.meeting.platform.value,
        bot_name=bot.bot_name,
        stop_options=bot.stop_options.as_dict(),
        join_at=bot.join_at,
        token=token,
        control_url=s.effective_public_url,
        timer_unit_seconds=s.timer_unit_seconds,
        heartbeat_interval=s.heartbeat_interval,
        control_plane_grace=s.control_plane_grace,
        egress_allowed_hosts=s.self_hosted_meeting_host_list.as_strings(),
        recording=bot.recording.as_dict(),
        storage=svc.storage_descriptor,
        credentials=credentials,
    )


async def dispatch_due(svc: Services, *, batch: int = 16) -> int:
    """Dispatch every scheduled bot whose ``join_at - dispatch_lead`` has come.

    Each bot takes a warm runner if one is idle, else reserved capacity for a cold start; with
    no capacity at all it ends ``failed``/``failed_to_launch_in_time`` — never silently late.
    Returns the number of bots handled.
    """
    now = svc.clock.now()
    cutoff = now + timedelta(seconds=svc.settings.dispatch_lead)
    handed: list[tuple[Slot, Assignment]] = []
    claimed: list[Slot] = []
    try:
        async with svc.store.transaction() as tx:
            due = await tx.bots.due_for_dispatch(cutoff, batch)
            for bot in due:
                try:
                    credentials = await platform_credentials(svc, tx, bot)
                except errors.CredentialsUnreadable:
                    log.exception("bot %s: its credentials do not decrypt", bot.id)
                    await transition(tx, bot, Fail(UNREADABLE), now)
                    continue
                slot = svc.launcher.claim_warm() or svc.launcher.reserve()
                if slot is None:
                    log.warning("bot %s: no capacity at dispatch time", bot.id)
                    await transition(tx, bot, Fail(FAILED_TO_LAUNCH), now)
                    continue
                claimed.append(slot)
                token = new_token()
                ready = bot.evolve(runner_token_hash=token_hash(token), dispatched_at=now)
                ready = await transition(tx, ready, Dispatch(), now)
                handed.append((slot, assignment_for(svc, ready, token, credentials)))
    except BaseException:
        for slot in claimed:
            svc.launcher.release(slot)
        raise
    if due:
        svc.events_committed()
    from meetbot.control.service.runners import start_runner  # runners imports this module

    for slot, assignment in handed:
        await start_runner(svc, slot, assignment)
    return len(due)

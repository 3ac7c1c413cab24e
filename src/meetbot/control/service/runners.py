"""What runners tell the control plane: reports, heartbeats, commands, and lost runners."""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta
from typing import Any

from meetbot import errors
from meetbot.contract import lifecycle, reports
from meetbot.contract.assignment import Assignment
from meetbot.contract.lifecycle import DISPATCHED, MAX_DETECTION_RETRIES, TERMINAL, Status
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.contract.reports import Command, Commands
from meetbot.control.ports import Slot
from meetbot.control.service.core import (
    Services,
    new_token,
    token_hash,
    try_step,
    try_transition,
)
from meetbot.control.service.credentials import UNREADABLE, platform_credentials
from meetbot.control.service.dispatch import assignment_for
from meetbot.control.webhooks import outbox

log = logging.getLogger("meetbot.runners")

PROCESS_LOST = "bot_process_lost"


def lifecycle_event(report: reports.BaseReport) -> lifecycle.Event | None:
    """The lifecycle event a report means, or ``None`` for observations."""
    match report:
        case reports.Joining():
            return lifecycle.StartJoining()
        case reports.Waiting(sub_status=sub):
            return lifecycle.Wait(sub)
        case reports.InCall():
            return lifecycle.Admit()
        case reports.Leaving(stop_reason=reason):
            return lifecycle.Leave(reason)
        case reports.NotAdmitted(stop_reason=reason, sub_code=code):
            return lifecycle.Refuse(reason, code)
        case reports.Left():
            return lifecycle.Left()
        case reports.Failed(sub_code=code):
            return lifecycle.Fail(code)
        case reports.AuthRequired(sub_code=code):
            return lifecycle.NeedAuth(code)
        case reports.InvalidCredentials(sub_code=code):
            return lifecycle.RejectCredentials(code)
        case reports.BotDetected(sub_code=code):
            return lifecycle.Detect(code)
    return None


def _authentic(bot: Bot | None, token: str) -> Bot:
    """``bot`` if ``token`` is its current runner token, else :class:`errors.Unauthorized`."""
    if bot is None or not bot.runner_token_hash:
        raise errors.Unauthorized("Unknown bot or runner token.")
    if not hmac.compare_digest(bot.runner_token_hash, token_hash(token)):
        raise errors.Unauthorized("Unknown bot or runner token.")
    if bot.status in TERMINAL:  # the token ends with its bot
        raise errors.Unauthorized("Unknown bot or runner token.")
    return bot


async def authenticate(svc: Services, bot_id: str, token: str) -> Bot:
    async with svc.store.transaction(write=False) as tx:
        return _authentic(await tx.bots.get(bot_id), token)


def commands_for(bot: Bot) -> Commands:
    if bot.status in TERMINAL or bot.status in (Status.PROCESSING, Status.TRANSCRIBING):
        return Commands(commands=[Command(type="stop")])
    if bot.leave_requested_at is not None:
        return Commands(commands=[Command(type="leave")])
    return Commands()


async def handle_reports(
    svc: Services, bot_id: str, token: str, batch: reports.ReportBatch
) -> Commands:
    """Apply a runner's reports in one transaction and answer with pending commands.

    The token is checked inside that transaction (no read transaction first: reports are the
    busiest write path). The bot's row is written once and the events the batch emits are
    queued together, in report order, after the row lock.
    """
    now = svc.clock.now()
    relaunch = False
    entered_processing = False
    async with svc.store.transaction() as tx:
        bot = _authentic(await tx.bots.get(bot_id, for_update=True), token)
        emitted: list[OutboxEvent] = []
        observed: list[reports.BaseReport] = []
        for report in batch.events:
            event = lifecycle_event(report)
            if event is None:
                observed.append(report)
                emitted += _observation_events(bot, report)
                continue
            before = bot.status
            bot, changed = try_step(bot, event, report.at)
            emitted += [changed] if changed is not None else []
            entered_processing |= before != bot.status and bot.status is Status.PROCESSING
            relaunch |= bot.status is Status.BOT_DETECTED and before != bot.status
        if relaunch and bot.detection_retries < MAX_DETECTION_RETRIES:
            bot, changed = try_step(bot, lifecycle.Retry(), now)
            emitted += [changed] if changed is not None else []
        bot = bot.evolve(last_seen_at=now)
        await tx.bots.update(bot)
        await tx.observations.append_all(bot.id, observed)
        await outbox.emit_all(tx, emitted, bot=bot)
    svc.events_committed()
    for report in batch.events:
        if isinstance(report, reports.AudioChunk):
            svc.chunk_stored(bot.id, report.key, report.offset_s)
    if entered_processing:
        svc.processing_started(bot.id)
    if relaunch and bot.status is Status.BOOTING:
        await _relaunch(svc, bot.id)
        return Commands(commands=[Command(type="stop")])  # this runner is done; a fresh one runs
    return commands_for(bot)


def _observation_events(bot: Bot, report: reports.BaseReport) -> list[OutboxEvent]:
    """The events an observation (participants, speech, captions, audio chunks, artifacts)
    means; the observation itself is stored as it is."""
    if isinstance(report, reports.ParticipantJoined | reports.ParticipantLeft):
        return [outbox.participant_event(bot, report)]
    return []


async def _relaunch(svc: Services, bot_id: str) -> None:
    """After ``bot_detected → booting``: a fresh runner (and browser profile) with a new token."""
    slot = svc.launcher.claim_warm() or svc.launcher.reserve()
    now = svc.clock.now()
    if slot is None:
        await runner_lost(svc, bot_id, sub_code="failed_to_launch_in_time")
        return
    token = new_token()
    credentials: dict[str, Any] | None = None
    unreadable = False
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, for_update=True)
        if bot is None or bot.status is not Status.BOOTING:
            svc.launcher.release(slot)
            return
        try:
            credentials = await platform_credentials(svc, tx, bot)
        except errors.CredentialsUnreadable:
            log.exception("bot %s: its credentials do not decrypt", bot.id)
            unreadable = True
        else:
            bot = bot.evolve(
                runner_token_hash=token_hash(token), dispatched_at=now, last_seen_at=None
            )
            await tx.bots.update(bot)
    if unreadable:
        svc.launcher.release(slot)
        await runner_lost(svc, bot_id, sub_code=UNREADABLE)
        return
    await start_runner(svc, slot, assignment_for(svc, bot, token, credentials))


async def start_runner(svc: Services, slot: Slot, assignment: Assignment) -> None:
    """Hand a committed bot to its runner; a launcher failure fails the bot, never the caller."""
    try:
        await svc.launcher.assign(slot, assignment)
    except Exception:
        log.exception("bot %s: could not hand the bot to a runner", assignment.bot_id)
        await runner_lost(svc, assignment.bot_id, sub_code="bot_launch_failed")


async def heartbeat_commands(svc: Services, bot_id: str, token: str) -> Commands:
    bot = await authenticate(svc, bot_id, token)
    return commands_for(bot)


async def runner_lost(svc: Services, bot_id: str, *, sub_code: str = PROCESS_LOST) -> None:
    """The runner of ``bot_id`` is gone: a bot it still owned ends ``failed``."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, for_update=True)
        if bot is None or bot.status not in DISPATCHED:
            return
        await try_transition(tx, bot, lifecycle.Fail(sub_code), now)
    svc.events_committed()
    svc.commands.notify(bot_id)
    svc.processing_started(bot_id)  # the media pipeline salvages what audio was written


async def reap_silent_runners(svc: Services) -> int:
    """Fail dispatched bots whose runner has not reported for ``heartbeat_timeout``."""
    now = svc.clock.now()
    deadline = now - timedelta(seconds=svc.settings.heartbeat_timeout)
    async with svc.store.transaction(write=False) as tx:
        lost = [b.id for b in await tx.bots.silent(DISPATCHED, deadline)]
    for bot_id in lost:
        log.warning("bot %s: runner silent for %ss", bot_id, svc.settings.heartbeat_timeout)
        await runner_lost(svc, bot_id)
    return len(lost)

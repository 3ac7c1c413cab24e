"""What runners tell the control plane: reports, heartbeats and commands.

Runners that are gone: :mod:`meetbot.control.service.lost_runners`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from meetbot import errors
from meetbot.contract import lifecycle, reports
from meetbot.contract.lifecycle import ENDED, MAX_DETECTION_RETRIES, TERMINAL, Status, SubStatus
from meetbot.contract.media_format import runner_may_store
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.contract.platforms import info
from meetbot.contract.reports import Command, Commands
from meetbot.control.output_audio import pending_clips
from meetbot.control.ports import Tx
from meetbot.control.service.chat import CHAT_TYPES, chat_left, chat_wanted
from meetbot.control.service.core import (
    Services,
    emit_all,
    new_token,
    runner_done,
    token_hash,
    try_step,
)
from meetbot.control.service.credentials import UNREADABLE, platform_credentials
from meetbot.control.service.dispatch import FAILED_TO_LAUNCH
from meetbot.control.service.handoff import Handoff
from meetbot.control.service.lost_runners import runner_lost
from meetbot.control.webhooks import outbox

log = logging.getLogger("meetbot.runners")


def lifecycle_event(report: reports.BaseReport) -> lifecycle.Event | None:
    """The lifecycle event a report means, or ``None`` for observations."""
    match report:
        case reports.Joining():
            return lifecycle.StartJoining()
        case reports.Waiting(sub_status=sub):
            return lifecycle.Wait(sub)
        case reports.InCall():
            return lifecycle.Admit()
        case reports.Leaving(stop_reason=reason, sub_code=code, message=message):
            return lifecycle.Leave(reason, message, code)
        case reports.NotAdmitted(stop_reason=reason, sub_code=code, message=message):
            return lifecycle.Refuse(reason, code, message)
        case reports.Left():
            return lifecycle.Left()
        case reports.Failed(sub_code=code, detail=detail):
            return lifecycle.Fail(code, detail)
        case reports.AuthRequired(sub_code=code, message=message):
            return lifecycle.NeedAuth(code, message)
        case reports.InvalidCredentials(sub_code=code, message=message):
            return lifecycle.RejectCredentials(code, message)
        case reports.BotDetected(sub_code=code, message=message):
            return lifecycle.Detect(code, message)
    return None


def _authentic(bot: Bot | None, token: str) -> Bot:
    """``bot`` if ``token`` is its current runner token, else :class:`errors.Unauthorized`."""
    if bot is None:
        raise errors.Unauthorized("Unknown bot or runner token.")
    if not bot.runner_token_hash or not hmac.compare_digest(
        bot.runner_token_hash, token_hash(token)
    ):
        raise errors.StaleRunnerToken("Unknown bot or runner token.")
    if bot.status in TERMINAL:  # the token ends with its bot
        raise errors.StaleRunnerToken("Unknown bot or runner token.")
    return bot


async def authenticate(svc: Services, bot_id: str, token: str) -> Bot:
    async with svc.store.transaction(write=False) as tx:
        return _authentic(await tx.bots.get(bot_id), token)


def commands_for(
    bot: Bot, chat: Sequence[reports.ChatOut] = (), audio: Sequence[reports.AudioOut] = ()
) -> Commands:
    if bot.status in ENDED or bot.status in (Status.PROCESSING, Status.TRANSCRIBING):
        return Commands(commands=[Command(type="stop")])
    if bot.leave_requested_at is not None:
        return Commands(commands=[Command(type="leave")])
    if bot.status is Status.RECORDING:
        paused = bot.sub_status is SubStatus.PAUSED
        return Commands(
            paused=paused, chat=list(chat), camera=bot.bot_image, output_audio=list(audio)
        )
    return Commands(camera=bot.bot_image)


async def handle_reports(
    svc: Services, bot_id: str, token: str, batch: reports.ReportBatch
) -> Commands:
    """Apply a runner's reports in one transaction and answer with pending commands.

    The token is checked inside that transaction (no read transaction first: reports are the
    busiest write path). A batch with a lifecycle report locks the bot's row and writes it once;
    one of observations only writes it only to renew a stale ``last_seen_at`` (see
    :func:`_fresh`). The events the batch emits are appended together, in report order, last.
    """
    now = svc.clock.now()
    if not batch.events:
        answer = await _fresh_heartbeat(svc, bot_id, token, now)
        if answer is not None:
            return answer
    relaunch = False
    entered_processing = False
    steps = any(lifecycle_event(report) is not None for report in batch.events)
    async with svc.store.transaction() as tx:
        # Its status history is read only for a lifecycle step (it appends to it).
        bot = _authentic(await tx.bots.get(bot_id, for_update=steps, history=steps), token)
        # Observations only (participants, speech, chunks: most batches) change the bot's row
        # only to renew last_seen_at, so they neither lock nor write it while it is fresh.
        write_row = steps or not _fresh(svc, bot, now)
        if write_row and not steps:  # read again under the lock: a PATCH may be committing
            bot = _authentic(await tx.bots.get(bot_id, for_update=True, history=False), token)
        emitted: list[OutboxEvent] = []
        observed: list[reports.BaseReport] = []
        for report in batch.events:
            event = lifecycle_event(report)
            if event is None:
                if not _own_media(bot.id, report):
                    log.warning("bot %s: refused a report of another bot's media", bot.id)
                    continue
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
        if write_row:
            bot = bot.evolve(last_seen_at=now)
            await tx.bots.update(bot)
        await tx.observations.append_all(bot.id, observed)
        chat, audio = await pending_outputs(tx, bot)
        await emit_all(svc, tx, emitted, bot)  # last: it holds the feed's lock until COMMIT
    svc.reactions.events_committed()
    runner_done(svc, bot)
    for report in batch.events:
        if isinstance(report, reports.AudioChunk):
            svc.reactions.chunk_stored(bot.id, report.key, report.offset_s)
    if entered_processing:
        svc.reactions.processing_started(bot.id)
    if relaunch and bot.status is Status.BOOTING:
        await _relaunch(svc, bot.id)
        return Commands(commands=[Command(type="stop")])  # this runner is done; a fresh one runs
    return commands_for(bot, chat, audio)


def _fresh(svc: Services, bot: Bot, now: datetime) -> bool:
    """``last_seen_at`` is younger than a quarter of ``heartbeat_timeout``: renewing it can
    wait (the runner reaper reads it at that timeout's resolution)."""
    seen = bot.last_seen_at
    return seen is not None and now - seen < timedelta(seconds=svc.settings.heartbeat_timeout / 4)


async def _fresh_heartbeat(
    svc: Services, bot_id: str, token: str, now: datetime
) -> Commands | None:
    """An empty batch (a heartbeat) whose bot was seen lately is answered from a read: its
    commands, no write. ``None``: ``last_seen_at`` is older than a quarter of
    ``heartbeat_timeout``, so the write path renews it.

    Every runner heartbeats every ``heartbeat_interval`` (2 s): a write transaction each (the
    bot's row locked and rewritten) was 500 writes a second for 1,000 bots in calls, for a
    timestamp the reaper reads at a 30 s resolution. Now about one in four heartbeats writes."""
    async with svc.store.transaction(write=False) as tx:
        bot = _authentic(await tx.bots.get(bot_id, history=False), token)
        if not _fresh(svc, bot, now):
            return None
        chat, audio = await pending_outputs(tx, bot)
    runner_done(svc, bot)
    return commands_for(bot, chat, audio)


AUDIO_TYPES = ("output_audio_request", "output_audio_stop", "output_audio_finished")


async def pending_outputs(tx: Tx, bot: Bot) -> tuple[list[reports.ChatOut], list[reports.AudioOut]]:
    """The chat messages and the clips (``output_audio``, in order) the bot's runner is to
    send and say, from one read of its observations: only while it is in the call, on a
    platform whose adapter has chat / can unmute (no read otherwise)."""
    chat = chat_wanted(bot)
    audio = bot.status is Status.RECORDING and info(bot.meeting.platform).voice
    types = (CHAT_TYPES if chat else ()) + (AUDIO_TYPES if audio else ())
    if not types:
        return [], []
    found = await tx.observations.list(bot.id, types)
    return (chat_left(found) if chat else []), (pending_clips(found) if audio else [])


def _own_media(bot_id: str, report: reports.BaseReport) -> bool:
    """A report naming a storage key (an audio chunk, a debug artifact) names one of its own
    bot's: else it is dropped (issue 12: a runner cannot make the API sign links to another
    bot's media)."""
    key = getattr(report, "key", None)
    return not isinstance(key, str) or runner_may_store(bot_id, key)


def _observation_events(bot: Bot, report: reports.BaseReport) -> list[OutboxEvent]:
    """The events an observation (participants, speech, captions, audio chunks, artifacts)
    means; the observation itself is stored as it is."""
    if isinstance(report, reports.ParticipantJoined | reports.ParticipantLeft):
        return [outbox.participant_event(bot, report)]
    if isinstance(report, reports.Speaking):
        return [outbox.speaking_event(bot, report)]
    if isinstance(report, reports.RecordingPaused | reports.RecordingResumed):
        return [outbox.recording_paused_event(bot, report)]
    if isinstance(report, reports.ChatMessage):
        return [outbox.chat_message_event(bot, report)]
    if isinstance(report, reports.OutputAudioStarted | reports.OutputAudioFinished):
        return [outbox.output_audio_event(bot, report)]
    return []


async def _relaunch(svc: Services, bot_id: str) -> None:
    """After ``bot_detected → booting``: a fresh runner (and browser profile) with a new token."""
    lost: str | None = None
    async with Handoff(svc) as handoff:
        now = svc.clock.now()
        token = new_token()
        credentials: dict[str, Any] | None = None
        async with svc.store.transaction() as tx:
            bot = await tx.bots.get(bot_id, for_update=True)
            if bot is None or bot.status is not Status.BOOTING:
                return
            slot = await handoff.claim(tx)
            if slot is None:
                lost = FAILED_TO_LAUNCH
            else:
                try:
                    credentials = await platform_credentials(svc, tx, bot)
                except errors.CredentialsUnreadable:
                    log.exception("bot %s: its credentials do not decrypt", bot.id)
                    lost = UNREADABLE
                else:
                    bot = bot.evolve(
                        runner_token_hash=token_hash(token), dispatched_at=now, last_seen_at=None
                    )
                    await tx.bots.update(bot)
                    await handoff.assign(tx, slot, bot, token, credentials)
    if lost is not None:  # after the unused slot went back
        await runner_lost(svc, bot_id, sub_code=lost)


async def start_joining(
    svc: Services, bot_id: str, token: str, request: reports.JoinRequest
) -> reports.JoinAnswer:
    """The runner is about to navigate: ``booting → joining`` and the bot's values as they
    stand, in one transaction. A PATCH that committed before is in the answer; one after it is
    refused (the bot is ``joining``): so the bot joins under the name, at the URL, that the
    last accepted PATCH gave. Answered again, unchanged, while ``joining`` (a retried call);
    a cancelled bot gets ``stop`` and no briefing."""
    now = svc.clock.now()
    briefing: reports.Briefing | None = None
    changed: OutboxEvent | None = None
    async with svc.store.transaction() as tx:
        bot = _authentic(await tx.bots.get(bot_id, for_update=True), token)
        if bot.status in (Status.BOOTING, Status.JOINING):
            try:
                credentials = await platform_credentials(svc, tx, bot)
            except errors.CredentialsUnreadable:
                log.exception("bot %s: its credentials do not decrypt", bot.id)
                bot, changed = try_step(bot, lifecycle.Fail(UNREADABLE), now)
            else:
                if bot.status is Status.BOOTING:
                    bot, changed = try_step(bot, lifecycle.StartJoining(), request.at)
                briefing = briefing_for(bot, credentials)
        bot = bot.evolve(last_seen_at=now)
        await tx.bots.update(bot)
        if changed is not None:
            await emit_all(svc, tx, [changed], bot)
    if changed is not None:
        svc.reactions.events_committed()
        if bot.status is Status.JOINING:
            svc.reactions.bot_joining(bot, request.at)
    commands = commands_for(bot).commands
    return reports.JoinAnswer(briefing=None if commands else briefing, commands=commands)


def briefing_for(bot: Bot, credentials: dict[str, Any] | None) -> reports.Briefing:
    """The editable part of the runner's :class:`~meetbot.ports.Assignment`, as it stands."""
    return reports.Briefing(
        meeting_url=bot.meeting.url,
        platform=bot.meeting.platform.value,
        bot_name=bot.bot_name,
        stop_options=bot.stop_options.as_dict(),
        recording=bot.recording.as_dict(),
        credentials=credentials,
    )


async def heartbeat_commands(svc: Services, bot_id: str, token: str) -> Commands:
    async with svc.store.transaction(write=False) as tx:
        bot = _authentic(await tx.bots.get(bot_id, history=False), token)
        chat, audio = await pending_outputs(tx, bot)
    runner_done(svc, bot)  # a runner polling after its bot moved on gets "stop"
    return commands_for(bot, chat, audio)

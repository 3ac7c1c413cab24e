"""Bot use cases: create, read, list, update, delete, leave_call."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from meetbot import errors
from meetbot.contract import policies
from meetbot.contract.lifecycle import Dispatch, Leave, Refuse, Reschedule, Status, StopReason
from meetbot.contract.models import (
    Bot,
    BotKind,
    IdempotencyRecord,
    MeetingRef,
    RealtimeEndpoint,
    RecordingOptions,
    StatusChange,
    StopOptions,
)
from meetbot.control.bot_image import BotImage
from meetbot.control.ports import BotQuery
from meetbot.control.service import capacity
from meetbot.control.service import idempotency as answers
from meetbot.control.service.camera import store_image
from meetbot.control.service.chat import chat_request, check_chat
from meetbot.control.service.core import (
    Services,
    emit,
    new_id,
    new_token,
    runner_done,
    token_hash,
    transition,
)
from meetbot.control.service.credentials import (
    platform_credentials,
    require_transcription_key,
    seal_for_bot,
)
from meetbot.control.service.handoff import Handoff
from meetbot.control.service.patches import BotPatch, Changes, checked_changes
from meetbot.control.service.stream import check_separate
from meetbot.control.webhooks import outbox, sealed_secrets, signing
from meetbot.transcription.models import validate_model
from meetbot.unset import UNSET

log = logging.getLogger("meetbot.control.service.bots")


@dataclass(frozen=True, slots=True)
class BotSpec:
    """A validated create request."""

    meeting: MeetingRef
    bot_name: str = "Meeting Bot"
    join_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    stop_options: StopOptions = field(default_factory=StopOptions)
    transcription_model: str = "whisper-base"
    deduplication_key: str | None = None
    webhook_url: str | None = None
    recording: RecordingOptions = field(default_factory=RecordingOptions)
    credentials: Mapping[str, Any] | None = field(default=None, repr=False)
    """Plain credentials (see :mod:`meetbot.control.service.credentials`); sealed before storing."""
    expected_duration: int | None = None
    """Minutes; a scheduled bot reserves capacity for this long after ``join_at``."""
    entry_message: str | None = None
    """Sent once in the meeting's chat when the bot is admitted (``chat.entry_message``)."""
    bot_image: BotImage | None = None
    """A checked picture: stored under the bot's prefix with the bot (:mod:`.camera`)."""
    realtime_endpoints: tuple[RealtimeEndpoint, ...] = ()
    """Checked by :func:`meetbot.control.realtime_endpoints.validate_endpoints`."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the caller answered the first request with, given again to a repeat: stored as
    the caller made it, never read by the service."""

    status_code: int
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A create sent with an ``Idempotency-Key``: the key, the request as sent (its hash
    tells a repeat from a reuse), and the caller's answer for the new bot, stored with it."""

    key: str
    request: Mapping[str, Any]
    answer: Callable[[Bot], Answer]


@dataclass(frozen=True, slots=True)
class Created:
    """A new bot, as committed, but with its ``webhook_secret`` in clear (stored sealed): the
    create's answer shows it, this once."""

    bot: Bot


@dataclass(frozen=True, slots=True)
class Replayed:
    """The same key and request came again within ``idempotency_ttl``: nothing was created;
    ``answer`` is the one stored for the first request."""

    answer: Answer


def request_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def create_bot(
    svc: Services,
    workspace_id: str,
    spec: BotSpec,
    *,
    idempotency: IdempotentRequest | None = None,
) -> Created | Replayed:
    """Create a bot; ad-hoc bots claim a warm slot at once or fail with 507.

    Its ``webhook_secret`` is stored sealed (see :mod:`meetbot.control.webhooks.sealed_secrets`)
    and so is the answer kept for an ``Idempotency-Key`` (:mod:`.idempotency`)."""
    now = svc.clock.now()
    digest = request_hash(idempotency.request) if idempotency else ""
    if idempotency:
        replay = await _replay(svc, workspace_id, idempotency.key, digest)
        if replay:
            return replay
    kind = policies.classify_join_at(spec.join_at, now, svc.settings.scheduled_threshold)
    if spec.entry_message is not None:
        check_chat(spec.meeting.platform)
    if any("audio_separate_raw.data" in e.events for e in spec.realtime_endpoints):
        check_separate(spec.meeting.platform)
    async with Handoff(svc) as handoff:
        async with svc.store.transaction() as tx:
            slot = await handoff.claim_warm(tx) if kind is BotKind.ADHOC else None
            if kind is BotKind.ADHOC and slot is None:
                raise errors.PoolExhausted()
            token = new_token() if slot else None
            if spec.deduplication_key:
                dup = await tx.bots.find_active_duplicate(workspace_id, spec.deduplication_key)
                if dup:
                    raise errors.DuplicateBot(dup.id)
            secret = signing.new_secret() if _signs(spec) else None
            bot = _new_bot(workspace_id, spec, kind, now, token)
            if secret:
                bot = bot.evolve(
                    webhook_secret=sealed_secrets.seal_for_bot(svc.secret_box, bot.id, secret)
                )
            if spec.credentials:
                bot = seal_for_bot(svc, bot, spec.credentials)
            if spec.bot_image:  # stored before the row: a storage failure stores no bot
                bot = bot.evolve(bot_image=await store_image(svc, bot.id, spec.bot_image))
            await capacity.reserve(svc, tx, bot)  # a scheduled bot books its window, or 409
            if slot:  # an ad-hoc bot: not in a place promised to a scheduled bot (507)
                await capacity.admit_adhoc(svc, tx, bot)
            bot = await tx.bots.insert(bot)
            if spec.entry_message is not None:
                await tx.observations.append(bot.id, chat_request(now, spec.entry_message))
            shown = bot.evolve(webhook_secret=secret)
            if slot and token:
                credentials = await platform_credentials(svc, tx, bot)
                await handoff.assign(tx, slot, bot, token, credentials)
            event = outbox.status_update_event(bot, None, bot.state, now)
            queued = await emit(svc, tx, event, bot)
            if idempotency:
                # An expired record for this key may remain until the janitor runs.
                await tx.idempotency.purge(now - _ttl(svc))
                answer = idempotency.answer(shown)
                body = answers.seal_answer(svc, workspace_id, idempotency.key, answer.body)
                await tx.idempotency.put(
                    IdempotencyRecord(
                        workspace_id, idempotency.key, digest, answer.status_code, body, now
                    )
                )
        if queued:  # a feed-only event needs no delivery worker
            svc.reactions.events_committed()
    return Created(shown)


async def _replay(svc: Services, workspace_id: str, key: str, digest: str) -> Replayed | None:
    async with svc.store.transaction(write=False) as tx:
        record = await tx.idempotency.get(workspace_id, key)
    if record is None or record.created_at < svc.clock.now() - _ttl(svc):
        return None
    if record.request_hash != digest:
        raise errors.IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        )
    return Replayed(
        Answer(record.status_code, answers.open_answer(svc, workspace_id, key, record.body))
    )


def _ttl(svc: Services) -> timedelta:
    return timedelta(seconds=svc.settings.idempotency_ttl)


def _signs(spec: BotSpec) -> bool:
    """A bot gets a signing secret for its ``webhook_url`` or a ``webhook`` realtime endpoint."""
    return bool(spec.webhook_url) or any(e.type == "webhook" for e in spec.realtime_endpoints)


def _new_bot(
    workspace_id: str, spec: BotSpec, kind: BotKind, now: datetime, token: str | None
) -> Bot:
    status = Status.SCHEDULED if kind is BotKind.SCHEDULED else Status.BOOTING
    return Bot(
        id=new_id(),
        workspace_id=workspace_id,
        meeting=spec.meeting,
        bot_name=spec.bot_name,
        join_at=spec.join_at,
        kind=kind,
        status=status,
        metadata=dict(spec.metadata),
        stop_options=spec.stop_options,
        transcription_model=spec.transcription_model,
        deduplication_key=spec.deduplication_key,
        webhook_url=spec.webhook_url,
        recording=spec.recording,
        expected_duration=spec.expected_duration,
        realtime_endpoints=spec.realtime_endpoints,
        runner_token_hash=token_hash(token) if token else None,
        dispatched_at=now if token else None,
        created_at=now,
        updated_at=now,
        status_changes=(StatusChange(status, None, None, None, now),),
    )


async def get_bot(svc: Services, workspace_id: str, bot_id: str) -> Bot:
    async with svc.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id)
    if bot is None:
        raise errors.NotFound("No bot with this id.")
    return bot


async def list_bots(
    svc: Services, workspace_id: str, query: BotQuery
) -> tuple[list[Bot], int | None]:
    """A page of bots, newest first, and the cursor of the next page (or ``None``)."""
    async with svc.store.transaction(write=False) as tx:
        bots = await tx.bots.list(workspace_id, _one_more(query))
    if len(bots) > query.limit:
        bots = bots[: query.limit]
        return bots, bots[-1].seq
    return bots, None


def _one_more(query: BotQuery) -> BotQuery:
    return replace(query, limit=query.limit + 1)


async def update_bot(
    svc: Services,
    workspace_id: str,
    bot_id: str,
    patch: BotPatch,
    *,
    new_webhook_secret: str | None = None,
) -> Bot:
    """PATCH: every field until the bot starts joining, ``metadata`` at any time (the rules:
    :func:`policies.check_update`). The fields change at once, and the status with them only
    for ``join_at``: null joins now; far ahead, a ``booting`` bot goes back to ``scheduled``.

    A ``booting`` bot's runner reads the new values when it starts joining
    (:func:`meetbot.control.service.runners.start_joining`).

    ``new_webhook_secret``: the signing secret a bot with a ``webhook_url`` and no secret yet
    gets (a bot given its first ``webhook_url`` by PATCH); ignored for a bot that has one.
    It is stored sealed; the bot returned carries it in clear, to be shown this once.
    """
    now = svc.clock.now()
    changes = await checked_changes(svc, patch)
    if "transcription_model" in changes.fields or changes.credentials is not UNSET:
        await _require_key(svc, workspace_id, bot_id, changes)
    async with Handoff(svc) as handoff:
        async with svc.store.transaction() as tx:
            bot = await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True)
            if bot is None:
                raise errors.NotFound("No bot with this id.")
            update = policies.check_update(
                bot,
                only_metadata=changes.only_metadata,
                join_at=changes.join_at,
                now=now,
                threshold_s=svc.settings.scheduled_threshold,
            )
            # Scheduled capacity (issue 11 §2): a new join_at must re-check the bot's
            # reservation window here, before anything is stored (409 schedule_full).
            key = changes.fields.get("deduplication_key")
            if key and key != bot.deduplication_key:
                dup = await tx.bots.find_active_duplicate(workspace_id, key)
                if dup and dup.id != bot.id:
                    raise errors.DuplicateBot(dup.id)
            before = bot
            bot = bot.evolve(updated_at=now, **changes.fields)
            if changes.join_at is not UNSET:
                bot = bot.evolve(join_at=changes.join_at)
            shown: str | None = None
            if new_webhook_secret and bot.webhook_url and not bot.webhook_secret:
                shown = new_webhook_secret
                sealed = sealed_secrets.seal_for_bot(svc.secret_box, bot.id, new_webhook_secret)
                bot = bot.evolve(webhook_secret=sealed)
            if changes.credentials is not UNSET:
                bot = seal_for_bot(svc, bot, changes.credentials)
            if update is policies.Update.JOIN_NOW:
                # A scheduled bot asked to join now becomes ad-hoc: claim a warm slot or 507.
                slot = await handoff.claim_warm(tx)
                if slot is None:
                    raise errors.PoolExhausted()
                token = new_token()
                credentials = await platform_credentials(svc, tx, bot)
                bot = bot.evolve(
                    kind=BotKind.ADHOC, runner_token_hash=token_hash(token), dispatched_at=now
                )
                await capacity.admit_adhoc(svc, tx, bot)
                bot = await transition(svc, tx, bot, Dispatch(), now)
                await handoff.assign(tx, slot, bot, token, credentials)
            elif update is policies.Update.RESCHEDULE:
                # Its runner's token is revoked: the runner hears 401 and exits, which frees
                # its capacity; the scheduler dispatches the bot again at its new time.
                bot = bot.evolve(
                    kind=BotKind.SCHEDULED,
                    runner_token_hash=None,
                    dispatched_at=None,
                    last_seen_at=None,
                )
                bot = await transition(svc, tx, bot, Reschedule(), now)
                await capacity.reserve(svc, tx, bot)  # its new window, or 409 (rolled back)
            else:
                await capacity.reserve(svc, tx, bot, previous=before)  # a window moved: 409?
                await tx.bots.update(bot)
        if update is not policies.Update.FIELDS:
            svc.reactions.events_committed()
        if update is policies.Update.RESCHEDULE:
            svc.commands.notify(bot.id)  # wakes the old runner's long poll: it is answered 401
    return bot.evolve(webhook_secret=shown) if shown else bot


async def _require_key(svc: Services, workspace_id: str, bot_id: str, changes: Changes) -> None:
    """The bot as patched still has a key for its transcription model (create's rule)."""
    current = await get_bot(svc, workspace_id, bot_id)
    model = changes.fields.get("transcription_model", current.transcription_model)
    own = None if changes.credentials is UNSET else (changes.credentials or {})
    await require_transcription_key(svc, workspace_id, validate_model(model), own=own, bot=current)


async def delete_bot(svc: Services, workspace_id: str, bot_id: str) -> None:
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True)
        if bot is None:
            raise errors.NotFound("No bot with this id.")
        policies.check_delete(bot)
        await tx.bots.delete(bot.id)
        await emit(svc, tx, outbox.bot_deleted_event(bot, svc.clock.now()), bot)
    svc.reactions.events_committed()


async def leave_call(svc: Services, workspace_id: str, bot_id: str) -> Bot:
    """Remove a dispatched bot from its call."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True)
        if bot is None:
            raise errors.NotFound("No bot with this id.")
        policies.check_command(bot)
        bot = bot.evolve(leave_requested_at=bot.leave_requested_at or now)
        if bot.status is Status.RECORDING:
            bot = await transition(svc, tx, bot, Leave(StopReason.MANUALLY_STOPPED), now)
        elif bot.status in (Status.BOOTING, Status.JOINING):
            bot = await transition(svc, tx, bot, Refuse(StopReason.MANUALLY_STOPPED), now)
        else:
            await tx.bots.update(bot)
    svc.reactions.events_committed()
    svc.commands.notify(bot.id)
    runner_done(svc, bot)
    return bot

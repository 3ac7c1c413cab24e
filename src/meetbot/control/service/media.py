"""Media use cases: what the media worker made becomes state (events, statuses) here.

:mod:`meetbot.control.media` computes (the recording, the transcript, live segments) and stores the
documents; it then calls one use case, which is one transaction. A use case that ends a
media step reads the bot under lock and changes nothing if the bot is gone or no longer in
the status the work was for (another replica got there first); else it emits the step's
``*.ready`` event with the status change, and gives the bot's media lease up in the same
transaction when no media work is left (:data:`MEDIA_WORK`). Each returns the bot as
committed (``None``: it is gone).

==========================  ===============  ==============================================
use case                    from             effect
==========================  ===============  ==============================================
:func:`recording_ready`     ``processing``   ``recording.ready``; → ``transcribing``, or
                                             ``finished`` (model ``none``)
:func:`no_recording`        ``processing``   → ``finished`` (no audio: no event)
:func:`transcript_ready`    ``transcribing`` ``transcript.ready``; → ``finished``
:func:`transcript_failed`   ``transcribing`` → ``invalid_api_key`` / ``failed`` (the
                                             vendor's refusal or error)
:func:`salvaged`            ``failed``       ``recording.ready`` with ``"salvaged": true``;
                                             the status stays
:func:`media_failed`        any              → ``failed`` (``recording_failed``,
                                             ``processing_failed``)
:func:`transcript_data`     any              ``transcript.data`` (live segments)
:func:`delete_observations` no call, no work  the bot's observations go (``delete_data``)
==========================  ===============  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from meetbot import errors
from meetbot.contract import lifecycle
from meetbot.contract.lifecycle import DISPATCHED, Status
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.control.ports import Tx
from meetbot.control.service.core import Services, emit, emit_all, try_transition
from meetbot.control.webhooks import outbox

MEDIA_WORK = (Status.PROCESSING, Status.TRANSCRIBING)
"""The statuses in which a bot's media still has work to do."""
RECORDING_FAILED = "recording_failed"
PROCESSING_FAILED = "processing_failed"


class HeldLease(Protocol):
    """The worker's hold on a bot's media (:class:`meetbot.control.media.lease.MediaLease`)."""

    async def release_in(self, tx: Tx, bot_id: str) -> None:
        """Give the lease up in ``tx``."""
        ...

    def released(self, bot_id: str) -> None:
        """``tx`` above has committed."""
        ...


Ready = Callable[[Bot, datetime], Sequence[OutboxEvent]]


async def recording_ready(
    svc: Services,
    bot_id: str,
    recording: Mapping[str, Any],
    *,
    transcribe: bool,
    lease: HeldLease,
) -> Bot | None:
    """``recording`` (its webhook view) is stored: ``processing → transcribing`` when the
    bot's model transcribes, else ``→ finished``."""
    event = lifecycle.Processed() if transcribe else lifecycle.Finish()

    def ready(bot: Bot, now: datetime) -> list[OutboxEvent]:
        return [outbox.recording_ready_event(bot, now, recording)]

    return await _end_step(svc, bot_id, Status.PROCESSING, event, lease, ready)


async def no_recording(svc: Services, bot_id: str, *, lease: HeldLease) -> Bot | None:
    """The bot wrote no audio: it ends ``finished`` with no recording and no event."""
    return await _end_step(svc, bot_id, Status.PROCESSING, lifecycle.Finish(), lease)


async def transcript_ready(
    svc: Services, bot_id: str, transcript: Mapping[str, Any], *, lease: HeldLease
) -> Bot | None:
    """The final transcript is stored (``transcript`` is its summary): ``→ finished``."""

    def ready(bot: Bot, now: datetime) -> list[OutboxEvent]:
        return [outbox.transcript_ready_event(bot, now, transcript)]

    return await _end_step(svc, bot_id, Status.TRANSCRIBING, lifecycle.Finish(), lease, ready)


async def transcript_failed(
    svc: Services, bot_id: str, event: lifecycle.Event, *, lease: HeldLease
) -> Bot | None:
    """No transcript: ``event`` says why (``RejectApiKey``: the vendor refused its key, or
    there was none; ``Fail``: transcription failed). The recording stays."""
    return await _end_step(svc, bot_id, Status.TRANSCRIBING, event, lease)


async def salvaged(
    svc: Services, bot_id: str, recording: Mapping[str, Any], *, lease: HeldLease
) -> Bot | None:
    """A failed bot's chunks were joined into ``recording``: ``recording.ready`` says
    ``"salvaged": true``; the bot stays ``failed``."""

    def ready(bot: Bot, now: datetime) -> list[OutboxEvent]:
        return [outbox.recording_ready_event(bot, now, {**recording, "salvaged": True})]

    return await _end_step(svc, bot_id, Status.FAILED, None, lease, ready)


async def media_failed(
    svc: Services, bot_id: str, sub_code: str, *, lease: HeldLease
) -> Bot | None:
    """The media work broke for good (``sub_code``: :data:`RECORDING_FAILED`,
    :data:`PROCESSING_FAILED`): the bot ends ``failed`` from whatever status allows it."""
    return await _end_step(svc, bot_id, None, lifecycle.Fail(sub_code), lease)


async def _end_step(
    svc: Services,
    bot_id: str,
    expected: Status | None,
    event: lifecycle.Event | None,
    lease: HeldLease,
    ready: Ready | None = None,
) -> Bot | None:
    """In one transaction: ``ready``'s events and the status change (skipped if the bot is
    no longer in ``expected``), and the lease given up when no media work is left."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, for_update=True)
        if bot is None or (expected is not None and bot.status is not expected):
            return bot
        if ready is not None:
            await emit_all(svc, tx, ready(bot, now), bot)
        if event is not None:
            bot = await try_transition(svc, tx, bot, event, now)
        done = bot.status not in MEDIA_WORK
        if done:
            await lease.release_in(tx, bot_id)
    if done:
        lease.released(bot_id)
    svc.reactions.events_committed()
    return bot


async def transcript_data(
    svc: Services, bot_id: str, segments: Sequence[Mapping[str, Any]]
) -> None:
    """Live transcription committed ``segments`` (their JSON): ``transcript.data``."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, for_update=True)
        if bot is None:
            return
        await emit(svc, tx, outbox.transcript_data_event(bot, now, list(segments)), bot)
    svc.reactions.events_committed()


async def transcript_lagging(svc: Services, bot_id: str, lag_seconds: float) -> None:
    """Live transcription fell ``lag_seconds`` behind the call, or caught up (0):
    ``transcript.lagging``. Nothing is sent for a bot that has left its call."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, for_update=True)
        if bot is None or bot.status not in DISPATCHED:
            return
        event = outbox.transcript_lagging_event(bot, now, lag_seconds)
        await emit(svc, tx, event, bot)


async def transcript_partial(
    svc: Services, bot_id: str, segments: Sequence[Mapping[str, Any]]
) -> None:
    """Live transcription's uncommitted hypothesis changed: ``transcript.partial``."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id)
        if bot is None:
            return
        await emit(svc, tx, outbox.transcript_partial_event(bot, now, list(segments)), bot)
    svc.reactions.events_committed()


async def delete_observations(svc: Services, workspace_id: str, bot_id: str) -> None:
    """``delete_data``'s rows: the bot's observations go; the bot and its history stay (the
    caller then removes the media). Refused while a runner owns the bot (``bot_in_call``) or
    the media worker makes its recording or transcript (``bot_processing``): both would
    write the data back."""
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True)
        if bot is None:
            raise errors.NotFound("No bot with this id.")
        if bot.status in DISPATCHED:
            raise errors.BotInCall(
                f"The bot is {bot.status.value}: make it leave the call (leave_call) and wait "
                "until it has finished before deleting its data."
            )
        if bot.status in MEDIA_WORK:
            raise errors.BotProcessing(
                f"The bot is {bot.status.value}: its recording or transcript is being made; "
                "retry once it has finished."
            )
        await tx.observations.delete_for(bot_id)

"""The outbox: an event and its deliveries are written in the caller's transaction.

Every state change that users may hear about calls :func:`emit` inside the transaction that makes
the change, so the event exists if and only if the change committed. :func:`emit` appends the
event (giving it its feed ``seq``) and adds one delivery per target: each enabled workspace
endpoint whose event-type filter matches, and the bot's own ``webhook_url``.
The event builders below are pure: values in, :class:`OutboxEvent` out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from meetbot.contract.lifecycle import BotState
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.contract.reports import (
    ChatMessage,
    OutputAudioFinished,
    OutputAudioStarted,
    ParticipantJoined,
    ParticipantLeft,
    RecordingPaused,
    RecordingResumed,
    Speaking,
)
from meetbot.control.webhooks.models import Delivery, WebhookEndpoint
from meetbot.control.webhooks.ports import OutboxTx
from meetbot.timefmt import iso

STATUS_UPDATE = "status_update"
PARTICIPANT_JOINED = "participant.joined"
PARTICIPANT_LEFT = "participant.left"
RECORDING_READY = "recording.ready"
TRANSCRIPT_READY = "transcript.ready"
TRANSCRIPT_DATA = "transcript.data"
TRANSCRIPT_LAGGING = "transcript.lagging"
BOT_DELETED = "bot.deleted"
PARTICIPANT_SPEAKING = "participant.speaking"
RECORDING_PAUSED = "recording.paused"
RECORDING_RESUMED = "recording.resumed"
CHAT_MESSAGE = "chat.message"
TRANSCRIPT_PARTIAL = "transcript.partial"
CALENDAR_SYNC_EVENTS = "calendar.sync_events"
CALENDAR_UPDATE = "calendar.update"
OUTPUT_AUDIO_STARTED = "output_audio.started"
OUTPUT_AUDIO_FINISHED = "output_audio.finished"
EVENT_TYPES = (
    STATUS_UPDATE,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_READY,
    TRANSCRIPT_READY,
    TRANSCRIPT_DATA,
    TRANSCRIPT_LAGGING,
    BOT_DELETED,
    PARTICIPANT_SPEAKING,
    RECORDING_PAUSED,
    RECORDING_RESUMED,
    CHAT_MESSAGE,
    TRANSCRIPT_PARTIAL,
    CALENDAR_SYNC_EVENTS,
    CALENDAR_UPDATE,
    OUTPUT_AUDIO_STARTED,
    OUTPUT_AUDIO_FINISHED,
)

DEFAULT_RETRY_WINDOW = 24 * 3600.0


def new_id() -> str:
    return str(uuid.uuid4())


def body_of(event: OutboxEvent) -> str:
    """The JSON text sent for ``event``: compact, UTF-8, the same on every attempt."""
    return json.dumps(event.payload(), separators=(",", ":"), ensure_ascii=False)


# --- builders -------------------------------------------------------------------------------


def bot_event(
    type_: str,
    bot: Bot,
    at: datetime,
    data: Mapping[str, Any],
    *,
    event_id: str | None = None,
) -> OutboxEvent:
    """An event about ``bot``: ``data`` plus ``bot_id`` and the bot's ``metadata``."""
    return OutboxEvent(
        id=event_id or new_id(),
        workspace_id=bot.workspace_id,
        type=type_,
        created_at=at,
        data={"bot_id": bot.id, **data, "metadata": dict(bot.metadata)},
        bot_id=bot.id,
    )


def status_update_event(
    bot: Bot,
    old: BotState | None,
    new: BotState,
    at: datetime,
    *,
    event_id: str | None = None,
) -> OutboxEvent:
    """A lifecycle transition; ``old`` is ``None`` for a bot's first status."""
    data = {
        "old_status": old.status.value if old else None,
        "new_status": new.status.value,
        "sub_status": new.sub_status.value if new.sub_status else None,
        "stop_reason": new.stop_reason.value if new.stop_reason else None,
        "sub_code": new.sub_code,
        "message": new.message,
    }
    return bot_event(STATUS_UPDATE, bot, at, data, event_id=event_id)


def participant_event(
    bot: Bot, report: ParticipantJoined | ParticipantLeft, *, event_id: str | None = None
) -> OutboxEvent:
    type_ = PARTICIPANT_JOINED if isinstance(report, ParticipantJoined) else PARTICIPANT_LEFT
    data = {"participant": {"id": report.participant_id, "name": report.name}, "at": iso(report.at)}
    return bot_event(type_, bot, report.at, data, event_id=event_id)


def speaking_event(bot: Bot, report: Speaking, *, event_id: str | None = None) -> OutboxEvent:
    """A participant started (``speaking: true``) or stopped speaking, at the bot's clock."""
    data = {
        "participant": {"id": report.participant_id, "name": report.name},
        "speaking": report.speaking,
        "at": iso(report.at),
    }
    return bot_event(PARTICIPANT_SPEAKING, bot, report.at, data, event_id=event_id)


def recording_paused_event(
    bot: Bot, report: RecordingPaused | RecordingResumed, *, event_id: str | None = None
) -> OutboxEvent:
    """The runner paused (or resumed) its recording ``offset_s`` seconds into it."""
    type_ = RECORDING_PAUSED if isinstance(report, RecordingPaused) else RECORDING_RESUMED
    data = {"offset_s": round(report.offset_s, 3), "at": iso(report.at)}
    return bot_event(type_, bot, report.at, data, event_id=event_id)


def chat_view(report: ChatMessage) -> dict[str, Any]:
    """A chat message as the API shows it (the event's ``message``, ``GET .../chat/``)."""
    return {
        "id": report.message_id,
        "text": report.text,
        "sender": {"id": report.sender_id, "name": report.sender_name},
        "to": report.to,
        "from_bot": report.from_bot,
        "at": iso(report.at),
    }


def chat_message_event(
    bot: Bot, report: ChatMessage, *, event_id: str | None = None
) -> OutboxEvent:
    return bot_event(
        CHAT_MESSAGE, bot, report.at, {"message": chat_view(report)}, event_id=event_id
    )


def recording_ready_event(
    bot: Bot, at: datetime, recording: Mapping[str, Any], *, event_id: str | None = None
) -> OutboxEvent:
    return bot_event(RECORDING_READY, bot, at, {"recording": dict(recording)}, event_id=event_id)


def transcript_ready_event(
    bot: Bot, at: datetime, transcript: Mapping[str, Any], *, event_id: str | None = None
) -> OutboxEvent:
    data = {"transcript": dict(transcript)}
    return bot_event(TRANSCRIPT_READY, bot, at, data, event_id=event_id)


def transcript_data_event(
    bot: Bot, at: datetime, segments: list[Mapping[str, Any]], *, event_id: str | None = None
) -> OutboxEvent:
    data = {"segments": [dict(s) for s in segments]}
    return bot_event(TRANSCRIPT_DATA, bot, at, data, event_id=event_id)


def transcript_lagging_event(
    bot: Bot, at: datetime, lag_seconds: float, *, event_id: str | None = None
) -> OutboxEvent:
    """The live transcript is ``lag_seconds`` behind the call (0 with ``caught_up``)."""
    data = {"lag_seconds": round(lag_seconds, 1), "caught_up": lag_seconds <= 0}
    return bot_event(TRANSCRIPT_LAGGING, bot, at, data, event_id=event_id)


def transcript_partial_event(
    bot: Bot, at: datetime, segments: list[Mapping[str, Any]], *, event_id: str | None = None
) -> OutboxEvent:
    """Live transcription's hypothesis after its committed segments: words as they are
    decoded, which the next ``transcript.partial`` or ``transcript.data`` may revise."""
    data = {"segments": [dict(s) for s in segments]}
    return bot_event(TRANSCRIPT_PARTIAL, bot, at, data, event_id=event_id)


def bot_deleted_event(bot: Bot, at: datetime, *, event_id: str | None = None) -> OutboxEvent:
    return bot_event(BOT_DELETED, bot, at, {}, event_id=event_id)


def calendar_event(
    type_: str, workspace_id: str, calendar_id: str, at: datetime, data: Mapping[str, Any]
) -> OutboxEvent:
    """An event about a calendar (``calendar.sync_events``, ``calendar.update``)."""
    return OutboxEvent(
        id=new_id(),
        workspace_id=workspace_id,
        type=type_,
        created_at=at,
        data={"calendar_id": calendar_id, **data},
    )


# --- emit -----------------------------------------------------------------------------------


async def emit(
    tx: OutboxTx,
    event: OutboxEvent,
    *,
    bot: Bot | None = None,
    now: datetime,
    retry_window: float = DEFAULT_RETRY_WINDOW,
) -> OutboxEvent:
    """Append ``event`` and its deliveries in ``tx``; return the event with its ``seq``.

    ``bot`` is the bot the event is about (its ``webhook_url`` is a target); pass it when you
    hold it, including a bot deleted in this transaction. Without it the bot is read by
    ``event.bot_id``. Call ``emit`` after the row locks the change needs: the event append
    serialises appending transactions until they commit.

    ``now`` (the transaction's time, from the caller's clock) starts the deliveries'
    ``retry_window`` (the ``webhook_retry_window`` setting): not the event's time, so a
    runner's clock running ahead cannot hold deliveries back.
    """
    stored, _ = await emit_counted(tx, event, bot=bot, now=now, retry_window=retry_window)
    return stored


async def emit_counted(
    tx: OutboxTx,
    event: OutboxEvent,
    *,
    bot: Bot | None = None,
    now: datetime,
    retry_window: float = DEFAULT_RETRY_WINDOW,
) -> tuple[OutboxEvent, int]:
    """:func:`emit`, and how many deliveries it queued (none: the delivery worker needs no wake)."""
    stored, queued = await emit_all(tx, [event], bot=bot, now=now, retry_window=retry_window)
    return stored[0], queued


async def emit_all(
    tx: OutboxTx,
    events: Sequence[OutboxEvent],
    *,
    bot: Bot | None = None,
    now: datetime,
    retry_window: float = DEFAULT_RETRY_WINDOW,
    bots: Sequence[Bot] = (),
) -> tuple[list[OutboxEvent], int]:
    """:func:`emit` for several events of one workspace, in order: the targets are read once
    and the deliveries queued together. ``bots``: more bots the events are about, held by the
    caller (else each is read). Returns the stored events and how many deliveries."""
    if not events:
        return [], 0
    workspace_id = events[0].workspace_id
    assert all(e.workspace_id == workspace_id for e in events), "one workspace per emit_all"
    held = {b.id: b for b in bots}
    if bot is not None:
        held[bot.id] = bot
    for bot_id in {e.bot_id for e in events if e.bot_id is not None} - held.keys():
        found = await tx.bots.get(bot_id)
        if found is not None:
            held[bot_id] = found
    # Read before the append: on PostgreSQL the append holds the feed's lock until COMMIT.
    endpoints = await tx.webhooks.enabled_endpoints(workspace_id)
    stored = await tx.events.append_all(events)
    deliveries: list[Delivery] = []
    for kept in stored:
        target = held.get(kept.bot_id) if kept.bot_id is not None else None
        deliveries += deliveries_for(kept, endpoints, target, now, retry_window)
    if deliveries:
        await tx.webhooks.add_deliveries(deliveries, now)
    return stored, len(deliveries)


def deliveries_for(
    event: OutboxEvent,
    endpoints: list[WebhookEndpoint],
    bot: Bot | None,
    created: datetime,
    retry_window: float,
) -> list[Delivery]:
    """One delivery per target of a stored event (pure)."""
    assert event.seq is not None, "deliveries need a stored event"
    body = body_of(event)

    def delivery(endpoint_id: str | None, url: str, secret: str | None) -> Delivery:
        return Delivery(
            id=new_id(),
            workspace_id=event.workspace_id,
            event_id=event.id,
            event_seq=event.seq or 0,
            event_type=event.type,
            bot_id=event.bot_id,
            endpoint_id=endpoint_id,
            url=url,
            body=body,
            created_at=created,
            expires_at=created + timedelta(seconds=retry_window),
            secret=secret,
        )

    out = [delivery(e.id, e.url, None) for e in endpoints if e.wants(event.type)]
    if bot is not None and bot.webhook_url and bot.id == event.bot_id:
        out.append(delivery(None, bot.webhook_url, bot.webhook_secret))
    return out


def output_audio_event(
    bot: Bot, report: OutputAudioStarted | OutputAudioFinished, *, event_id: str | None = None
) -> OutboxEvent:
    """The bot started (unmuted) or finished saying the clip ``id`` (``output_audio``)."""
    data: dict[str, Any] = {"id": report.id, "at": iso(report.at)}
    if isinstance(report, OutputAudioFinished):
        data["stopped"] = report.stopped
        return bot_event(OUTPUT_AUDIO_FINISHED, bot, report.at, data, event_id=event_id)
    return bot_event(OUTPUT_AUDIO_STARTED, bot, report.at, data, event_id=event_id)

"""Pure decisions: scheduled vs ad-hoc, update/delete/command rules, and the stop timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal

from meetbot import errors
from meetbot.contract.lifecycle import DISPATCHED, TERMINAL, Status, StopReason
from meetbot.contract.models import Bot, BotKind, StopOptions
from meetbot.unset import UNSET, Unset

PAST_TOLERANCE = timedelta(minutes=1)


def classify_join_at(join_at: datetime | None, now: datetime, threshold_s: float) -> BotKind:
    """A ``join_at`` more than the threshold ahead makes a scheduled bot; else ad-hoc.

    Raises :class:`errors.InvalidRequest` for a ``join_at`` more than a minute in the past.
    """
    if join_at is None:
        return BotKind.ADHOC
    if join_at < now - PAST_TOLERANCE:
        raise errors.InvalidRequest(
            "join_at is in the past: it must be at most 1 minute before now."
        )
    if join_at - now > timedelta(seconds=threshold_s):
        return BotKind.SCHEDULED
    return BotKind.ADHOC


class Update(Enum):
    """What a PATCH does besides storing its fields (:func:`check_update`)."""

    FIELDS = "fields"
    """Only fields change; the status stays."""
    JOIN_NOW = "join_now"
    """``join_at: null`` on a scheduled bot: it becomes ad-hoc and claims a warm runner."""
    RESCHEDULE = "reschedule"
    """A ``booting`` bot's ``join_at`` moved beyond the threshold: back to ``scheduled``, its
    runner let go."""


EDITABLE = frozenset({Status.SCHEDULED, Status.BOOTING})
"""Statuses in which every field may change: "Scheduled bots are editable up until they start
joining the meeting" (Recall). ``metadata`` may change at any time."""


def check_update(
    bot: Bot,
    *,
    only_metadata: bool,
    join_at: datetime | Literal[Unset.UNSET] | None,
    now: datetime,
    threshold_s: float,
) -> Update:
    """Rules for a PATCH; ``join_at`` is ``UNSET`` when the request does not change it.

    - ``metadata`` alone: at any time.
    - Any other field: while ``scheduled`` or ``booting`` (not yet joining); from ``joining`` on
      → ``update_bot_failed`` "Only non-dispatched bots can be updated".
    - A new ``join_at`` more than the threshold ahead is accepted (a ``booting`` bot goes back
      to ``scheduled``); nearer, or null on a ``booting`` bot → "Not enough time to launch new
      bot"; more than a minute in the past → "join_at is in the past".
    """
    if only_metadata:
        return Update.FIELDS
    if bot.status not in EDITABLE:
        raise errors.UpdateBotFailed("Only non-dispatched bots can be updated")
    if join_at is UNSET or join_at == bot.join_at:
        return Update.FIELDS
    if join_at is None:
        if bot.status is Status.SCHEDULED:
            return Update.JOIN_NOW
        raise errors.UpdateBotFailed("Not enough time to launch new bot")
    if join_at - now <= timedelta(seconds=threshold_s):
        if join_at < now - PAST_TOLERANCE:
            raise errors.UpdateBotFailed("join_at is in the past")
        raise errors.UpdateBotFailed("Not enough time to launch new bot")
    return Update.RESCHEDULE if bot.status is Status.BOOTING else Update.FIELDS


def check_delete(bot: Bot) -> None:
    if bot.status is not Status.SCHEDULED:
        raise errors.MethodNotAllowed(
            "This bot has already been dispatched and cannot be deleted; "
            "use POST /api/v1/bot/{id}/leave_call/ to remove it from the call."
        )


def check_command(bot: Bot) -> None:
    """Rules for commands such as ``leave_call``: only a bot that is dispatched and not yet
    leaving takes one (``leaving`` is the seed's "is shutting")."""
    if bot.status is Status.SCHEDULED:
        raise errors.BotNotStarted()
    if bot.status in TERMINAL or bot.status not in DISPATCHED or bot.status is Status.LEAVING:
        raise errors.BotCompleted()  # "is shutting" includes a bot already leaving


# --- stop timers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """What a runner has observed of its meeting so far."""

    now: datetime
    joining_since: datetime
    admitted_at: datetime | None = None
    others_ever_seen: bool = False
    alone_since: datetime | None = None
    """Since when the bot has been the only participant (``None`` while others are there)."""
    last_speech_at: datetime | None = None


def stop_reason(obs: Observation, options: StopOptions, unit_s: float = 60.0) -> StopReason | None:
    """The timer that fires now, if any. ``unit_s`` is the length of one option 'minute'.

    ``time_limit`` counts from ``joining_since`` (waiting room included), the others from
    admission (``waiting_room_timeout`` from ``joining_since``).
    """

    def elapsed(since: datetime, minutes: int) -> bool:
        return obs.now - since >= timedelta(seconds=minutes * unit_s)

    if obs.admitted_at is None:
        # time_limit is the hard ceiling from the start of joining: in a lobby it cuts the
        # wait short (there is no not_admitted reason "time_limit"; the message says which).
        if elapsed(obs.joining_since, min(options.waiting_room_timeout, options.time_limit)):
            return StopReason.WAITING_ROOM_TIMEOUT
        return None
    if elapsed(obs.joining_since, options.time_limit):
        return StopReason.TIME_LIMIT
    if (
        options.empty_meeting_timeout
        and not obs.others_ever_seen
        and elapsed(obs.admitted_at, options.empty_meeting_timeout)
    ):
        return StopReason.EMPTY_MEETING_TIMEOUT
    if (
        options.last_person_detection
        and obs.others_ever_seen
        and obs.alone_since is not None
        and elapsed(obs.alone_since, options.last_person_detection)
    ):
        return StopReason.LAST_PERSON_DETECTED
    if options.silence_detection and elapsed(
        obs.last_speech_at or obs.admitted_at, options.silence_detection
    ):
        return StopReason.SILENCE_DETECTION_TRIGGERED
    return None

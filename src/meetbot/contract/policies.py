"""Pure decisions: scheduled vs ad-hoc, update/delete/command rules, and the stop timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from meetbot import errors
from meetbot.contract.lifecycle import DISPATCHED, TERMINAL, Status, StopReason
from meetbot.contract.models import Bot, BotKind, StopOptions

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


def check_update(bot: Bot, new_join_at: datetime | None, now: datetime, threshold_s: float) -> None:
    """Rules for PATCH of scheduling fields (anything but ``metadata``)."""
    if bot.status is not Status.SCHEDULED:
        raise errors.UpdateBotFailed("Only non-dispatched bots can be updated")
    if new_join_at is not None and new_join_at - now <= timedelta(seconds=threshold_s):
        if new_join_at < now - PAST_TOLERANCE:
            raise errors.UpdateBotFailed("join_at is in the past")
        raise errors.UpdateBotFailed("Not enough time to launch new bot")


def check_delete(bot: Bot) -> None:
    if bot.status is not Status.SCHEDULED:
        raise errors.MethodNotAllowed(
            "This bot has already been dispatched and cannot be deleted; "
            "use POST /api/v1/bot/{id}/leave_call/ to remove it from the call."
        )


def check_command(bot: Bot) -> None:
    """Rules for commands such as ``leave_call``."""
    if bot.status is Status.SCHEDULED:
        raise errors.BotNotStarted()
    if bot.status in TERMINAL or bot.status not in DISPATCHED:
        raise errors.BotCompleted()


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
    """The timer that fires now, if any. ``unit_s`` is the length of one option 'minute'."""

    def elapsed(since: datetime, minutes: int) -> bool:
        return obs.now - since >= timedelta(seconds=minutes * unit_s)

    if obs.admitted_at is None:
        if elapsed(obs.joining_since, options.waiting_room_timeout):
            return StopReason.WAITING_ROOM_TIMEOUT
        return None
    if elapsed(obs.admitted_at, options.time_limit):
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

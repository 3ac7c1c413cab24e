"""What a bot's status changes mean to a person: when it joined, how long it was in the call,
and its timeline with spans (the waiting room is a span from its start to the next change).
Pure functions of the domain value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meetbot.contract.lifecycle import ENDED, Status, SubStatus
from meetbot.contract.models import Bot

_IN_CALL = Status.RECORDING


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    status: str
    sub_status: str | None
    reason: str | None
    """The stop reason and sub code, as one text (``waiting_room_timeout / ...``)."""
    message: str | None
    seconds: float | None
    """How long the bot stayed in this step (to the next change, or to now while it lasts)."""
    waiting: bool
    """A waiting-room (or waiting-for-host) span."""
    current: bool
    paused: bool = False
    """A span with the recording paused (``pause_recording`` to ``resume_recording``)."""


def joined_at(bot: Bot) -> datetime | None:
    """When the bot entered the call (its first ``recording``), if it did."""
    return next((c.at for c in bot.status_changes if c.status is _IN_CALL), None)


def in_call_seconds(bot: Bot, now: datetime) -> float | None:
    """From entering the call to leaving it (to now while it is in the call)."""
    start = joined_at(bot)
    if start is None:
        return None
    after = [c.at for c in bot.status_changes if c.at >= start and c.status is not _IN_CALL]
    end = after[0] if after else (now if bot.status not in ENDED else bot.updated_at)
    return max(0.0, (end - start).total_seconds())


def steps(bot: Bot, now: datetime) -> list[Step]:
    changes = bot.status_changes
    out: list[Step] = []
    for i, change in enumerate(changes):
        last = i == len(changes) - 1
        if not last:
            seconds: float | None = (changes[i + 1].at - change.at).total_seconds()
        elif change.status in ENDED:
            seconds = None
        else:
            seconds = (now - change.at).total_seconds()
        reason = " / ".join(
            part
            for part in (change.stop_reason.value if change.stop_reason else None, change.sub_code)
            if part
        )
        out.append(
            Step(
                at=change.at,
                status=change.status.value,
                sub_status=change.sub_status.value if change.sub_status else None,
                reason=reason or None,
                message=change.message,
                seconds=None if seconds is None else max(0.0, seconds),
                waiting=change.sub_status in (SubStatus.WAITING_ROOM, SubStatus.WAITING_FOR_HOST),
                current=last,
                paused=change.sub_status is SubStatus.PAUSED,
            )
        )
    return out

"""Scheduling edges, request rules and the five stop timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meetbot import errors
from meetbot.contract import policies
from meetbot.contract.lifecycle import Status, StopReason
from meetbot.contract.models import Bot, BotKind, StopOptions
from meetbot.contract.policies import Observation, stop_reason
from meetbot.testing.builders import make_bot
from meetbot.unset import UNSET

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
T = timedelta


@pytest.mark.parametrize(
    ("offset", "kind"),
    [
        (None, BotKind.ADHOC),
        (T(seconds=-59), BotKind.ADHOC),
        (T(seconds=-60), BotKind.ADHOC),
        (T(0), BotKind.ADHOC),
        (T(seconds=600), BotKind.ADHOC),
        (T(seconds=600, milliseconds=1), BotKind.SCHEDULED),
        (T(days=30), BotKind.SCHEDULED),
    ],
)
def test_threshold_edges(offset: timedelta | None, kind: BotKind) -> None:
    join_at = None if offset is None else NOW + offset
    assert policies.classify_join_at(join_at, NOW, 600) is kind


def test_join_at_more_than_a_minute_in_the_past_is_refused() -> None:
    with pytest.raises(errors.InvalidRequest, match="past"):
        policies.classify_join_at(NOW - T(seconds=61), NOW, 600)


def update(bot: Bot, join_at: Any = UNSET, *, only_metadata: bool = False) -> policies.Update:
    return policies.check_update(
        bot, only_metadata=only_metadata, join_at=join_at, now=NOW, threshold_s=600
    )


def test_update_rules() -> None:
    scheduled = make_bot(status=Status.SCHEDULED, join_at=NOW + T(hours=1))
    assert update(scheduled, NOW + T(hours=2)) is policies.Update.FIELDS
    assert update(scheduled, None) is policies.Update.JOIN_NOW
    with pytest.raises(errors.UpdateBotFailed, match=r"^Not enough time to launch new bot$"):
        update(scheduled, NOW + T(seconds=600))
    with pytest.raises(errors.UpdateBotFailed, match=r"^join_at is in the past$"):
        update(scheduled, NOW - T(seconds=61))


@pytest.mark.parametrize("status", [Status.SCHEDULED, Status.BOOTING])
def test_every_field_but_join_at_until_joining_even_within_the_threshold(status: Status) -> None:
    """Recall: at 10:00 a bot for 10:01 can still change any field except join_at."""
    bot = make_bot(status=status, join_at=NOW + T(minutes=1))
    assert update(bot) is policies.Update.FIELDS
    assert update(bot, NOW + T(minutes=1)) is policies.Update.FIELDS  # the same join_at
    with pytest.raises(errors.UpdateBotFailed, match=r"^Not enough time to launch new bot$"):
        update(bot, NOW + T(minutes=2))


def test_a_booting_bot_moved_far_ahead_is_rescheduled() -> None:
    booting = make_bot(status=Status.BOOTING, join_at=NOW + T(minutes=5))
    assert update(booting, NOW + T(seconds=601)) is policies.Update.RESCHEDULE
    with pytest.raises(errors.UpdateBotFailed, match=r"^Not enough time to launch new bot$"):
        update(booting, None)  # it is dispatched already: "now" is within the threshold


@pytest.mark.parametrize(
    "status", [s for s in Status if s not in (Status.SCHEDULED, Status.BOOTING)]
)
def test_from_joining_on_only_metadata(status: Status) -> None:
    bot = make_bot(status=status, join_at=NOW + T(hours=1))
    with pytest.raises(errors.UpdateBotFailed, match=r"^Only non-dispatched bots can be updated$"):
        update(bot)
    with pytest.raises(errors.UpdateBotFailed, match=r"^Only non-dispatched bots can be updated$"):
        update(bot, NOW + T(hours=2))
    assert update(bot, only_metadata=True) is policies.Update.FIELDS


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (Status.SCHEDULED, errors.BotNotStarted),
        (Status.FINISHED, errors.BotCompleted),
        (Status.FAILED, errors.BotCompleted),
        (Status.PROCESSING, errors.BotCompleted),
        (Status.BOOTING, None),
        (Status.JOINING, None),
        (Status.RECORDING, None),
        (Status.LEAVING, errors.BotCompleted),
    ],
)
def test_command_rules(status: Status, error: type[Exception] | None) -> None:
    bot = make_bot(status=status)
    if error is None:
        policies.check_command(bot)
    else:
        with pytest.raises(error):
            policies.check_command(bot)


def test_delete_only_before_dispatch() -> None:
    policies.check_delete(make_bot(status=Status.SCHEDULED))
    with pytest.raises(errors.MethodNotAllowed, match="leave_call"):
        policies.check_delete(make_bot(status=Status.JOINING))


OPTS = StopOptions(
    empty_meeting_timeout=10,
    last_person_detection=2,
    waiting_room_timeout=10,
    time_limit=60,
    silence_detection=15,
)
START = NOW


def obs(minutes: float, **kw: object) -> Observation:
    return Observation(now=START + T(minutes=minutes), joining_since=START, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        (obs(9.99), None),
        (obs(10), StopReason.WAITING_ROOM_TIMEOUT),
        (obs(9.9, admitted_at=START), None),
        (obs(10, admitted_at=START), StopReason.EMPTY_MEETING_TIMEOUT),
        (
            obs(10, admitted_at=START, others_ever_seen=True, last_speech_at=START + T(minutes=9)),
            None,
        ),
        (
            obs(3, admitted_at=START, others_ever_seen=True, alone_since=START + T(minutes=1)),
            StopReason.LAST_PERSON_DETECTED,
        ),
        (
            obs(2.9, admitted_at=START, others_ever_seen=True, alone_since=START + T(minutes=1)),
            None,
        ),
        (obs(15, admitted_at=START, others_ever_seen=True), StopReason.SILENCE_DETECTION_TRIGGERED),
        (
            obs(20, admitted_at=START, others_ever_seen=True, last_speech_at=START + T(minutes=6)),
            None,
        ),
        (
            obs(60, admitted_at=START, others_ever_seen=True, last_speech_at=START + T(minutes=59)),
            StopReason.TIME_LIMIT,
        ),
    ],
)
def test_stop_timers(observation: Observation, expected: StopReason | None) -> None:
    assert stop_reason(observation, OPTS) is expected


def test_zero_disables_timers() -> None:
    off = StopOptions(empty_meeting_timeout=0, last_person_detection=0, silence_detection=0)
    alone = obs(500, admitted_at=START, others_ever_seen=True, alone_since=START)
    assert stop_reason(alone, off) is None
    assert stop_reason(obs(500, admitted_at=START), off) is None


def test_timer_unit_shortens_minutes() -> None:
    seen = Observation(
        now=START + T(seconds=2),
        joining_since=START,
        admitted_at=START,
        others_ever_seen=True,
        alone_since=START,
    )
    assert stop_reason(seen, OPTS, unit_s=1.0) is StopReason.LAST_PERSON_DETECTED


def test_time_limit_counts_from_the_start_of_joining_not_from_admission() -> None:
    opts = StopOptions(
        empty_meeting_timeout=0, last_person_detection=0, silence_detection=0, time_limit=30
    )
    # 8 minutes in the waiting room, then admitted: the ceiling is 30 minutes after joining
    admitted = START + T(minutes=8)
    assert stop_reason(obs(29.9, admitted_at=admitted), opts) is None
    assert stop_reason(obs(30, admitted_at=admitted), opts) is StopReason.TIME_LIMIT


def test_time_limit_shorter_than_the_waiting_room_ends_the_wait() -> None:
    opts = StopOptions(waiting_room_timeout=10, time_limit=5)
    assert stop_reason(obs(4.9), opts) is None
    assert stop_reason(obs(5), opts) is StopReason.WAITING_ROOM_TIMEOUT

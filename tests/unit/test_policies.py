"""Scheduling edges, request rules and the five stop timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meetbot import errors
from meetbot.contract import policies
from meetbot.contract.lifecycle import Status, StopReason
from meetbot.contract.models import BotKind, StopOptions
from meetbot.contract.policies import Observation, stop_reason
from meetbot.testing.builders import make_bot

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


def test_update_rules() -> None:
    scheduled = make_bot(status=Status.SCHEDULED, join_at=NOW + T(hours=1))
    policies.check_update(scheduled, NOW + T(hours=2), NOW, 600)
    policies.check_update(scheduled, None, NOW, 600)
    with pytest.raises(errors.UpdateBotFailed, match="Not enough time to launch new bot"):
        policies.check_update(scheduled, NOW + T(seconds=600), NOW, 600)
    with pytest.raises(errors.UpdateBotFailed, match="Only non-dispatched bots can be updated"):
        policies.check_update(make_bot(status=Status.BOOTING), None, NOW, 600)


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
        (Status.LEAVING, None),
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

"""A bot's timeline as the dashboard shows it: join time, time in the call, spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meetbot.contract.lifecycle import Status, StopReason, SubStatus
from meetbot.contract.models import StatusChange
from meetbot.control.dashboard import timeline
from meetbot.testing.builders import make_bot

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(
    status: Status,
    seconds: float,
    sub_status: SubStatus | None = None,
    stop_reason: StopReason | None = None,
) -> StatusChange:
    return StatusChange(status, sub_status, stop_reason, None, at(seconds))


def test_waiting_room_is_a_span_and_time_in_call_counts_to_leaving() -> None:
    bot = make_bot().evolve(
        status=Status.FINISHED,
        status_changes=(
            change(Status.BOOTING, 0),
            change(Status.JOINING, 2),
            change(Status.JOINING, 5, sub_status=SubStatus.WAITING_ROOM),
            change(Status.RECORDING, 35),
            change(Status.LEAVING, 95, stop_reason=StopReason.MANUALLY_STOPPED),
            change(Status.PROCESSING, 96),
            change(Status.FINISHED, 100, stop_reason=StopReason.MANUALLY_STOPPED),
        ),
    )
    steps = timeline.steps(bot, at(500))
    assert [s.waiting for s in steps] == [False, False, True, False, False, False, False]
    assert steps[2].seconds == 30
    assert steps[-1].seconds is None
    assert steps[-1].current
    assert steps[4].reason == "manually_stopped"
    assert timeline.joined_at(bot) == at(35)
    assert timeline.in_call_seconds(bot, at(500)) == 60


def test_a_bot_in_the_call_counts_to_now_and_one_never_admitted_has_no_time() -> None:
    live = make_bot().evolve(
        status=Status.RECORDING,
        status_changes=(change(Status.BOOTING, 0), change(Status.RECORDING, 10)),
    )
    assert timeline.in_call_seconds(live, at(70)) == 60
    assert timeline.steps(live, at(70))[-1].seconds == 60
    waiting = make_bot().evolve(status=Status.BOOTING, status_changes=(change(Status.BOOTING, 0),))
    assert timeline.joined_at(waiting) is None
    assert timeline.in_call_seconds(waiting, at(70)) is None


def test_a_paused_recording_is_a_span_and_still_time_in_the_call() -> None:
    bot = make_bot().evolve(
        status=Status.RECORDING,
        status_changes=(
            change(Status.BOOTING, 0),
            change(Status.RECORDING, 10),
            change(Status.RECORDING, 40, sub_status=SubStatus.PAUSED),
            change(Status.RECORDING, 70),
        ),
    )
    steps = timeline.steps(bot, at(100))
    assert [s.paused for s in steps] == [False, False, True, False]
    assert not any(s.waiting for s in steps)
    assert steps[2].seconds == 30
    assert timeline.in_call_seconds(bot, at(100)) == 90

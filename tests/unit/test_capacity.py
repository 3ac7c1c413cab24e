"""Capacity arithmetic: reservation windows, running bots' spans, overlaps, peaks, timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meetbot.contract.lifecycle import Status
from meetbot.contract.models import Bot, BotKind, MeetingRef, Platform, StopOptions
from meetbot.control.capacity import (
    Holdings,
    Rules,
    Window,
    check,
    expected_length,
    holdings,
    occupancy,
    overlapping,
    peak,
    reservation,
    steps,
    timeline,
)

T = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
RULES = Rules(lead=timedelta(minutes=10), default_minutes=60)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def w(start: float, end: float) -> Window:
    """A window in minutes after T."""
    return Window(at(start), at(end))


def bot(**changes: Any) -> Bot:
    base = Bot(
        id="b",
        workspace_id="ws",
        meeting=MeetingRef(Platform.JANUS, "http://127.0.0.1/room", "1"),
        bot_name="bot",
        join_at=at(0),
        kind=BotKind.SCHEDULED,
        status=Status.SCHEDULED,
        metadata={},
        stop_options=StopOptions(),
        transcription_model="none",
        created_at=at(-60),
        updated_at=at(-60),
    )
    return base.evolve(**changes)


@pytest.mark.parametrize(
    ("expected_duration", "time_limit", "minutes"),
    [
        (None, 720, 60),  # the default
        (30, 720, 30),  # as given
        (90, 45, 45),  # never past time_limit
        (None, 20, 20),  # the default too
        (720, 720, 720),
    ],
)
def test_expected_length(expected_duration: int | None, time_limit: int, minutes: int) -> None:
    b = bot(expected_duration=expected_duration, stop_options=StopOptions(time_limit=time_limit))
    assert expected_length(b, RULES) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("changes", "window"),
    [
        ({}, w(-10, 60)),  # join_at - lead .. join_at + 60
        ({"expected_duration": 15}, w(-10, 15)),
        ({"stop_options": StopOptions(time_limit=5)}, w(-10, 5)),
        ({"join_at": None}, None),
    ],
)
def test_reservation_window(changes: dict[str, Any], window: Window | None) -> None:
    assert reservation(bot(**changes), RULES) == window


@pytest.mark.parametrize(
    ("changes", "now", "window"),
    [
        # a scheduled bot dispatched at join_at - lead: until join_at + its length
        ({"dispatched_at": at(-10)}, 5, w(-10, 60)),
        # an ad-hoc bot (no join_at): from its dispatch, for its length
        ({"join_at": None, "dispatched_at": at(0), "expected_duration": 30}, 10, w(0, 30)),
        # an ad-hoc bot joining a little later: its length counts from join_at
        ({"join_at": at(5), "dispatched_at": at(0)}, 1, w(0, 65)),
        # an overrun (past join_at + 60): as long again from now
        ({"dispatched_at": at(-10)}, 75, w(-10, 135)),
        ({"dispatched_at": at(-10)}, 60, w(-10, 120)),  # its end is now: an overrun
        ({"dispatched_at": None}, 5, w(5, 65)),  # no dispatch time known: from now
    ],
)
def test_occupancy_of_a_running_bot(changes: dict[str, Any], now: float, window: Window) -> None:
    running = bot(status=Status.RECORDING, **changes)
    assert occupancy(running, RULES, at(now)) == window


def test_holdings_sorts_scheduled_from_running_and_drops_the_rest() -> None:
    bots = [
        bot(id="s"),
        bot(id="r", status=Status.JOINING, dispatched_at=at(-10)),
        bot(id="p", status=Status.PROCESSING, dispatched_at=at(-10)),  # no runner any more
        bot(id="f", status=Status.FAILED),
        bot(id="x", join_at=None),  # scheduled without join_at: nothing to reserve
    ]
    held = holdings(bots, RULES, at(0))
    assert held == Holdings(reserved=(w(-10, 60),), running=(w(-10, 60),))
    assert held.all == (w(-10, 60), w(-10, 60))


@pytest.mark.parametrize(
    ("a", "b", "overlaps", "contains"),
    [
        (w(0, 10), w(5, 15), True, False),
        (w(0, 10), w(10, 20), False, False),  # half-open: touching is not overlapping
        (w(0, 30), w(10, 20), True, True),
        (w(10, 20), w(0, 30), True, False),
        (w(0, 10), w(0, 10), True, True),
        (w(0, 10), w(20, 30), False, False),
    ],
)
def test_window_overlaps_and_contains(a: Window, b: Window, overlaps: bool, contains: bool) -> None:
    assert a.overlaps(b) is overlaps
    assert b.overlaps(a) is overlaps
    assert a.contains(b) is contains


@pytest.mark.parametrize(
    ("windows", "within", "count", "most"),
    [
        ([], w(0, 60), 0, 0),
        ([w(0, 60)], w(0, 60), 1, 1),
        ([w(0, 60), w(0, 60)], w(30, 40), 2, 2),
        ([w(0, 30), w(30, 60)], w(0, 60), 2, 1),  # one ends as the other starts
        ([w(0, 31), w(30, 60)], w(0, 60), 2, 2),  # one minute of both
        ([w(0, 10), w(20, 30), w(40, 50)], w(0, 60), 3, 1),
        ([w(0, 60), w(10, 20), w(15, 25), w(50, 70)], w(0, 60), 4, 3),
        ([w(0, 60), w(10, 20)], w(30, 40), 1, 1),  # the peak is outside: only what is inside
        ([w(-30, -10), w(70, 90)], w(0, 60), 0, 0),  # before and after
        ([w(-30, 5)], w(0, 60), 1, 1),  # started before, still there
    ],
)
def test_overlapping_and_peak(windows: list[Window], within: Window, count: int, most: int) -> None:
    assert overlapping(windows, within) == count
    assert peak(windows, within) == most


@pytest.mark.parametrize(
    ("existing", "new", "capacity", "fits", "booked", "most"),
    [
        ([], w(0, 70), 2, True, 0, 0),
        ([w(0, 70)], w(0, 70), 2, True, 1, 1),
        ([w(0, 70), w(0, 70)], w(0, 70), 2, False, 2, 2),  # the third at the same time
        ([w(0, 70), w(0, 70)], w(120, 190), 2, True, 0, 0),  # two hours later
        ([w(0, 70), w(0, 70)], w(70, 140), 2, True, 0, 0),  # right after
        ([w(0, 70), w(0, 70)], w(69, 140), 2, False, 2, 2),  # one minute of three
        ([w(0, 30), w(40, 70)], w(0, 70), 2, True, 2, 1),  # never two at once
        ([w(0, 70)], w(0, 70), 1, False, 1, 1),
        ([w(0, 70)] * 3, w(0, 70), 2, False, 3, 3),  # already over (the cap was lowered)
    ],
)
def test_check(
    existing: list[Window], new: Window, capacity: int, fits: bool, booked: int, most: int
) -> None:
    verdict = check(existing, new, capacity)
    assert (verdict.fits, verdict.booked, verdict.most_at_once) == (fits, booked, most)
    assert verdict.capacity == capacity


@pytest.mark.parametrize(
    ("start", "end", "step", "spans"),
    [
        (0, 15, 5, [w(0, 5), w(5, 10), w(10, 15)]),
        (0, 12, 5, [w(0, 5), w(5, 10), w(10, 12)]),  # the last one is shorter
        (0, 3, 5, [w(0, 3)]),
        (0, 0, 5, []),
    ],
)
def test_steps(start: float, end: float, step: float, spans: list[Window]) -> None:
    assert steps(at(start), at(end), timedelta(minutes=step)) == spans


def test_the_calendar_ends_hold_windows_instead_of_overflowing() -> None:
    last = datetime.max.replace(tzinfo=UTC)
    late = bot(join_at=last - timedelta(minutes=1))
    window = reservation(late, RULES)
    assert window == Window(last - timedelta(minutes=11), last)
    assert steps(last - timedelta(minutes=7), last, timedelta(minutes=5))[-1].end == last
    assert occupancy(late.evolve(status=Status.BOOTING), RULES, late.join_at).end == last


def test_steps_must_move_forward() -> None:
    with pytest.raises(ValueError, match="step must be positive"):
        steps(at(0), at(10), timedelta(0))


def test_timeline_counts_each_step() -> None:
    held = Holdings(reserved=(w(10, 30), w(20, 40)), running=(w(-5, 12),))
    got = timeline(held, 2, steps(at(0), at(45), timedelta(minutes=10)))
    rows = [(s.reserved, s.running, s.booked, s.available) for s in got]
    assert rows == [
        (0, 1, 1, 1),  # 0-10: the running bot
        (1, 1, 2, 0),  # 10-20: it and the first reservation (10-12)
        (2, 0, 2, 0),  # 20-30: both reservations
        (1, 0, 1, 1),  # 30-40
        (0, 0, 0, 2),  # 40-45
    ]
    assert [s.window for s in got][-1] == w(40, 45)
    assert {s.capacity for s in got} == {2}


def test_timeline_shows_overbooking_as_nothing_available() -> None:
    held = Holdings(running=(w(0, 60),) * 3)
    (step,) = timeline(held, 2, [w(0, 5)])
    assert (step.booked, step.available) == (3, 0)

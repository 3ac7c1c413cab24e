"""The in-call chores' bounds: only a verified effect ends a chore; an action that was not
verified uses an attempt; a target not there yet uses only time; both are bounded."""

from __future__ import annotations

import pytest

from meetbot.runner.platforms.chores import Chores, Progress, seen_within


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """A chore answering from a script (its last answer repeats); counts its runs."""

    def __init__(self, *answers: Progress) -> None:
        self.answers = list(answers)
        self.runs = 0

    async def __call__(self) -> Progress:
        self.runs += 1
        return self.answers[min(self.runs, len(self.answers)) - 1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def drive(chores: Chores, clock: Clock, chore: Scripted, seconds: float) -> None:
    """Poll every 250 ms, like the session."""
    end = clock.now + seconds
    while clock.now < end:
        await chores.run("people_panel", chore)
        clock.now += 0.25


async def test_a_click_that_did_not_open_the_panel_is_retried_until_it_did(clock: Clock) -> None:
    chores = Chores(attempts=4, spacing=1.0, clock=clock)
    chore = Scripted(Progress.ACTED, Progress.ACTED, Progress.DONE)
    await drive(chores, clock, chore, 10.0)
    assert chores.done("people_panel")
    assert chore.runs == 3


async def test_runs_are_spaced(clock: Clock) -> None:
    chores = Chores(attempts=100, spacing=1.0, clock=clock)
    chore = Scripted(Progress.ACTED)
    await drive(chores, clock, chore, 3.0)
    assert chore.runs == 3


async def test_unverified_actions_are_bounded_by_attempts(clock: Clock) -> None:
    chores = Chores(attempts=4, spacing=1.0, window=600.0, clock=clock)
    chore = Scripted(Progress.ACTED)
    await drive(chores, clock, chore, 30.0)
    assert chore.runs == 4
    assert chores.given_up("people_panel")
    assert not chores.done("people_panel")


async def test_a_button_that_renders_late_uses_no_attempt(clock: Clock) -> None:
    """Twenty seconds of "not there yet" (late, disabled), then one deaf click, then open."""
    chores = Chores(attempts=4, spacing=1.0, window=60.0, clock=clock)
    chore = Scripted(*[Progress.WAITING] * 20, Progress.ACTED, Progress.DONE)
    await drive(chores, clock, chore, 40.0)
    assert chores.done("people_panel")
    assert chore.runs == 22


async def test_waiting_is_bounded_by_the_window(clock: Clock) -> None:
    chores = Chores(attempts=4, spacing=1.0, window=10.0, clock=clock)
    chore = Scripted(Progress.WAITING)
    await drive(chores, clock, chore, 60.0)
    assert chores.given_up("people_panel")
    assert chore.runs == 11


async def test_a_done_chore_never_runs_again(clock: Clock) -> None:
    chores = Chores(clock=clock)
    chore = Scripted(Progress.DONE)
    await drive(chores, clock, chore, 10.0)
    assert chore.runs == 1


async def test_seen_within_checks_at_least_once_and_gives_up() -> None:
    async def yes() -> bool:
        return True

    async def no() -> bool:
        return False

    assert await seen_within(yes, 0.0)
    assert not await seen_within(no, 0.05, interval=0.01)

"""What ``meetbot demo`` shows while a person waits (:class:`meetbot.demo.DemoView`): a spinner
with the seconds so far and a bar on a terminal, a line every 10 s off one (issue 17 §3: long
operations show progress). The clock and the sleep are the test's."""

from __future__ import annotations

import io

from rich.console import Console

from meetbot.demo import QUIET_LINE_SECONDS, DemoView, change_line


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def view(terminal: bool) -> tuple[DemoView, io.StringIO, Clock]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100, color_system=None)
    clock = Clock()
    return DemoView(console, clock), out, clock


def test_a_wait_on_a_terminal_is_a_spinner_with_what_and_the_seconds() -> None:
    shown, out, clock = view(terminal=True)
    with shown.waiting("starting meetbot serve") as told:
        clock.sleep(3)
        told("the bot is joining")
        clock.sleep(9)
        told("the bot is joining (waiting_room)")
    assert "the bot is joining (waiting_room) (12 s)" in out.getvalue()  # as it was last drawn


def test_a_wait_off_a_terminal_prints_a_line_every_ten_seconds() -> None:
    shown, out, clock = view(terminal=False)
    with shown.waiting("the bot") as told:
        for _ in range(25):  # 25 s in 1 s polls
            told("the bot is booting")
            clock.sleep(1)
    lines = out.getvalue().splitlines()
    assert lines == [
        "  ... the bot is booting (0 s)",
        "  ... the bot is booting (10 s)",
        "  ... the bot is booting (20 s)",
    ]
    assert QUIET_LINE_SECONDS == 10


def test_a_timed_wait_fills_a_bar_then_returns_after_its_seconds() -> None:
    shown, out, clock = view(terminal=True)
    start = clock.now
    shown.timed("alice joins and speaks", 4.0, sleep=clock.sleep)
    assert clock.now - start == 4.0
    assert "alice joins and speaks" in out.getvalue()

    quiet, quiet_out, quiet_clock = view(terminal=False)
    quiet.timed("alice joins and speaks", 4.0, sleep=quiet_clock.sleep)
    assert quiet_clock.now - 1000.0 == 4.0
    assert quiet_out.getvalue() == "  ... alice joins and speaks (4 s)\n"


def test_a_status_change_is_one_line_with_what_it_carries() -> None:
    change = {
        "at": "2026-01-01T10:00:00.000Z",
        "status": "not_admitted",
        "sub_status": None,
        "stop_reason": "waiting_room_timeout",
        "sub_code": None,
    }
    assert (
        change_line(change)
        == "  2026-01-01T10:00:00.000Z  not_admitted stop_reason=waiting_room_timeout"
    )

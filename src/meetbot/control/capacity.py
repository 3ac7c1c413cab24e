"""Bot capacity over time, as pure values: reservation windows, overlaps, peaks, a timeline.

A scheduled bot reserves one place of the capacity (how many bots can run at once) for its
window: from ``join_at - dispatch lead`` (when it is dispatched) to ``join_at`` + its expected
length (``expected_duration`` minutes, else the default, never more than its
``stop_options.time_limit``). A running bot (dispatched, not ended) holds a place from its
dispatch to its expected end; one that runs past it (an overrun) is expected to need as long again
from now, re-estimated at each look. Nothing here reads a clock or a database: the service passes
``now`` and the bots in, and decides what to do with the answers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meetbot.contract.lifecycle import DISPATCHED, Status
from meetbot.contract.models import Bot

LONGEST_MINUTES = 720
"""No window is longer after ``join_at`` than the longest ``time_limit`` (minutes)."""
RUNNING = DISPATCHED
"""The statuses in which a bot holds a runner."""


def plus(at: datetime, delta: timedelta) -> datetime:
    """``at + delta``, held at the calendar's ends (a join_at in year 9999 has a window)."""
    try:
        return at + delta
    except OverflowError:
        edge = datetime.max if delta > timedelta(0) else datetime.min
        return edge.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FixedCapacity:
    """A :class:`~meetbot.ports.BotCapacity` that does not change (one machine's cap)."""

    bots: int

    def total(self) -> int:
        return self.bots


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A half-open time span ``[start, end)``."""

    start: datetime
    end: datetime

    def overlaps(self, other: Window) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Window) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True, slots=True)
class Rules:
    """The settings windows are made of."""

    lead: timedelta
    """``MEETBOT_DISPATCH_LEAD``: a scheduled bot holds its place from this long before join_at."""
    default_minutes: int = 60
    """``MEETBOT_RESERVATION_MINUTES``: the expected length when a bot gives none."""


def expected_length(bot: Bot, rules: Rules) -> timedelta:
    """``expected_duration`` (else the default), never past ``time_limit``, in real minutes."""
    minutes = bot.expected_duration or rules.default_minutes
    return timedelta(minutes=max(1, min(minutes, bot.stop_options.time_limit, LONGEST_MINUTES)))


def reservation(bot: Bot, rules: Rules) -> Window | None:
    """The window a scheduled bot reserves; ``None`` for a bot without ``join_at``."""
    if bot.join_at is None:
        return None
    return Window(plus(bot.join_at, -rules.lead), plus(bot.join_at, expected_length(bot, rules)))


def occupancy(bot: Bot, rules: Rules, now: datetime) -> Window:
    """The span a running bot is expected to hold its place: from its dispatch to its expected
    end (after ``join_at`` if that is later); past that end, as long again from ``now``."""
    start = min(bot.dispatched_at or now, now)
    length = expected_length(bot, rules)
    anchor = max(bot.join_at or start, start)
    end = plus(anchor, length)
    if end <= now:  # an overrun: it still holds its place
        end = plus(now, length)
    return Window(start, end)


@dataclass(frozen=True, slots=True)
class Holdings:
    """What holds capacity: scheduled bots' reservations and running bots' occupancies."""

    reserved: tuple[Window, ...] = ()
    running: tuple[Window, ...] = ()

    @property
    def all(self) -> tuple[Window, ...]:
        return self.reserved + self.running


def holdings(bots: Iterable[Bot], rules: Rules, now: datetime) -> Holdings:
    """Sort ``bots`` into reservations (``scheduled``) and occupancies (running); others hold
    nothing."""
    reserved: list[Window] = []
    running: list[Window] = []
    for bot in bots:
        if bot.status is Status.SCHEDULED:
            window = reservation(bot, rules)
            if window is not None:
                reserved.append(window)
        elif bot.status in RUNNING:
            running.append(occupancy(bot, rules, now))
    return Holdings(tuple(reserved), tuple(running))


def overlapping(windows: Iterable[Window], within: Window) -> int:
    """How many of ``windows`` overlap ``within`` at all."""
    return sum(1 for w in windows if w.overlaps(within))


def peak(windows: Iterable[Window], within: Window) -> int:
    """The most of ``windows`` that overlap one instant of ``within`` (ends before starts at the
    same instant: the spans are half-open)."""
    return max(_Profile(windows).peaks([within]), default=0)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for a new window: whether it fits, and what is booked in it already."""

    fits: bool
    booked: int
    """Windows that overlap the new one."""
    most_at_once: int
    """The most of those at one instant."""
    capacity: int


def check(existing: Iterable[Window], new: Window, capacity: int) -> Verdict:
    """Whether ``new`` fits beside ``existing`` without going over ``capacity`` at any instant."""
    within = [w for w in existing if w.overlaps(new)]
    most = peak(within, new)
    return Verdict(most + 1 <= capacity, len(within), most, capacity)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a timeline."""

    window: Window
    capacity: int
    reserved: int
    """Scheduled bots whose reservation overlaps the step."""
    running: int
    """Running bots expected to hold a place during the step."""
    booked: int
    """The most places held at one instant of the step (reserved and running together)."""

    @property
    def available(self) -> int:
        return max(0, self.capacity - self.booked)


def steps(start: datetime, end: datetime, step: timedelta) -> list[Window]:
    """``[start, end)`` cut into ``step``-long windows (the last one may be shorter)."""
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    out: list[Window] = []
    at = start
    while at < end:
        out.append(Window(at, min(plus(at, step), end)))
        at = plus(at, step)
    return out


def timeline(held: Holdings, capacity: int, spans: Sequence[Window]) -> list[Step]:
    """Per span: the capacity, the reservations and running bots overlapping it, and the peak."""
    reserved = _Counter(held.reserved)
    running = _Counter(held.running)
    booked = _Profile(held.all).peaks(spans)
    return [
        Step(span, capacity, reserved.overlapping(span), running.overlapping(span), most)
        for span, most in zip(spans, booked, strict=True)
    ]


class _Counter:
    """Counts windows overlapping a span in O(log n): those starting before its end, less those
    ended by its start (a subset of the former)."""

    def __init__(self, windows: Iterable[Window]) -> None:
        kept = [w for w in windows if w.start < w.end]
        self._starts = sorted(w.start for w in kept)
        self._ends = sorted(w.end for w in kept)

    def overlapping(self, span: Window) -> int:
        begun = bisect.bisect_left(self._starts, span.end)
        ended = bisect.bisect_right(self._ends, span.start)
        return begun - ended


class _Profile:
    """How many windows hold a place at each instant: a step function, as the times where it
    changes and its value from each of them on."""

    def __init__(self, windows: Iterable[Window]) -> None:
        # (time, 0) for an end sorts before (time, 1) for a start: half-open spans.
        events = sorted(e for w in windows if w.start < w.end for e in ((w.start, 1), (w.end, 0)))
        self._times: list[datetime] = []
        self._values: list[int] = []
        level = 0
        for at, is_start in events:
            level += 1 if is_start else -1
            if self._times and self._times[-1] == at:
                self._values[-1] = level
            else:
                self._times.append(at)
                self._values.append(level)

    def peaks(self, spans: Iterable[Window]) -> list[int]:
        """For each span, the highest value the function takes in it."""
        out = []
        for span in spans:
            first = bisect.bisect_right(self._times, span.start)  # the change after span.start
            level = self._values[first - 1] if first else 0
            last = bisect.bisect_left(self._times, span.end)  # changes before span.end
            out.append(max([level, *self._values[first:last]]))
        return out

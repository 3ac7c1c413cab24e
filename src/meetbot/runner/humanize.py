"""Humanised input: key-by-key typing with realistic delays, pointer moves along a curve.

Bots that type a name in one ``fill()`` and teleport the pointer onto buttons are easy to tell
apart from people; the field reports say humanised input reduces blocking. The timing and path
models are pure functions of a :class:`random.Random` (unit-tested); :class:`Humanizer` is the
thin layer that plays them through Playwright's mouse and keyboard.

``Humanizer(enabled=False)`` falls back to plain ``click()``/``fill()`` (tests, speed);
``speed`` divides every delay (tests that still exercise the humanised path).
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

Point = tuple[float, float]

MIN_KEY_DELAY: Final = 0.035
MAX_KEY_DELAY: Final = 1.5


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Move:
    """Wait ``dt`` seconds, then move the pointer to (``x``, ``y``)."""

    x: float
    y: float
    dt: float


def typing_delays(text: str, rng: random.Random, *, wpm: float = 75.0) -> list[float]:
    """Seconds to wait before each character of ``text``.

    Inter-key intervals are log-normal around the typing speed (``wpm`` words of 5 characters
    a minute), longer after a space and for shifted characters, with an occasional pause to
    "think"; the first key comes after a reaction time.
    """
    mean = 60.0 / (wpm * 5.0)
    delays: list[float] = []
    previous = ""
    for index, char in enumerate(text):
        if index == 0:
            delay = rng.uniform(0.18, 0.45)
        else:
            delay = rng.lognormvariate(math.log(mean), 0.35)
            if previous == " ":
                delay += rng.uniform(0.04, 0.14)
            if char.isupper() or char in '~!@#$%^&*()_+{}|:"<>?':
                delay += rng.uniform(0.02, 0.07)
            if rng.random() < 0.03:
                delay += rng.uniform(0.3, 0.9)
        delays.append(min(max(delay, MIN_KEY_DELAY), MAX_KEY_DELAY))
        previous = char
    return delays


def movement_time(distance: float, target_width: float) -> float:
    """Fitts' law: seconds to point at a target ``target_width`` wide, ``distance`` away."""
    width = max(target_width, 1.0)
    return 0.12 + 0.13 * math.log2(1.0 + max(distance, 0.0) / width)


def _min_jerk(tau: float) -> float:
    """Minimum-jerk progress: slow start, fast middle, slow end."""
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau * tau)


def pointer_path(
    start: Point, end: Point, rng: random.Random, *, target_width: float = 40.0
) -> list[Move]:
    """A curved pointer path from ``start`` to ``end`` (exactly), timed by Fitts' law.

    The curve is a cubic Bézier whose control points sit a third and two thirds of the way,
    pushed sideways by a random amount; points are spaced by minimum-jerk progress, with a
    pixel of tremor on all but the last.
    """
    (x0, y0), (x3, y3) = start, end
    dx, dy = x3 - x0, y3 - y0
    distance = math.hypot(dx, dy)
    if distance < 1.0:
        return [Move(x3, y3, rng.uniform(0.02, 0.06))]
    nx, ny = -dy / distance, dx / distance  # unit normal
    bend = min(distance * 0.25, 120.0)
    c1 = rng.uniform(-bend, bend)
    c2 = rng.uniform(-bend, bend) * 0.6 + c1 * 0.4
    x1, y1 = x0 + dx / 3 + nx * c1, y0 + dy / 3 + ny * c1
    x2, y2 = x0 + 2 * dx / 3 + nx * c2, y0 + 2 * dy / 3 + ny * c2
    steps = min(max(int(distance / 14.0) + 8, 8), 60)
    total = movement_time(distance, target_width) * rng.uniform(0.85, 1.2)
    moves: list[Move] = []
    for i in range(1, steps + 1):
        t = _min_jerk(i / steps)
        u = 1.0 - t
        x = u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3
        y = u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3
        if i < steps:
            x += rng.gauss(0.0, 0.6)
            y += rng.gauss(0.0, 0.6)
        moves.append(Move(x, y, total / steps))
    moves[-1] = Move(x3, y3, moves[-1].dt)
    return moves


def point_in_box(box: Box, rng: random.Random) -> Point:
    """Where a person clicks a target: near its centre, never in its outer quarter."""
    sx = min(max(rng.gauss(0.0, 0.15), -0.25), 0.25)
    sy = min(max(rng.gauss(0.0, 0.15), -0.25), 0.25)
    return box.x + box.width * (0.5 + sx), box.y + box.height * (0.5 + sy)


class Humanizer:
    """Clicks and typing for one page, humanised unless ``enabled`` is false."""

    def __init__(
        self, enabled: bool = True, *, rng: random.Random | None = None, speed: float = 1.0
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.enabled = enabled
        self.speed = speed
        self._rng = rng or random.Random()
        self._pointer: Point | None = None

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    async def pause(self, low: float = 0.25, high: float = 0.8) -> None:
        """A moment between two actions (nothing when disabled)."""
        if self.enabled:
            await self._sleep(self._rng.uniform(low, high))

    async def click(self, page: Page, target: Locator, *, timeout: float = 10.0) -> None:
        """Click ``target`` once it is actionable (Playwright's checks, via a trial click)."""
        ms = timeout * 1000
        if not self.enabled:
            await target.click(timeout=ms)
            return
        await target.click(trial=True, timeout=ms)
        raw = await target.bounding_box(timeout=ms)
        if raw is None:
            await target.click(timeout=ms)
            return
        box = Box(raw["x"], raw["y"], raw["width"], raw["height"])
        await self._move_to(page, point_in_box(box, self._rng), min(box.width, box.height))
        await self._sleep(self._rng.uniform(0.05, 0.15))
        await page.mouse.down()
        await self._sleep(self._rng.uniform(0.05, 0.12))
        await page.mouse.up()

    async def type_into(
        self, page: Page, field: Locator, text: str, *, timeout: float = 10.0
    ) -> None:
        """Replace the field's value with ``text``, key by key."""
        if not self.enabled:
            await field.fill(text, timeout=timeout * 1000)
            return
        await self.click(page, field, timeout=timeout)
        if await field.input_value(timeout=timeout * 1000):
            await field.select_text(timeout=timeout * 1000)
            await page.keyboard.press("Backspace")
        for char, delay in zip(text, typing_delays(text, self._rng), strict=True):
            await self._sleep(delay)
            await page.keyboard.type(char)

    async def _move_to(self, page: Page, target: Point, width: float) -> None:
        if self._pointer is None:
            size = page.viewport_size or {"width": 1280, "height": 720}
            self._pointer = (
                self._rng.uniform(0.2, 0.8) * size["width"],
                self._rng.uniform(0.2, 0.8) * size["height"],
            )
            await page.mouse.move(*self._pointer)
        for move in pointer_path(self._pointer, target, self._rng, target_width=width):
            await self._sleep(move.dt)
            await page.mouse.move(move.x, move.y)
        self._pointer = target

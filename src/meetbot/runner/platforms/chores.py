"""Best-effort actions in the call (captions on, the people panel open, audio joined), retried
until their effect is seen on the page, within bounds, never raising.

A click is not proof: a humanised click is a pointer press at coordinates measured a moment
before, and a page that shifts in between (a menu closing above the toolbar) takes it on empty
space; a button can also render late, stay disabled while the call is set up, or ignore clicks
that land before its handlers are attached. So a chore reports :class:`Progress`, and only a
verified effect (:attr:`Progress.DONE`) ends it. Chores are idempotent: each attempt looks at
the page first, so a toggle that is already open is never clicked shut.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from playwright.async_api import Error as PlaywrightError

from meetbot.runner.platforms.driver import ready, try_click
from meetbot.runner.platforms.reading import any_shown

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

    from meetbot.runner.humanize import Humanizer

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]


class Progress(enum.Enum):
    DONE = "done"
    """The effect is on the page: the chore is over."""
    ACTED = "acted"
    """Clicked (or tried to), the effect not seen yet: uses one attempt."""
    WAITING = "waiting"
    """Nothing to act on yet (not rendered, disabled): uses no attempt, only time."""


class Chores:
    """Runs each named chore at most every ``spacing`` seconds until it is done, for at most
    ``attempts`` actions and ``window`` seconds after its first run."""

    def __init__(
        self,
        attempts: int = 4,
        spacing: float = 1.0,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.spacing = spacing
        self.window = window
        self.clock = clock
        self._done: set[str] = set()
        self._over: set[str] = set()
        self._acted: dict[str, int] = {}
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def done(self, name: str) -> bool:
        return name in self._done

    def given_up(self, name: str) -> bool:
        return name in self._over

    async def run(self, name: str, chore: Callable[[], Awaitable[Progress]]) -> None:
        if name in self._done or name in self._over:
            return
        now = self.clock()
        if now - self._last.get(name, -1e9) < self.spacing:
            return
        self._first.setdefault(name, now)
        self._last[name] = now
        progress = Progress.ACTED
        with contextlib.suppress(PlaywrightError, TimeoutError):
            progress = await chore()
        if progress is Progress.DONE:
            self._done.add(name)
            log.info("chore done: %s", name)
            return
        if progress is Progress.ACTED:
            self._acted[name] = self._acted.get(name, 0) + 1
            log.info("chore %s: not verified yet (attempt %d)", name, self._acted[name])
        if self._acted.get(name, 0) >= self.attempts or self.clock() - self._first[name] >= (
            self.window
        ):
            self._over.add(name)
            log.warning(
                "chore given up: %s (%d attempts, %.0f s)",
                name, self._acted.get(name, 0), self.clock() - self._first[name],
            )  # fmt: skip


async def seen_within(check: Check, seconds: float, interval: float = 0.1) -> bool:
    """Whether ``check`` becomes true within ``seconds`` (checked at least once)."""
    deadline = time.monotonic() + seconds
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


async def click_until(
    page: Page,
    humanizer: Humanizer,
    target: Locator,
    effect: Check,
    *,
    verify: float = 2.0,
    check_first: bool = True,
) -> Progress:
    """Click ``target`` and wait up to ``verify`` seconds for ``effect``.

    Idempotent: with ``check_first`` an effect already there is :attr:`Progress.DONE` without
    a click. A target not shown or not enabled yet is :attr:`Progress.WAITING` (no waiting
    here: the poll goes on).
    """
    if check_first and await effect():
        return Progress.DONE
    if not await ready(target):
        return Progress.WAITING
    if not await try_click(page, humanizer, target):
        return Progress.ACTED
    return Progress.DONE if await seen_within(effect, verify) else Progress.ACTED


async def open_panel(
    page: Page, humanizer: Humanizer, opener: Locator, panel: Sequence[str], verify: float = 2.0
) -> Progress:
    """Open a side panel (people, participants) with ``opener`` unless one of the ``panel``
    selectors is already shown; done only once it is."""
    return await click_until(page, humanizer, opener, lambda: any_shown(page, panel), verify=verify)

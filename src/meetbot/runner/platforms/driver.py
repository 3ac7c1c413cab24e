"""The moving parts every adapter shares: the pre-join step loop, dialogs, chores, the poller.

These are plain helpers an adapter composes (no base class): the adapter owns its tables and
decides the order; these only run them.

- :func:`run_steps` walks a pre-join page: each round it stops if the page has left the
  pre-join stage (a lobby, an error screen, the call), else runs the first step whose element
  is shown and enabled (dismiss a dialog, type the name, turn the camera off, ask to join).
- :class:`PagePoller` turns one page reading into a :class:`Snapshot`.
- :func:`dismiss_dialogs` clicks away known dialogs (consent, "Got it") on every poll.
- The in-call chores (captions on, people panel open) are in ``chores.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator, Page

from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import Phase, Snapshot
from meetbot.runner.platforms.reading import Reading, ReadSpec, read_page
from meetbot.runner.platforms.rules import (
    CaptionTracker,
    NameRules,
    Origins,
    Rule,
    UnknownPageTimer,
    Verdict,
    classify,
    others,
)

log = logging.getLogger(__name__)

UI_ELEMENT_NOT_FOUND = "ui_element_not_found"

Target = Callable[[Page], Locator]


def names_pattern(
    names: Sequence[str], *, prefix: bool = False, any_position: bool = False
) -> re.Pattern[str]:
    """``^(a|b)$`` (``^(a|b)`` with ``prefix``, ``(a|b)`` with ``any_position``), ignoring
    case: accessible names and texts in one query."""
    alternatives = "|".join(re.escape(n) for n in names)
    if any_position:
        return re.compile(alternatives, re.IGNORECASE)
    return re.compile(f"^\\s*(?:{alternatives})" + ("" if prefix else "\\s*$"), re.IGNORECASE)


def button(page: Page | Locator, names: Sequence[str], *, prefix: bool = False) -> Locator:
    """Buttons (or ``role=button`` elements) with any of these accessible names, in the page
    or inside a locator (a dialog)."""
    return page.get_by_role("button", name=names_pattern(names, prefix=prefix))


def css(page: Page, selectors: Sequence[str]) -> Locator:
    """Any of these CSS selectors (one query: the variants are tried in parallel)."""
    return page.locator(", ".join(selectors))


def any_of(*locators: Locator) -> Locator:
    """The first shown of several locators (Playwright's ``or``)."""
    combined = locators[0]
    for other in locators[1:]:
        combined = combined.or_(other)
    return combined.first


@dataclass(frozen=True, slots=True)
class Timings:
    """How long an adapter waits; tests shrink them."""

    join_window: float = 45.0
    """``join()`` gives up looking for the join button after this (the session allows 60 s)."""
    unknown_page: float = 30.0
    """A page that stays unknown (or stuck before joining) this long is an error."""
    action_timeout: float = 5.0
    """One click or fill."""
    sign_in_step: float = 15.0
    """One page of a sign-in flow (e-mail → password → back to the meeting)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do on a pre-join page when ``target`` is shown and enabled."""

    name: str
    target: Target
    act: Callable[[Page, Locator], Awaitable[None]]
    final: bool = False
    """Running this step makes the join request: ``run_steps`` returns."""
    limit: int = 1
    """How many times the step may run (a toggle that flips back runs again)."""
    settle: float = 1.0
    """After acting, wait up to this long for the target to go away (the page reacting), so
    the next round does not act on the same element twice."""
    needed: Callable[[Locator], Awaitable[bool]] | None = None
    """Whether the shown target still needs the step (a name box holding another name)."""
    guard: Callable[[], Awaitable[bool]] | None = None
    """Checked before acting: the step waits while it is false (never ask to join with the
    microphone or camera on, or another name in the box)."""


async def ready(locator: Locator) -> bool:
    """Shown and enabled (``False`` while the page navigates)."""
    try:
        return await locator.is_visible() and await locator.is_enabled()
    except PlaywrightError:
        return False


async def run_steps(
    page: Page,
    steps: Sequence[Step],
    *,
    settled: Callable[[], Awaitable[bool]],
    window: float,
    idle: float = 0.25,
) -> str:
    """Run pre-join steps until a final one ran, the page settled, or ``window`` passed.

    Returns ``"joined"``, ``"settled"`` or ``"timeout"``; never raises for a missing element
    (the poller reports pages it does not know).
    """
    deadline = time.monotonic() + window
    runs: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            if await settled():
                return "settled"
        except PlaywrightError:  # navigating: read again next round
            await asyncio.sleep(idle)
            continue
        for step in steps:
            if runs.get(step.name, 0) >= step.limit:
                continue
            target = step.target(page).first
            if not await ready(target):
                continue
            try:
                if step.needed is not None and not await step.needed(target):
                    continue
                if step.guard is not None and not await step.guard():
                    log.info("pre-join step %s waits: the page is not ready for it", step.name)
                    continue
            except PlaywrightError:
                continue
            runs[step.name] = runs.get(step.name, 0) + 1
            log.info("pre-join step: %s", step.name)
            try:
                await step.act(page, target)
            except (PlaywrightError, TimeoutError) as exc:
                # A failed attempt does not use up the step (e.g. a dialog's backdrop was still
                # fading out over the name box): it is tried again next round, within the window.
                runs[step.name] -= 1
                log.warning("pre-join step %s failed: %s", step.name, exc)
                break
            if step.final:
                return "joined"
            if step.settle > 0:
                with contextlib.suppress(PlaywrightError):
                    await target.wait_for(state="hidden", timeout=step.settle * 1000)
            break
        else:
            await asyncio.sleep(idle)
    return "timeout"


async def try_click(
    page: Page, humanizer: Humanizer, target: Locator, timeout: float = 2.0
) -> bool:
    """Click if it can be clicked within ``timeout``; ``False`` otherwise, never raising."""
    try:
        await humanizer.click(page, target.first, timeout=timeout)
    except (PlaywrightError, TimeoutError) as exc:
        log.debug("click failed: %s", exc)
        return False
    return True


@dataclass(frozen=True, slots=True)
class Dismisser:
    """A dialog's button that closes it, clicked whenever it is shown."""

    name: str
    button: Target


async def dismiss_dialogs(
    page: Page, dismissers: Sequence[Dismisser], humanizer: Humanizer
) -> None:
    for dismisser in dismissers:
        target = dismisser.button(page).first
        if await ready(target):
            log.info("dismissing dialog: %s", dismisser.name)
            await try_click(page, humanizer, target)


class PagePoller:
    """Reads the page and turns the reading into a :class:`Snapshot` (the pure part is in
    ``rules.py``); an unknown page that lasts past ``unknown_after`` becomes an error."""

    def __init__(
        self,
        spec: ReadSpec,
        rules: Sequence[Rule],
        names: NameRules,
        origins: Origins,
        unknown_after: float,
        caption_settle: float = 1.0,
    ) -> None:
        self.spec = spec
        self.rules = rules
        self.names = names
        self.origins = origins
        self.bot_name = ""
        self.timer = UnknownPageTimer(unknown_after)
        self.captions = CaptionTracker(caption_settle)

    async def read(self, page: Page | Frame) -> tuple[Reading, Verdict | None]:
        reading = await read_page(page, self.spec)
        return reading, classify(reading, self.rules, self.origins, self.bot_name)

    def unknown_too_long(self, reading: Reading, verdict: Verdict | None) -> bool:
        """Whether the page has matched no rule for ``unknown_after`` seconds since it last
        changed (URL, text, signals): called on every read, ``join()``'s included."""
        phase = verdict.phase if verdict else Phase.JOINING
        look = (reading.url, reading.text, reading.signals, reading.controls)
        return self.timer.expired(recognised=phase is not Phase.JOINING, look=look)

    def snapshot(self, reading: Reading, verdict: Verdict | None) -> Snapshot:
        phase = verdict.phase if verdict else Phase.JOINING
        if self.unknown_too_long(reading, verdict):
            where = self.origins.to_real(reading.url)
            return Snapshot(
                Phase.ERROR,
                sub_code=UI_ELEMENT_NOT_FOUND,
                detail=f"no known page {self.timer.limit:.0f} s after it last changed at {where} "
                f"(title {reading.title!r}; last match: {verdict.evidence if verdict else None})",
            )
        if phase is not Phase.IN_CALL:
            return Snapshot(
                phase, sub_code=verdict.sub_code if verdict else None,
                detail=verdict.evidence if verdict else None,
            )  # fmt: skip
        return Snapshot(
            Phase.IN_CALL,
            participants=others(reading.people, self.bot_name, self.names),
            sub_code=verdict.sub_code if verdict else None,
            detail=verdict.evidence if verdict else None,
            captions=self.captions.update(reading.captions),
        )

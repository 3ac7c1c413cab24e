"""The bot's microphone and camera buttons in the call (issue 16: ``output_audio``, ``bot_image``).

Call pages name a device's button after what a click does: "Turn on microphone" while it is
off, "Turn off microphone" while it is on ("Unmute" / "Mute", "Start video" / "Stop video").
A :class:`Toggle` lists both kinds of names (and CSS hints) for one device; :func:`switch`
clicks the button that turns the device the wanted way until the other one is shown, and
does nothing when it already is. Audio itself never depends on the page's button alone:
``js/microphone.js`` keeps the bot's track silent except while a clip plays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from meetbot.runner.platforms.chores import Progress, click_until
from meetbot.runner.platforms.driver import any_of, names_pattern

if TYPE_CHECKING:
    from playwright.async_api import FrameLocator, Locator, Page

    from meetbot.runner.humanize import Humanizer


@dataclass(frozen=True, slots=True)
class Toggle:
    """One device's button in the call."""

    turn_on: tuple[str, ...]
    """Accessible names (prefixes) of the button while the device is off."""
    turn_off: tuple[str, ...]
    """Accessible names (prefixes) of the button while the device is on."""
    on_css: tuple[str, ...] = ()
    """CSS hints for the button while the device is off."""
    off_css: tuple[str, ...] = ()
    """CSS hints for the button while the device is on."""


def offering(scope: Page | FrameLocator, toggle: Toggle, *, on: bool) -> Locator:
    """The device's button offering to turn it on (``on``) or off."""
    names, hints = (toggle.turn_on, toggle.on_css) if on else (toggle.turn_off, toggle.off_css)
    by_name = scope.get_by_role("button", name=names_pattern(names, prefix=True))
    return any_of(by_name, scope.locator(", ".join(hints))) if hints else by_name.first


async def switch(
    page: Page, scope: Page | FrameLocator, toggle: Toggle, humanizer: Humanizer, *, on: bool,
    verify: float = 2.0,
) -> bool:  # fmt: skip
    """Turn the device on (``on``) or off; ``True`` once the page shows it so (at once when it
    already did), ``False`` when the button is not there or did not change."""
    progress = await click_until(
        page, humanizer, offering(scope, toggle, on=on),
        offering(scope, toggle, on=not on).is_visible, verify=verify,
    )  # fmt: skip
    return progress is Progress.DONE


async def is_on(scope: Page | FrameLocator, toggle: Toggle) -> bool:
    """Whether the page shows the device on (its button offers to turn it off)."""
    return await offering(scope, toggle, on=False).is_visible()

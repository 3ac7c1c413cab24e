"""Platform name (``Assignment.platform``) → a fresh page object for one bot.

``page_for("google_meet", credentials, humanize=True)``. The platform table
(:data:`meetbot.contract.platforms.PLATFORMS`) names each platform's adapter; this module maps those
names to classes (:data:`ADAPTERS`), imported on first use.
``origins`` and ``timings`` exist for tests and ``meetbot doctor`` against local fixtures;
production leaves them at their defaults (the real hosts, the real waits).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final

from meetbot.contract.platforms import PLATFORMS
from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import MeetingPage
from meetbot.runner.platforms.credentials import Credentials
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.rules import NO_OVERRIDES, Origins


class UnsupportedPlatform(LookupError):
    pass


def _janus(*_: object, **__: object) -> MeetingPage:
    from meetbot.runner.platforms.janus import JanusPage

    return JanusPage()


def _web(module: str, name: str) -> Callable[..., MeetingPage]:
    """A factory for the :class:`~meetbot.runner.platforms.web_page.WebMeetingPage` adapter
    ``name`` in ``meetbot.runner.platforms.<module>``, imported when first called."""

    def factory(
        credentials: Credentials | None,
        humanizer: Humanizer,
        origins: Origins,
        timings: Timings | None,
    ) -> MeetingPage:
        adapter = getattr(importlib.import_module(f"meetbot.runner.platforms.{module}"), name)
        page: MeetingPage = adapter(credentials, humanizer, origins=origins, timings=timings)
        return page

    return factory


ADAPTERS: Final[dict[str, Callable[..., MeetingPage]]] = {
    "janus": _janus,
    "google_meet": _web("google_meet", "GoogleMeetPage"),
    "teams": _web("teams", "TeamsPage"),
    "zoom": _web("zoom", "ZoomPage"),
    "webex": _web("webex", "WebexPage"),
}
"""Adapter name (the table's ``PlatformInfo.adapter``) → a factory of its page object."""

PLATFORM_NAMES: Final = tuple(
    sorted(row.platform.value for row in PLATFORMS if row.adapter in ADAPTERS)
)
"""The platforms this runner can join."""


def _factory(platform: str) -> Callable[..., MeetingPage] | None:
    row = next((r for r in PLATFORMS if r.platform.value == str(platform)), None)
    return None if row is None or row.adapter is None else ADAPTERS.get(row.adapter)


def page_for(
    platform: str,
    credentials: Credentials | None = None,
    humanize: bool | Humanizer = True,
    *,
    origins: Origins = NO_OVERRIDES,
    timings: Timings | None = None,
) -> MeetingPage:
    """A fresh page object for ``platform``; :class:`UnsupportedPlatform` if there is none.

    ``humanize``: ``True`` (default) types and points like a person, ``False`` clicks and
    fills directly, or a configured :class:`Humanizer`.
    """
    factory = _factory(platform)
    if factory is None:
        raise UnsupportedPlatform(
            f"no adapter for platform {platform!r} (have: {', '.join(PLATFORM_NAMES)})"
        )
    humanizer = humanize if isinstance(humanize, Humanizer) else Humanizer(enabled=humanize)
    return factory(credentials, humanizer, origins, timings)

"""Platform name (``Assignment.platform``) → a fresh page object for one bot.

``page_for("google_meet", credentials, humanize=True)``. Adapters are imported on first use.
``origins`` and ``timings`` exist for tests and ``meetbot doctor`` against local fixtures;
production leaves them at their defaults (the real hosts, the real waits).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final

from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import MeetingPage
from meetbot.runner.platforms.credentials import Credentials
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.rules import NO_OVERRIDES, Origins

PLATFORM_NAMES: Final = ("google_meet", "janus", "teams", "zoom")


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


_FACTORIES: Final[dict[str, Callable[..., MeetingPage]]] = {
    "janus": _janus,
    "google_meet": _web("google_meet", "GoogleMeetPage"),
    "teams": _web("teams", "TeamsPage"),
    "zoom": _web("zoom", "ZoomPage"),
}
_NOT_YET: Final = {"webex": "Webex has no adapter yet"}


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
    factory = _FACTORIES.get(str(platform))
    if factory is None:
        why = _NOT_YET.get(str(platform), "unknown platform")
        raise UnsupportedPlatform(
            f"no adapter for platform {platform!r}: {why} (have: {', '.join(PLATFORM_NAMES)})"
        )
    humanizer = humanize if isinstance(humanize, Humanizer) else Humanizer(enabled=humanize)
    return factory(credentials, humanizer, origins, timings)

"""Platform name (``Assignment.platform``) → its page object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from meetbot.runner.platforms.base import MeetingPage
from meetbot.runner.platforms.janus import JanusPage

PLATFORMS: Final[dict[str, Callable[[], MeetingPage]]] = {
    JanusPage.platform: JanusPage,
}


class UnsupportedPlatform(LookupError):
    pass


def page_for(platform: str) -> MeetingPage:
    """A fresh page object for ``platform``; :class:`UnsupportedPlatform` if there is none."""
    try:
        factory = PLATFORMS[platform]
    except KeyError:
        raise UnsupportedPlatform(
            f"no adapter for platform {platform!r} (have: {', '.join(sorted(PLATFORMS))})"
        ) from None
    return factory()

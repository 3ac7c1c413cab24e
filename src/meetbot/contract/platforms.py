"""The one table of meeting platforms: name, URL shapes, runner adapter, credential kind, alias.

Everything that lists platforms derives from :data:`PLATFORMS`: the :class:`Platform` enum
(checked against the table when this module is imported), the accepted URL shapes and the
create-time refusal of platforms without a working adapter (:mod:`meetbot.contract.meeting_urls`),
the API's ``platform`` and ``service`` fields, the runner's adapter registry (which maps
:attr:`PlatformInfo.adapter` names to classes) and the platform credential kinds.

Pure data, no imports from the control plane or the runner: both processes read it.

Invariants (checked by :func:`_check` at import):

- exactly one row per :class:`Platform` member, in the enum's order;
- ``service`` aliases and ``adapter`` names are unique where set;
- a platform whose ``adapter`` is ``None`` is parsed (so the error can name it) but refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "PLATFORMS",
    "PLATFORM_CREDENTIAL_KINDS",
    "SERVICES",
    "Platform",
    "PlatformInfo",
    "by_service",
    "info",
]


class Platform(StrEnum):
    GOOGLE_MEET = "google_meet"
    ZOOM = "zoom"
    TEAMS = "teams"
    WEBEX = "webex"
    JANUS = "janus"


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    platform: Platform
    title: str
    """How people call it ("Google Meet")."""
    url_shapes: tuple[str, ...]
    """The link shapes :func:`meetbot.contract.meeting_urls.parse_meeting_url` accepts, for error
    texts."""
    adapter: str | None
    """The runner's adapter name (``registry.page_for``); ``None``: refused at create."""
    credential_kind: str | None = None
    """The credentials kind its bots sign in with (``google``, ``microsoft``, ``zoom``)."""
    service: str | None = None
    """Skribby's ``service`` alias (``gmeet``, ``zoom``, ``teams``, ``webex``)."""
    chat: bool = False
    """Whether its runner adapter reads and sends the meeting's chat (``send_chat_message``;
    else 400 ``unsupported_for_platform``)."""
    voice: bool = False
    """Whether its runner adapter can unmute the bot and play audio into the meeting
    (``output_audio``; else 400 ``unsupported_for_platform``)."""
    private_chat: bool = False
    """Whether its adapter can send a chat message to one participant (``send_chat_message``
    with ``to`` a participant id; else 400 ``unsupported_for_platform``)."""
    separate_audio: bool = False
    """Whether the platform gives each participant a track of their own and its adapter says
    whose (``?audio=separate``, ``audio_separate_raw.data``; else 400
    ``unsupported_for_platform``)."""

    @property
    def joinable(self) -> bool:
        return self.adapter is not None


PLATFORMS: Final[tuple[PlatformInfo, ...]] = (
    PlatformInfo(
        Platform.GOOGLE_MEET,
        "Google Meet",
        (
            "https://meet.google.com/abc-defg-hij",
            "https://meet.google.com/lookup/<name>",
            "https://g.co/meet/abc-defg-hij",
        ),
        adapter="google_meet",
        credential_kind="google",
        service="gmeet",
        chat=True,  # its chat panel (runner/platforms/chat_panel.py), to everyone only
        voice=True,  # unmutes its in-call microphone (runner/platforms/devices.py)
    ),
    PlatformInfo(
        Platform.ZOOM,
        "Zoom",
        (
            "https://[<sub>.]zoom.us/j/<9-11 digits>[?pwd=<passcode>]",
            "https://[<sub>.]zoom.us/s/<id> | /w/<id> | /wc/join/<id> | /wc/<id>/join",
            "https://[<sub>.]zoom.us/my/<personal link>",
            "the same on zoomgov.com",
        ),
        adapter="zoom",
        credential_kind="zoom",
        service="zoom",
        chat=True,  # its chat panel (runner/platforms/chat_panel.py), to everyone only
        voice=True,  # unmutes its in-call microphone (runner/platforms/devices.py)
    ),
    PlatformInfo(
        Platform.TEAMS,
        "Microsoft Teams",
        (
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_...%40thread.v2/0?context=...",
            "https://teams.microsoft.com/meet/<digits>?p=<passcode>",
            "https://teams.live.com/meet/<digits>?p=<passcode>",
            "the same on teams.cloud.microsoft, teams.microsoft.us, gov./dod.teams.microsoft.us",
        ),
        adapter="teams",
        credential_kind="microsoft",
        service="teams",
        chat=True,  # its chat panel (runner/platforms/chat_panel.py), to everyone only
        voice=True,  # unmutes its in-call microphone (runner/platforms/devices.py)
    ),
    PlatformInfo(
        Platform.WEBEX,
        "Webex",
        (
            "https://<site>.webex.com/meet/<name>",
            "https://<site>.webex.com/<site>/j.php?MTID=m<32 hex>",
            "https://<site>.webex.com/wbxmjs/joinservice/sites/<site>/meeting/download/<32 hex>",
        ),
        adapter="webex",
        service="webex",
        chat=True,  # its chat panel (runner/platforms/chat_panel.py), to everyone only
        voice=True,  # unmutes its in-call microphone (runner/platforms/devices.py)
    ),
    PlatformInfo(
        Platform.JANUS,
        "Janus VideoRoom",
        (
            "http(s)://<host>[:<port>]/[<path>/]videoroomtest.html?room=<positive integer>",
            "http(s)://<host>[:<port>]/[<path>/]mvideoroomtest.html?room=<positive integer>",
        ),
        adapter="janus",
        chat=True,  # the room's TextRoom of the same number (runner/js/janus_chat.js)
        voice=True,  # the bot publishes its microphone (runner/js/microphone.js)
        private_chat=True,  # the TextRoom's private messages
        separate_audio=True,  # a track per publisher; the tap reads whose (runner/js/janus.js)
    ),
)


def _check(table: tuple[PlatformInfo, ...]) -> None:
    if tuple(row.platform for row in table) != tuple(Platform):
        raise AssertionError("PLATFORMS must have one row per Platform, in the enum's order")
    for attr in ("service", "adapter"):
        values = [getattr(row, attr) for row in table if getattr(row, attr) is not None]
        if len(values) != len(set(values)):
            raise AssertionError(f"PLATFORMS: duplicate {attr}")


_check(PLATFORMS)

_BY_PLATFORM: Final[Mapping[Platform, PlatformInfo]] = {row.platform: row for row in PLATFORMS}
_BY_SERVICE: Final[Mapping[str, PlatformInfo]] = {
    row.service: row for row in PLATFORMS if row.service is not None
}

SERVICES: Final[tuple[str, ...]] = tuple(_BY_SERVICE)
"""The accepted ``service`` aliases, in table order."""

PLATFORM_CREDENTIAL_KINDS: Final[tuple[str, ...]] = tuple(
    row.credential_kind for row in PLATFORMS if row.credential_kind is not None
)


def info(platform: Platform | str) -> PlatformInfo:
    """The table row of ``platform`` (a :class:`Platform` or its value); ``ValueError`` if none."""
    return _BY_PLATFORM[Platform(platform)]


def by_service(service: str) -> PlatformInfo | None:
    """The row whose Skribby ``service`` alias is ``service`` (case-insensitive), if any."""
    return _BY_SERVICE.get(service.strip().lower())

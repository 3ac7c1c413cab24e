"""The boundary between the runner's session flow and one meeting platform's web page.

A platform is a page object: it knows selectors and texts; the session knows the flow
(join → wait → record → leave) and the timers. Each adapter is one module in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from playwright.async_api import Page


class Phase(StrEnum):
    """Where the bot stands, as read off the page."""

    JOINING = "joining"  # loading, pre-join screen, request not yet answered
    WAITING_ROOM = "waiting_room"  # in a lobby, waiting to be admitted
    WAITING_FOR_HOST = "waiting_for_host"  # the meeting has not been started by its host
    IN_CALL = "in_call"
    DENIED = "denied"  # the host refused the request
    REMOVED = "removed"  # kicked by the host (in the call)
    ENDED = "ended"  # the meeting ended (for everyone)
    NOT_FOUND = "not_found"  # the URL leads nowhere
    SIGN_IN_REQUIRED = "sign_in_required"
    INVALID_CREDENTIALS = "invalid_credentials"
    BLOCKED = "blocked"  # the platform refused the bot as a bot
    ERROR = "error"  # anything unexpected (see sub_code)


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    name: str
    speaking: bool = False


@dataclass(frozen=True, slots=True)
class ChatLine:
    """A chat message read on the page (not the bot's own)."""

    sender_id: str
    sender_name: str
    text: str
    to: str = "everyone"


@dataclass(frozen=True, slots=True)
class Snapshot:
    phase: Phase
    participants: tuple[Participant, ...] = ()
    """Everyone else in the call (never the bot itself)."""
    sub_code: str | None = None
    detail: str | None = None
    captions: tuple[tuple[str, str], ...] = field(default=())
    """New caption lines since the last poll, as (speaker name, text)."""
    chat: tuple[ChatLine, ...] = field(default=())
    """New chat messages since the last poll (platforms whose adapter reads the chat)."""
    audio_owners: tuple[tuple[int, str], ...] = field(default=())
    """(RTP SSRC, participant id) of the remote audio tracks whose sender the page knows:
    participants' own audio (``?audio=separate``), where the platform gives separate tracks."""


class MeetingPage(Protocol):
    platform: ClassVar[str]

    def init_scripts(self) -> list[str]:
        """JavaScript to add before any page script (besides the audio capture script)."""
        ...

    async def join(self, page: Page, url: str, bot_name: str) -> None:
        """Navigate, enter the name, turn camera and microphone off, ask to join.

        Returns as soon as the request is made; admission is observed through :meth:`poll`.
        """
        ...

    async def poll(self, page: Page) -> Snapshot:
        """Read the page's state. May act (dismiss a dialog, retry a knock); never blocks long."""
        ...

    async def leave(self, page: Page) -> None:
        """Leave the call politely (best effort)."""
        ...

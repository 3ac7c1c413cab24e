"""Mutated variants of the platform fixture pages: the same scenario in other markup.

An adapter that passes against one fixture's markup may still depend on it (an id, a class, a
``<button>`` tag, an exact text). A :class:`Variant` makes the fixture server serve a meeting's
pages through ``tests/fixtures/platforms/common/mutate.js``, which rebuilds the page's DOM as a
real platform could: class names random per load, controls without ids / ``data-tid`` /
``data-test``, ``<div role=button>`` instead of ``<button>``, text inside nested spans, other
reported wordings, a spinner before each screen, a dialog that steals focus while the name is
typed, a chat panel and caption lines holding terminal phrases. ``variants()`` is every single
mutation plus all of them together; ``meeting_state(platform, variant)`` is what
:meth:`PlatformFixtures.meeting` takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

MUTATIONS: Final = (
    "classes",
    "bare",
    "divs",
    "spans",
    "wording",
    "delayed",
    "focus",
    "chatter",
)

WORDINGS: Final[dict[str, dict[str, str]]] = {
    # other publicly reported wordings, and typography a page may use (curly apostrophes,
    # ellipses, trailing periods, other case) for the texts each fixture shows
    "google_meet": {
        "This call has ended": "Your host ended the meeting for everyone",
        "The host ended the call for everyone": "Return to home screen or rejoin",
        "You've been removed from the meeting": "You\u2019ve been removed from the meeting.",
        "Asking to be let in…": "Asking to be let in...",
        "You'll join the call when someone lets you in": "You\u2019ll join the call when "
        "someone lets you in",
        "Someone in the call denied your request to join": "Someone in the call denied "
        "your request to join.",
    },
    "teams": {
        "Continue on this browser": "Continue on this browser\nNo download or installation "
        "required.",
        "Someone in the meeting should let you in soon": "Hi there, someone in the meeting "
        "should let you in soon.",
        "Someone will let you in soon": "Someone will let you in soon.",
        "The meeting has ended": "This meeting has ended.",
        "You've been removed from this meeting": "Someone removed you from the meeting",
        "Sorry, but you were denied access to the meeting.": "Your request to join was declined",
    },
    "zoom": {
        "Please wait, the meeting host will let you in soon.": "PLEASE WAIT, THE MEETING HOST "
        "WILL LET YOU IN SOON",
        "This meeting has been ended by host": "This meeting has been ended by host.",
        "You have been removed from this meeting by the host": "You\u2019ve been removed from "
        "this meeting by the host",
        "The host has removed you from the waiting room": "The host has removed you from the "
        "waiting room.",
    },
    "webex": {
        "Join from this browser": "Join from this browser\nNo downloads needed",
        "The meeting is locked.": "The meeting is locked",
        "The host will let you in soon.": "The host will let you in soon…",
        "The meeting has ended": "Meeting has ended.",
        "You've been removed from the meeting": "You\u2019ve been removed from the meeting",
        "The host denied your request to join": "The host denied your request to join.",
    },
}

TERMINAL_CHATTER: Final = (
    "Sorry, I have to go after the call has ended.",
    "I think the meeting has ended for Carol, she's gone",
    "You've been removed from the meeting invite, Bob",
    "Someone in the call denied your request to join the drive folder",
    "The host ended the meeting for everyone last week",
    "Check your meeting code in the calendar",
    "This meeting has been ended by host yesterday, remember?",
)
"""Chat lines and captions holding terminal phrases: a bot reading them ends a live meeting."""

TERMINAL_CAPTION: Final = {
    "speaker": "Alice",
    "text": "We can pick this up after the call has ended.",
}
TERMINAL_NAME: Final = {"id": "ended", "name": "The meeting has ended", "speaking": False}
"""A participant whose display name is a terminal phrase (anyone can name themselves so)."""


@dataclass(frozen=True, slots=True)
class Variant:
    mutations: tuple[str, ...]

    @property
    def id(self) -> str:
        return "+".join(self.mutations) if len(self.mutations) < len(MUTATIONS) else "all"


def variants() -> list[Variant]:
    """Each mutation alone, then all of them at once."""
    return [Variant((m,)) for m in MUTATIONS] + [Variant(MUTATIONS)]


def meeting_state(platform: str, variant: Variant) -> dict[str, Any]:
    """The fixture meeting's state fields that make its pages mutate (``teams_live`` is Teams)."""
    table = "teams" if platform == "teams_live" else platform
    return {
        "mutations": list(variant.mutations),
        "wording": WORDINGS.get(table, {}),
        "chatter": list(TERMINAL_CHATTER),
    }

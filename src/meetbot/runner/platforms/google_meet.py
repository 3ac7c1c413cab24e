"""Google Meet on the web (``https://meet.google.com/abc-defg-hij``).

Flow: (signed-in bots: Google sign-in first) → dismiss "Got it"/cookie dialogs → type the name
(guests) → microphone and camera off → "Ask to join" / "Join now". Then the poller reads the
lobby ("Asking to be let in…"), the call (call controls, tiles, people panel, captions) and
the screens that end it. Captions are turned on after admission (best effort).

All texts are in :data:`TEXTS` and all selectors in :data:`SELECTORS`: a Meet UI change is an
edit of these two tables. None of it is verified against the live service here (see
``docs/platforms.md``); ``meetbot doctor URL`` is how a user checks a real meeting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import quote

from meetbot.runner.platforms import signin
from meetbot.runner.platforms.base import Phase
from meetbot.runner.platforms.chat_panel import ChatSpec
from meetbot.runner.platforms.chores import Progress, click_until, open_panel
from meetbot.runner.platforms.credentials import AccountLogin
from meetbot.runner.platforms.devices import Toggle
from meetbot.runner.platforms.driver import (
    Dismisser,
    Step,
    any_of,
    button,
    css,
    names_pattern,
    try_click,
)
from meetbot.runner.platforms.reading import CaptionSpec, ParticipantSpec, ReadSpec
from meetbot.runner.platforms.rules import NameRules, Rule, Verdict
from meetbot.runner.platforms.web_page import Chore, WebMeetingPage

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

SIGN_IN_ENTRY: Final = "https://accounts.google.com/ServiceLogin?continue={url}"

TEXTS: Final[dict[str, tuple[str, ...]]] = {
    # pre-join
    "name_box": ("Your name", "What's your name?"),
    "join": ("Ask to join", "Join now", "Join the call now"),
    "mic_off": ("Turn off microphone",),
    "camera_off": ("Turn off camera",),
    "got_it": ("Got it",),
    "cookies": ("Reject all", "Accept all"),
    "sign_in_button": ("Sign in",),
    # outcomes, in the order they are checked
    "not_found": (
        "Check your meeting code",
        "Invalid video call name",
        "Your meeting code has expired",
    ),
    "denied": (
        "Someone in the call denied your request to join",
        "Your request to join was denied",
    ),
    "not_answered": ("No one responded to your request to join",),
    "knocking_disabled": ("You can't ask to join this call", "No one can ask to join this call"),
    "blocked": (
        "You can't join this video call",
        "You can't join this call",
        "There is a problem connecting to this video call",
    ),
    "removed": ("You've been removed from the meeting", "You have been removed from the meeting"),
    "ended": (
        "The call has ended",
        "This call has ended",
        "The meeting has ended for everyone",
        "Your host ended the meeting for everyone",  # the wording public Meet bots match
        "ended the meeting for everyone",
        "ended the call for everyone",
    ),
    "waiting_room": (
        "Asking to be let in",
        "You'll join the call when someone lets you in",
        "Please wait until a meeting host brings you into the call",
    ),
    "waiting_for_host": ("Waiting for the host to join", "Waiting for the host to start"),
    # in the call
    "captions_on": ("Turn on captions",),
    "captions_off": ("Turn off captions",),
    "people": ("People", "Show everyone"),
    "recording_consent": ("is being recorded", "is being transcribed"),
    "recording_consent_ok": ("Join now", "Got it", "Continue"),
    "leave": ("Leave call",),
    "in_call": ("Leave call", "Turn on captions", "Turn off captions", "Chat with everyone"),
    "leave_confirm": ("Just leave the call", "Leave meeting", "Leave call"),
}
SIGN_IN_WALL: Final = (
    ("Sign in", "your Google Account"),
    ("Sign in", "to continue to Google Meet"),
)

SELECTORS: Final[dict[str, tuple[str, ...]]] = {
    "name_box": ('input[aria-label="Your name"]', 'input[placeholder*="name" i]'),
    "in_call": (
        'button[aria-label^="Leave call"]',
        'button[aria-label^="Turn on captions"]',
        'button[aria-label^="Turn off captions"]',
        'button[aria-label^="Chat with everyone"]',
    ),
    "participants": (
        "[data-participant-id]",
        '[role="list"][aria-label="Participants"] [role="listitem"]',
    ),
    "participant_name": ("span.notranslate", "[data-self-name]", ".zWGUib"),
    "people_panel": ('[role="list"][aria-label="Participants"]',),
    "speaking": ('[data-audio-level]:not([data-audio-level="0"])', ".Oaajhc", ".HX2H7", ".wEsLMd"),
    "captions": (
        '[role="region"][aria-label="Captions"] .nMcdL',
        '[role="region"][aria-label="Captions"] > div > div',
    ),
    "caption_speaker": (".NWpY1d", ".KcIKyf", ".zs7s8d"),
    "caption_text": (".ygicle", ".bh44bd", ".iTTPOb"),
}

NAMES: Final = NameRules(drop=("Meeting host", "(Presentation)", "Devices"))

# Taking part (issue 16), from public bots' code (docs/platforms.md, "Chat, voice and camera"):
# the chat button, message box and message ids as Attendee's Meet adapter uses them, the
# sender as a group attribute public chat userscripts read; the microphone and camera buttons'
# names as Attendee and Vexa use them.
CHAT: Final = ChatSpec(
    opener=("Chat with everyone",),
    opener_css=('button[aria-label^="Chat with everyone"]',),
    box=("Send a message",),
    box_css=('textarea[aria-label="Send a message"]',),
    items=("[data-message-id]",),
    group=("[data-sender-name]",),
    sender_attrs=("data-sender-name",),
    id_attrs=("data-message-id",),
)
MICROPHONE: Final = Toggle(
    turn_on=("Turn on microphone",),
    turn_off=("Turn off microphone",),
    on_css=('[aria-label^="Turn on microphone"]',),
    off_css=('[aria-label^="Turn off microphone"]',),
)
CAMERA: Final = Toggle(
    turn_on=("Turn on camera",),
    turn_off=("Turn off camera",),
    on_css=('[aria-label^="Turn on camera"]',),
    off_css=('[aria-label^="Turn off camera"]',),
)

RULES: Final = [
    *signin.sign_in_rules(signin.GOOGLE, "meeting_requires_sign_in"),
    Rule(Phase.NOT_FOUND, "meeting_not_found", texts=TEXTS["not_found"]),
    Rule(Phase.DENIED, "request_denied", texts=TEXTS["denied"]),
    Rule(Phase.DENIED, "request_not_answered", texts=TEXTS["not_answered"]),
    Rule(Phase.SIGN_IN_REQUIRED, "google_meet_knocking_disabled", texts=TEXTS["knocking_disabled"]),
    Rule(Phase.BLOCKED, "google_meet_bot_blocked", texts=TEXTS["blocked"]),
    Rule(Phase.REMOVED, "removed_by_host", texts=TEXTS["removed"]),
    Rule(Phase.ENDED, "meeting_ended", texts=TEXTS["ended"]),
    Rule(Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in", texts=SIGN_IN_WALL),
    Rule(Phase.WAITING_ROOM, texts=TEXTS["waiting_room"]),
    Rule(Phase.WAITING_FOR_HOST, "host_not_joined", texts=TEXTS["waiting_for_host"]),
    Rule(Phase.IN_CALL, signals=("in_call",)),
]

SPEC: Final = ReadSpec(
    signals={"in_call": SELECTORS["in_call"]},
    controls={"in_call": TEXTS["in_call"]},
    participants=ParticipantSpec(
        items=SELECTORS["participants"],
        names=SELECTORS["participant_name"],
        name_attrs=("aria-label",),
        id_attrs=("data-participant-id",),
        speaking=SELECTORS["speaking"],
    ),
    captions=CaptionSpec(
        items=SELECTORS["captions"],
        speaker=SELECTORS["caption_speaker"],
        text=SELECTORS["caption_text"],
    ),
)


class GoogleMeetPage(WebMeetingPage):
    platform: ClassVar[str] = "google_meet"
    spec = SPEC
    rules = RULES
    names = NAMES
    sign_in_table = signin.GOOGLE
    chat = CHAT
    microphone = MICROPHONE
    camera = CAMERA

    @property
    def login(self) -> AccountLogin | None:
        return self.credentials.google

    def entry_url(self, url: str) -> str:
        if self.login is None:
            return url
        return SIGN_IN_ENTRY.format(url=quote(self.origins.to_local(url), safe=""))

    def steps(self) -> list[Step]:
        click = self.click
        steps = [
            Step("got_it", lambda p: button(p, TEXTS["got_it"]), click, limit=3),
            Step("cookies", lambda p: button(p, TEXTS["cookies"]), click),
            Step("name", self._name_box, self.type_name, settle=0),
            Step("mic_off", lambda p: button(p, TEXTS["mic_off"], prefix=True), click, limit=3),
            Step(
                "camera_off", lambda p: button(p, TEXTS["camera_off"], prefix=True), click, limit=3
            ),
            Step("join", lambda p: button(p, TEXTS["join"]), click, final=True),
        ]
        if self.login is not None:
            steps[:0] = [
                Step("sign_in", lambda p: css(p, signin.GOOGLE.email), self.sign_in),
                Step("sign_in_wall", lambda p: button(p, TEXTS["sign_in_button"]), click),
            ]
        return steps

    def sign_in_wall(self, verdict: Verdict) -> bool:
        return verdict.sub_code == "meeting_requires_sign_in"

    @staticmethod
    def _name_box(page: Page) -> Locator:
        by_label = page.get_by_role("textbox", name=names_pattern(TEXTS["name_box"]))
        return by_label.or_(css(page, SELECTORS["name_box"]))

    def name_box(self, page: Page) -> Locator:
        return self._name_box(page)

    def media_on(self, page: Page) -> list[Locator]:
        """A toggle named "Turn off microphone/camera" is a device that is on."""
        return [button(page, TEXTS[k], prefix=True) for k in ("mic_off", "camera_off")]

    def chores_in_call(self, page: Page) -> list[Chore]:
        return [
            ("captions", lambda: self._captions_on(page)),
            ("people_panel", lambda: self._open_people(page)),
        ]

    def dismissers(self) -> list[Dismisser]:
        def consent_ok(page: Page) -> Locator:
            dialogs = page.get_by_role("dialog").or_(page.get_by_role("alertdialog"))
            recorded = dialogs.filter(
                has_text=names_pattern(TEXTS["recording_consent"], any_position=True)
            )
            return button(recorded, TEXTS["recording_consent_ok"])

        return [
            Dismisser("got_it", lambda p: button(p, TEXTS["got_it"])),
            Dismisser("recording_consent", consent_ok),
        ]

    async def _captions_on(self, page: Page) -> Progress:
        """Done once the button reads "Turn off captions" (never clicked back off)."""
        off = button(page, TEXTS["captions_off"], prefix=True).first
        on = button(page, TEXTS["captions_on"], prefix=True).first
        return await click_until(page, self.humanizer, on, off.is_visible)

    async def _open_people(self, page: Page) -> Progress:
        people = button(page, TEXTS["people"], prefix=True).first
        return await open_panel(page, self.humanizer, people, SELECTORS["people_panel"])

    async def leave(self, page: Page) -> None:
        h = self.humanizer
        if await try_click(page, h, any_of(button(page, TEXTS["leave"], prefix=True))):
            confirm = page.get_by_role("dialog").get_by_role("button").filter(
                has_text=TEXTS["leave_confirm"][0]
            )  # fmt: skip
            await try_click(page, h, confirm, timeout=1.0)

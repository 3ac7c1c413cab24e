"""Microsoft Teams on the web: ``teams.microsoft.com`` meeting links and ``teams.live.com/meet``.

Flow: "Continue on this browser" → (tenants that forbid anonymous joins redirect to Microsoft's
sign-in: with credentials the bot signs in, else ``teams_anonymous_join_disabled``) → the
"Continue without audio or video?" dialog → the name → camera and microphone switches off →
"Join now". The poller reads the lobby, the call (hang-up button, tiles with the voice-level
outline, the roster, live captions) and the screens that end it.

Hashed class names change often, so the tables prefer ``data-tid`` attributes, ids, roles and
accessible names, with variants tried in one query. All texts: :data:`TEXTS`; all selectors:
:data:`SELECTORS`. Not verified against the live service here (see ``docs/platforms.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from meetbot.runner.platforms import signin
from meetbot.runner.platforms.base import Phase
from meetbot.runner.platforms.chat_panel import ChatSpec
from meetbot.runner.platforms.chores import (
    Progress,
    click_until,
    open_panel,
    seen_within,
)
from meetbot.runner.platforms.credentials import AccountLogin
from meetbot.runner.platforms.devices import Toggle
from meetbot.runner.platforms.driver import (
    Dismisser,
    Step,
    any_of,
    button,
    css,
    names_pattern,
    ready,
    try_click,
)
from meetbot.runner.platforms.reading import CaptionSpec, ParticipantSpec, ReadSpec, any_shown
from meetbot.runner.platforms.rules import NameRules, Rule, Verdict
from meetbot.runner.platforms.web_page import Chore, WebMeetingPage

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

ANONYMOUS_JOIN_DISABLED: Final = "teams_anonymous_join_disabled"

TEXTS: Final[dict[str, tuple[str, ...]]] = {
    # pre-join
    "continue_on_browser": ("Continue on this browser", "Join on the web instead"),
    "without_media": ("Continue without audio or video",),
    "join": ("Join now",),
    "dismiss": ("Dismiss", "Got it"),
    # outcomes, in the order they are checked
    "not_found": (
        "Looks like the meeting URL is incorrect",
        "This meeting link is invalid",
    ),
    "sign_in_required": (
        "We need to verify your info before you can join",
        "To join, sign in or use Teams on the web",
        "You need to be signed in to Teams to access this meeting",
        "Sign in to Teams to join, or contact the meeting organizer",
        "To join this Teams meeting, you need to be signed in to an account",
        "Due to org policy, you need to sign in",
    ),
    "captcha": ("Verify you're a real person",),
    "not_connected": ("we couldn't connect you",),
    "denied": (
        "but you were denied access to the meeting",
        "Your request to join was declined",
    ),
    "not_answered": ("No one responded to your request to join",),
    "removed": (
        "You've been removed from this meeting",
        "You have been removed from this meeting",
        "Someone removed you from the meeting",
    ),
    "ended": ("The meeting has ended", "This meeting has ended", "The call has ended"),
    "waiting_room": (
        "Someone in the meeting should let you in soon",
        "will let you in soon",
        "Someone will let you in shortly",
    ),
    "waiting_for_host": (
        "When the meeting starts, we'll let people know you're waiting",
        "we'll let people know you're waiting",
    ),
    # in the call
    "more": ("More", "More actions"),
    "language_and_speech": ("Language and speech",),
    "captions_on": ("Turn on live captions",),
    "captions_off": ("Turn off live captions",),
    "people": ("People", "Show participants"),
    "leave": ("Leave", "Hang up"),
    "name_box": ("Type your name", "Enter your name", "Your name", "Name"),
    "microphone": ("Microphone", "Mic", "Audio", "Mute"),
    "camera": ("Camera", "Video"),
    "mic_on_buttons": ("Mute microphone", "Turn off microphone", "Mute"),
    "camera_on_buttons": ("Turn camera off", "Turn off camera", "Stop video"),
}

SELECTORS: Final[dict[str, tuple[str, ...]]] = {
    "continue_on_browser": ('[data-tid="joinOnWeb"]',),
    "name_box": (
        'input[data-tid="prejoin-display-name-input"]',
        'input[placeholder="Type your name"]',
    ),
    "mic_on": (
        '[data-tid="toggle-mute"][aria-checked="true"]',
        'input[data-tid="toggle-mute"]:checked',
    ),
    "camera_on": (
        '[data-tid="toggle-video"][aria-checked="true"]',
        'input[data-tid="toggle-video"]:checked',
    ),
    "join": ('[data-tid="prejoin-join-button"]', "#prejoin-join-button"),
    "in_call": ("#hangup-button", 'button[data-tid="hangup-main-btn"]', '[data-tid="call-hangup"]'),
    "more": ("#callingButtons-showMoreBtn",),
    "language_and_speech": ("#LanguageSpeechMenuControl-id",),
    "captions_button": ("#closed-captions-button",),
    "captions_shown": ('[data-tid="closed-caption-renderer-wrapper"]',),
    "people": ("#roster-button", 'button[data-tid="roster-button"]'),
    "roster": ('[role="tree"][aria-label^="In this meeting"]', '[data-tid^="participantsInCall-"]'),
    "participants": (
        '[data-cid="calling-participant-stream"]',
        '[role="treeitem"][data-tid^="participantsInCall-"]',
    ),
    "participant_name": ('[data-tid*="display-name"]', '[data-tid="roster-item-name"]'),
    "speaking": (
        '[data-tid="voice-level-stream-outline"][data-is-speaking="true"]',
        '[data-tid="voice-level-stream-outline"].vdi-frame-occlusion',
    ),
    "captions": ('[data-tid="closed-caption-renderer-wrapper"] div:has(> [data-tid="author"])',),
    "caption_speaker": ('[data-tid="author"]',),
    "caption_text": ('[data-tid="closed-caption-text"]',),
}

NAMES: Final = NameRules(
    drop=(", context menu available", "(Guest)", "(Unverified)", "(External)", "Organizer")
)

# Taking part (issue 16), from public bots' code (docs/platforms.md, "Chat, voice and camera"):
# the chat button and message box as Attendee's Teams adapter uses them, the message list's
# data-tid values as Vexa's Teams chat reader lists them; the microphone and camera buttons'
# names as Attendee ("Unmute mic", "Turn camera on") and Vexa ("Turn on microphone") use them.
CHAT: Final = ChatSpec(
    opener=("Chat", "Show conversation"),
    opener_css=("button#chat-button",),
    box=("Type a message",),
    box_css=('[aria-label="Type a message"]', '[placeholder="Type a message"]'),
    items=('[data-tid="chat-pane-message"]',),
    text=('[data-tid="messageBodyContent"]',),
    sender=('[data-tid="message-author-name"]',),
    id_attrs=("data-mid",),
)
MICROPHONE: Final = Toggle(
    turn_on=("Unmute mic", "Unmute", "Turn on microphone"),
    turn_off=("Mute mic", "Mute", "Turn off microphone"),
)
CAMERA: Final = Toggle(
    turn_on=("Turn camera on", "Turn on camera"),
    turn_off=("Turn camera off", "Turn off camera"),
)

RULES: Final = [
    *signin.sign_in_rules(signin.MICROSOFT, ANONYMOUS_JOIN_DISABLED),
    Rule(Phase.NOT_FOUND, "meeting_not_found", texts=TEXTS["not_found"]),
    Rule(Phase.SIGN_IN_REQUIRED, ANONYMOUS_JOIN_DISABLED, texts=TEXTS["sign_in_required"]),
    Rule(Phase.BLOCKED, "teams_captcha", texts=TEXTS["captcha"]),
    Rule(Phase.BLOCKED, "teams_connection_refused", texts=TEXTS["not_connected"]),
    Rule(Phase.DENIED, "request_denied", texts=TEXTS["denied"]),
    Rule(Phase.DENIED, "request_not_answered", texts=TEXTS["not_answered"]),
    Rule(Phase.REMOVED, "removed_by_host", texts=TEXTS["removed"]),
    Rule(Phase.ENDED, "meeting_ended", texts=TEXTS["ended"]),
    Rule(Phase.WAITING_FOR_HOST, "host_not_joined", texts=TEXTS["waiting_for_host"]),
    Rule(Phase.WAITING_ROOM, texts=TEXTS["waiting_room"]),
    Rule(Phase.IN_CALL, signals=("in_call",)),
]

SPEC: Final = ReadSpec(
    signals={k: SELECTORS[k] for k in ("in_call", "captions_shown", "roster")},
    controls={"in_call": TEXTS["leave"]},
    participants=ParticipantSpec(
        items=SELECTORS["participants"],
        names=SELECTORS["participant_name"],
        name_attrs=("aria-label",),
        speaking=SELECTORS["speaking"],
    ),
    captions=CaptionSpec(
        items=SELECTORS["captions"],
        speaker=SELECTORS["caption_speaker"],
        text=SELECTORS["caption_text"],
    ),
)


class TeamsPage(WebMeetingPage):
    platform: ClassVar[str] = "teams"
    spec = SPEC
    rules = RULES
    names = NAMES
    sign_in_table = signin.MICROSOFT
    chat = CHAT
    microphone = MICROPHONE
    camera = CAMERA

    @property
    def login(self) -> AccountLogin | None:
        return self.credentials.microsoft

    def name_box(self, page: Page) -> Locator:
        by_role = page.get_by_role("textbox", name=names_pattern(TEXTS["name_box"], prefix=True))
        return by_role.or_(css(page, SELECTORS["name_box"]))

    @staticmethod
    def _device_on(page: Page, device: str) -> Locator:
        """The device's switch checked, toggle pressed, or a button offering to turn it off;
        the ``data-tid`` switches as a hint."""
        name = names_pattern(TEXTS[device], any_position=True)
        return any_of(
            page.get_by_role("switch", name=name, checked=True),
            page.get_by_role("checkbox", name=name, checked=True),
            page.get_by_role("button", name=name, pressed=True),
            button(page, TEXTS[f"{'mic' if device == 'microphone' else 'camera'}_on_buttons"]),
            css(page, SELECTORS["mic_on" if device == "microphone" else "camera_on"]),
        )

    def media_on(self, page: Page) -> list[Locator]:
        return [self._device_on(page, "microphone"), self._device_on(page, "camera")]

    def steps(self) -> list[Step]:
        click = self.click

        def join(p: Page) -> Locator:
            return button(p, TEXTS["join"]).or_(css(p, SELECTORS["join"]))

        steps = [
            Step("without_media", lambda p: button(p, TEXTS["without_media"]), click, limit=2),
            Step(
                "continue_on_browser",
                lambda p: button(p, TEXTS["continue_on_browser"], prefix=True).or_(
                    css(p, SELECTORS["continue_on_browser"])
                ),
                click,
                limit=3,
            ),
            Step("name", self.name_box, self.type_name, settle=0),
            Step("camera_off", lambda p: self._device_on(p, "camera"), click, limit=3),
            Step("mic_off", lambda p: self._device_on(p, "microphone"), click, limit=3),
            Step("join", join, click, final=True),
        ]
        if self.login is not None:
            email = Step("sign_in", lambda p: css(p, signin.MICROSOFT.email), self.sign_in)
            steps.insert(0, email)
        return steps

    def sign_in_wall(self, verdict: Verdict) -> bool:
        return verdict.evidence.startswith("host:")

    def chores_in_call(self, page: Page) -> list[Chore]:
        return [
            ("captions", lambda: self._captions_on(page)),
            ("people_panel", lambda: self._open_roster(page)),
        ]

    def dismissers(self) -> list[Dismisser]:
        return [Dismisser("without_media", lambda p: button(p, TEXTS["without_media"]))]

    async def _captions_on(self, page: Page) -> Progress:
        """More → Language and speech → Turn on live captions (the menu differs by tenant:
        the captions item can sit directly in More). Done once the captions area is shown;
        an item that already reads "Turn off" is never clicked."""
        h = self.humanizer

        async def shown() -> bool:
            return await any_shown(page, SELECTORS["captions_shown"])

        if await shown():
            return Progress.DONE
        item = any_of(
            css(page, SELECTORS["captions_button"]).filter(
                has_not_text=names_pattern(TEXTS["captions_off"], any_position=True)
            ),
            page.get_by_role("menuitem", name=names_pattern(TEXTS["captions_on"])),
        )
        speech = any_of(
            css(page, SELECTORS["language_and_speech"]),
            page.get_by_role("menuitem", name=names_pattern(TEXTS["language_and_speech"])),
        )
        if not await item.is_visible():
            if not await speech.is_visible():
                more = any_of(css(page, SELECTORS["more"]), button(page, TEXTS["more"]))
                if not await ready(more):
                    return Progress.WAITING
                if not await try_click(page, h, more):
                    return Progress.ACTED
            await try_click(page, h, speech, timeout=1.5)
            await seen_within(item.is_visible, 1.5)  # the submenu renders a moment later
        if await click_until(page, h, item, shown, check_first=False) is Progress.DONE:
            return Progress.DONE
        await page.keyboard.press("Escape")  # leave no menu open over the call
        return Progress.ACTED

    async def _open_roster(self, page: Page) -> Progress:
        people = any_of(css(page, SELECTORS["people"]), button(page, TEXTS["people"]))
        return await open_panel(page, self.humanizer, people, SELECTORS["roster"])

    async def leave(self, page: Page) -> None:
        hangup = any_of(button(page, TEXTS["leave"], prefix=True), css(page, SELECTORS["in_call"]))
        await try_click(page, self.humanizer, hangup)

"""Webex's web app: ``https://<site>.webex.com/meet/<name>`` and the ``j.php`` / join-service
links (what ``parse_meeting_url`` returns for Webex).

Flow as publicly reported (open-source bots driving it, Webex's help pages): the link's page
(a cookie banner, "Join from this browser") → the web client, which runs in an iframe
(``#unified-webclient-iframe``; older pages ``iframe[name=thinIframe]``, same origin) → a
camera dialog closed with "Close dialog" → the guest's name and e-mail (``nameLabel`` /
``emailLabel``, then "Next") → "Mute" and "Stop video" → "Join meeting". A locked meeting or a
meeting whose guests must be admitted puts the bot in the lobby until a host admits it.

The page's state is read inside the client's iframe (:meth:`WebexPage.document`); steps and
the leave button are found there too. All texts: :data:`TEXTS`; all selectors:
:data:`SELECTORS`. Not verified against the live service here (see ``docs/platforms.md``):
Webex cannot be reached from this project's machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from playwright.async_api import Error as PlaywrightError

from meetbot.runner.platforms.base import Phase
from meetbot.runner.platforms.chat_panel import ChatSpec
from meetbot.runner.platforms.devices import Toggle
from meetbot.runner.platforms.driver import Dismisser, Step, any_of, names_pattern, try_click
from meetbot.runner.platforms.reading import ParticipantSpec, ReadSpec
from meetbot.runner.platforms.rules import NameRules, Rule
from meetbot.runner.platforms.web_page import WebMeetingPage
from meetbot.runner.voice import microphone_script

if TYPE_CHECKING:
    from playwright.async_api import Frame, FrameLocator, Locator, Page

GUEST_EMAIL: Final = "meeting-bot@example.com"
"""Webex asks guests for an e-mail address as well as a name; nothing is sent to it."""

TEXTS: Final[dict[str, tuple[str, ...]]] = {
    # the link's page
    "cookies": ("Accept", "Accept All", "Accept Cookies"),
    "join_browser": ("Join from this browser", "Join from browser", "Join from your browser"),
    # the client's pre-join page
    "close_dialog": ("Close dialog",),
    "next": ("Next",),
    "mute": ("Mute",),
    "stop_video": ("Stop video",),
    "join": ("Join meeting", "Join"),
    # outcomes, in the order they are checked
    "not_found": ("Meeting not found", "Invalid meeting", "The meeting number is not valid"),
    "password_wrong": ("Incorrect password", "Incorrect meeting password"),
    "sign_in": (  # *assumed wording*: sites can refuse guests
        "Sign in to join this meeting",
        "Only signed-in users can join this meeting",
    ),
    "captcha": ("Enter the characters you see",),  # *assumed wording*
    "denied": (  # *assumed wording*; reported only as "rejected"/"denied" screens
        "The host denied your request to join",
        "Your request to join was declined",
    ),
    "removed": (  # *assumed wording*; Webex calls it "expel"
        "You've been removed from the meeting",
        "The host removed you from the meeting",
    ),
    "ended": ("Meeting has ended", "The meeting has ended", "This meeting has ended"),
    "lobby": (
        "The meeting is locked",
        "the host will let you in soon",
        "Waiting for the host to let you in",
    ),
    "waiting_for_host": ("Waiting for host", "Waiting for the host to start the meeting"),
    # in the call
    "leave": ("Leave meeting", "Leave"),
    "leave_confirm": ("Leave meeting",),
}

SELECTORS: Final[dict[str, tuple[str, ...]]] = {
    "client_frame": ("iframe#unified-webclient-iframe", 'iframe[name="thinIframe"]'),
    "cookies": (".cookie-manage-close-handler",),
    "name_box": (
        'input[aria-labelledby="nameLabel"]',
        'input[data-test="Name (required)"]',
        'input[autocomplete="name"]',
    ),
    "email_box": (
        'input[aria-labelledby="emailLabel"]',
        'input[data-test="Email (required)"]',
        'input[type="email"]',
    ),
    "mute": ('[data-test="mute-button"][aria-label="Mute"]',),
    "stop_video": ('[data-test="camera-button"][aria-label="Stop video"]',),
    "join": ("#join-button", '[data-test="join-button"]'),
    "lobby": ('[data-test="lobby-container"]',),
    "in_call": ('[data-test="leave-button"]', '[data-test="participants-toggle-button"]'),
    "leave": ('[data-test="leave-button"]',),
    "participants": ('[class*="videoitem-video-item"]', '[data-test="participant-list-item"]'),
    "participant_name": ('[class*="videoitem-name"]', '[data-test="participant-name"]'),
    "speaking": ('[class*="videoitem-in-speaking"]',),
}

NAMES: Final = NameRules(drop=("(Host)", "(Cohost)", "(Guest)"))

# Taking part (issue 16). The message box as public Webex bots type into it (a Quill editor
# ``.ql-editor``, older pages a textarea "Type your message here"); everything else is
# *assumed* (no public source read it): a "Chat" button, messages as
# ``data-test=chat-message`` items with a sender and a text element, and in-call "Mute" /
# "Unmute", "Stop video" / "Start video" buttons like the pre-join ones (docs/platforms.md).
CHAT: Final = ChatSpec(
    opener=("Chat",),
    opener_css=('[data-test="chat-button"]',),
    box=("Type your message here", "Write a message"),
    box_css=(
        '.ql-editor[contenteditable="true"]',
        'textarea[placeholder="Type your message here"]',
        "#chat-panel textarea",
    ),
    items=('[data-test="chat-message"]',),
    text=('[data-test="chat-message-text"]',),
    sender=('[data-test="chat-message-sender"]',),
)
MICROPHONE: Final = Toggle(
    turn_on=("Unmute",),
    turn_off=("Mute",),
    on_css=('[data-test="mute-button"][aria-label^="Unmute"]',),
    off_css=('[data-test="mute-button"][aria-label^="Mute"]',),
)
CAMERA: Final = Toggle(
    turn_on=("Start video",),
    turn_off=("Stop video",),
    on_css=('[data-test="camera-button"][aria-label^="Start video"]',),
    off_css=('[data-test="camera-button"][aria-label^="Stop video"]',),
)
FRAME_MEDIA: Final = """(() => {
  // meetbot (webex.py): inside the web client's same-origin iframe, the page's getUserMedia
  // is the top page's, so that the client publishes the bot's one microphone and picture
  // (js/microphone.js, js/camera.js of the top page, which the runner drives); the camera
  // script added after this one keeps it (its assignment is ignored).
  if (window === window.top) return;
  let top;
  try { top = window.top.navigator.mediaDevices; } catch (e) { return; }
  const md = navigator.mediaDevices;
  if (!md || !top || typeof top.getUserMedia !== "function") return;
  const gum = (constraints) => top.getUserMedia(constraints);
  Object.defineProperty(md, "getUserMedia", { get: () => gum, set: () => {}, configurable: false });
})();"""

RULES: Final = [
    Rule(Phase.NOT_FOUND, "meeting_not_found", texts=TEXTS["not_found"]),
    Rule(Phase.NOT_FOUND, "webex_password_incorrect", texts=TEXTS["password_wrong"]),
    Rule(Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in", texts=TEXTS["sign_in"]),
    Rule(Phase.BLOCKED, "webex_captcha", texts=TEXTS["captcha"]),
    Rule(Phase.DENIED, "request_denied", texts=TEXTS["denied"]),
    Rule(Phase.REMOVED, "removed_by_host", texts=TEXTS["removed"]),
    Rule(Phase.ENDED, "meeting_ended", texts=TEXTS["ended"]),
    Rule(Phase.WAITING_ROOM, texts=TEXTS["lobby"], signals=("lobby",)),
    Rule(Phase.WAITING_FOR_HOST, "host_not_joined", texts=TEXTS["waiting_for_host"]),
    Rule(Phase.IN_CALL, signals=("in_call",)),
]

SPEC: Final = ReadSpec(
    signals={k: SELECTORS[k] for k in ("in_call", "lobby")},
    controls={"in_call": TEXTS["leave"]},
    participants=ParticipantSpec(
        items=SELECTORS["participants"],
        names=SELECTORS["participant_name"],
        speaking=SELECTORS["speaking"],
    ),
)


def client(page: Page) -> FrameLocator:
    """The web client's iframe (locators inside it wait for it like any element)."""
    return page.locator(", ".join(SELECTORS["client_frame"])).first.content_frame


def in_client(page: Page, selectors: tuple[str, ...]) -> Locator:
    return client(page).locator(", ".join(selectors))


def client_button(page: Page, names: tuple[str, ...], *, prefix: bool = False) -> Locator:
    return client(page).get_by_role("button", name=names_pattern(names, prefix=prefix))


class WebexPage(WebMeetingPage):
    platform: ClassVar[str] = "webex"
    spec = SPEC
    rules = RULES
    names = NAMES
    chat = CHAT
    microphone = MICROPHONE
    camera = CAMERA

    def init_scripts(self) -> list[str]:
        return [microphone_script(), FRAME_MEDIA]

    async def document(self, page: Page) -> Page | Frame:
        """The client's iframe once it exists (everything after "Join from this browser")."""
        try:
            element = await page.query_selector(", ".join(SELECTORS["client_frame"]))
            frame = await element.content_frame() if element is not None else None
        except PlaywrightError:
            return page
        return frame or page

    def steps(self) -> list[Step]:
        click = self.click

        async def email(page: Page, target: Locator) -> None:
            timeout = self.timings.action_timeout
            await self.humanizer.type_into(page, target, GUEST_EMAIL, timeout=timeout)

        return [
            Step(
                "cookies",
                lambda p: any_of(
                    p.locator(", ".join(SELECTORS["cookies"])),
                    p.get_by_role("button", name=names_pattern(TEXTS["cookies"])),
                ),
                click,
            ),
            Step(
                "join_browser",
                lambda p: p.get_by_role(
                    "button", name=names_pattern(TEXTS["join_browser"], prefix=True)
                ),
                click,
            ),
            Step("close_dialog", lambda p: client_button(p, TEXTS["close_dialog"]), click),
            Step("name", lambda p: in_client(p, SELECTORS["name_box"]), self.type_name, settle=0),
            Step("email", lambda p: in_client(p, SELECTORS["email_box"]), email, settle=0),
            Step("next", lambda p: client_button(p, TEXTS["next"]), click),
            Step("mute", lambda p: self._on(p, "mute"), click, limit=3),
            Step("stop_video", lambda p: self._on(p, "stop_video"), click, limit=3),
            Step(
                "join",
                lambda p: any_of(client_button(p, TEXTS["join"]), in_client(p, SELECTORS["join"])),
                click,
                final=True,
            ),
        ]

    def scope(self, page: Page) -> FrameLocator:
        return client(page)

    @staticmethod
    def _on(page: Page, key: str) -> Locator:
        """A button offering "Mute" / "Stop video": that device is on."""
        return any_of(client_button(page, TEXTS[key]), in_client(page, SELECTORS[key]))

    def media_on(self, page: Page) -> list[Locator]:
        return [self._on(page, "mute"), self._on(page, "stop_video")]

    def name_box(self, page: Page) -> Locator:
        return in_client(page, SELECTORS["name_box"])

    def dismissers(self) -> list[Dismisser]:
        return [Dismisser("close_dialog", lambda p: client_button(p, TEXTS["close_dialog"]))]

    async def leave(self, page: Page) -> None:
        h = self.humanizer
        target = any_of(
            client_button(page, TEXTS["leave"], prefix=True), in_client(page, SELECTORS["leave"])
        )
        if await try_click(page, h, target):
            await try_click(page, h, client_button(page, TEXTS["leave_confirm"]), timeout=1.0)

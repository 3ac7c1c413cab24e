"""Zoom's web client: ``https://app.zoom.us/wc/join/<meeting id>?pwd=<passcode>``.

Flow: cookie banner and the "Continue without microphone and camera" permission dialog →
``#input-for-name`` (and the passcode box when the link has none in ``pwd``) → preview "Mute"
and "Stop Video" → "Join". The poller reads waiting for the host, the waiting room, wrong
passcodes, the call (footer Leave, tiles, the participants pane) and the screens that end it;
after admission the bot joins computer audio (without it the web client plays no sound).

Signed-in joins use Zoom's tokens, not a password: a ZAK (join as a Zoom user) and/or an OBF
token (join on behalf of a user who is in the meeting), added to the URL as ``zak=`` and
``obf_token=``. All texts: :data:`TEXTS`; all selectors: :data:`SELECTORS`. Not verified
against the live service here (see ``docs/platforms.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from meetbot.runner.platforms.base import Phase, Snapshot
from meetbot.runner.platforms.chat_panel import ChatSpec
from meetbot.runner.platforms.chores import Progress, click_until, open_panel
from meetbot.runner.platforms.credentials import ZoomTokens
from meetbot.runner.platforms.devices import Toggle
from meetbot.runner.platforms.driver import (
    Step,
    any_of,
    button,
    css,
    names_pattern,
    try_click,
)
from meetbot.runner.platforms.reading import ParticipantSpec, Reading, ReadSpec
from meetbot.runner.platforms.rules import NameRules, Rule
from meetbot.runner.platforms.web_page import Chore, WebMeetingPage

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

PASSCODE_INCORRECT: Final = "zoom_passcode_incorrect"
HOST_IN_ANOTHER_MEETING: Final = "host_in_another_meeting"
"""Waiting for a host who is in another meeting; a wait that times out on it ends
``not_admitted`` / ``host_in_another_meeting`` (``runner/tracker.py``)."""

TEXTS: Final[dict[str, tuple[str, ...]]] = {
    # pre-join
    "cookies": ("Accept Cookies", "Accept All Cookies"),
    "without_media": ("Continue without microphone and camera",),
    "agree": ("I Agree",),
    "mute": ("Mute",),
    "stop_video": ("Stop Video",),
    "join": ("Join",),
    # outcomes, in the order they are checked
    "not_found": (
        "This meeting link is invalid",
        "Invalid meeting ID",
        "Meeting does not exist",
        "This meeting ID is not valid",
    ),
    "passcode_wrong": ("Passcode wrong", "Incorrect passcode", "Wrong passcode"),
    "sign_in": (
        "This meeting is for authorized attendees only",
        "Sign in to join",
        "The host requires authentication on the commercial Zoom platform",
    ),
    "captcha": ("Check Captcha", "Please complete the verification"),
    "denied": ("removed you from the waiting room",),
    "removed": ("You have been removed", "removed from the meeting by the host"),
    "ended": (
        "This meeting has been ended by host",
        "The meeting has ended",
        "This meeting has ended",
    ),
    "host_elsewhere": (  # as reported by users (Zoom's "another meeting in progress")
        "The host has another meeting in progress",
    ),
    "waiting_for_host": (
        "Waiting for the host to start this meeting",
        "Waiting for the host to start the meeting",
        "host to start the meeting",
    ),
    "waiting_room": (
        "Please wait, the meeting host will let you in soon",
        "Host has joined. We've let them know you're here",
    ),
    # in the call
    "join_audio": ("Join Audio by Computer", "Join Audio"),
    "participants": ("open the participants list pane", "Participants"),
    "leave": ("Leave",),
    "leave_confirm": ("Leave Meeting",),
    "name_box": ("Your Name", "Name"),
    "passcode_box": ("Meeting Passcode", "Passcode"),
}

SELECTORS: Final[dict[str, tuple[str, ...]]] = {
    "cookies": ("#onetrust-accept-btn-handler",),
    "name_box": ("#input-for-name", 'input[placeholder="Your Name"]'),
    "passcode_box": ("#input-for-pwd", 'input[placeholder="Meeting Passcode"]'),
    "mute": ('#preview-audio-control-button[aria-label="Mute"]',),
    "stop_video": ('#preview-video-control-button[aria-label="Stop Video"]',),
    "join": ("button.preview-join-button",),
    "in_call": ("button.footer__leave-btn", '.footer button[aria-label="Leave"]'),
    "join_audio": ("button.join-audio-by-voip__join-btn",),
    "participants_button": ('button[aria-label*="participants list"]',),
    "participants_pane": ('[aria-label="participants list"]', ".participants-section-container"),
    "participants": (".video-avatar__avatar", ".participants-li", ".participants-item-position"),
    "participant_name": (".video-avatar__avatar-footer", ".participants-item__display-name"),
    "speaking": (".speaker-active-container__video-frame .video-avatar__avatar",),
}

NAMES: Final = NameRules(drop=("(Host)", "(Co-host)", "(Guest)"))

# Taking part (issue 16), from public bots' code (docs/platforms.md, "Chat, voice and camera"):
# the chat button, editor and message classes as Vexa's Zoom web selectors list them ("verified
# from live DOM"), the editor's placeholder as another public bot types into it; the footer's
# microphone and camera buttons' names as Attendee's Zoom web adapter uses them. The microphone
# button exists once computer audio is joined (the ``join_audio`` chore).
CHAT: Final = ChatSpec(
    opener=("open the chat panel", "Chat"),
    opener_css=('button[aria-label*="chat panel"]',),
    box=(),
    box_css=(
        '.chat-rtf-box__editor-outer [contenteditable="true"]',
        ".tiptap.ProseMirror",
        '[contenteditable="true"]:has(p[data-placeholder^="Type message here"])',
    ),
    items=(".new-chat-message__container",),
    text=(".new-chat-message__text-box", ".chat-rtf-box__display"),
    sender=(".chat-item__sender",),
)
MICROPHONE: Final = Toggle(
    turn_on=("unmute my microphone", "Unmute"),
    turn_off=("mute my microphone", "Mute"),
)
CAMERA: Final = Toggle(
    turn_on=("start my video", "Start Video"),
    turn_off=("stop my video", "Stop Video"),
)

RULES: Final = [
    Rule(Phase.NOT_FOUND, "meeting_not_found", texts=TEXTS["not_found"]),
    Rule(Phase.NOT_FOUND, PASSCODE_INCORRECT, texts=TEXTS["passcode_wrong"]),
    Rule(Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in", texts=TEXTS["sign_in"]),
    Rule(Phase.BLOCKED, "zoom_captcha", texts=TEXTS["captcha"]),
    Rule(Phase.DENIED, "request_denied", texts=TEXTS["denied"]),
    Rule(Phase.REMOVED, "removed_by_host", texts=TEXTS["removed"]),
    Rule(Phase.ENDED, "meeting_ended", texts=TEXTS["ended"]),
    Rule(Phase.WAITING_FOR_HOST, HOST_IN_ANOTHER_MEETING, texts=TEXTS["host_elsewhere"]),
    Rule(Phase.WAITING_FOR_HOST, "zoom_meeting_not_started", texts=TEXTS["waiting_for_host"]),
    Rule(Phase.WAITING_ROOM, texts=TEXTS["waiting_room"]),
    Rule(Phase.IN_CALL, signals=("in_call",)),
]

SPEC: Final = ReadSpec(
    signals={k: SELECTORS[k] for k in ("in_call", "participants_pane", "passcode_box")},
    controls={"in_call": TEXTS["leave"]},
    participants=ParticipantSpec(
        items=SELECTORS["participants"],
        names=SELECTORS["participant_name"],
        speaking=SELECTORS["speaking"],
    ),
)


def web_client_url(url: str, tokens: ZoomTokens | None) -> str:
    """The join URL with the tokens added (``zak=``, ``obf_token=``), existing values kept."""
    if tokens is None:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in (("zak", tokens.zak), ("obf_token", tokens.obf_token)):
        if value:
            query.setdefault(name, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


class ZoomPage(WebMeetingPage):
    platform: ClassVar[str] = "zoom"
    spec = SPEC
    rules = RULES
    names = NAMES
    chat = CHAT
    microphone = MICROPHONE
    camera = CAMERA

    _passcode: str | None = None
    """From the link's ``pwd=``, read when joining."""
    _passcode_missing = False
    """The page asked for a passcode and the link had none."""

    def entry_url(self, url: str) -> str:
        self._passcode = dict(parse_qsl(urlsplit(url).query)).get("pwd")
        return web_client_url(url, self.credentials.zoom)

    def steps(self) -> list[Step]:
        click = self.click

        async def passcode(page: Page, target: Locator) -> None:
            if self._passcode is None:
                self._passcode_missing = True
                return
            timeout = self.timings.action_timeout
            await self.humanizer.type_into(page, target, self._passcode, timeout=timeout)

        def box(key: str) -> Callable[[Page], Locator]:
            return lambda p: any_of(
                p.get_by_role("textbox", name=names_pattern(TEXTS[key])), css(p, SELECTORS[key])
            )

        return [
            Step("without_media", lambda p: button(p, TEXTS["without_media"]), click, limit=2),
            Step(
                "cookies",
                lambda p: any_of(css(p, SELECTORS["cookies"]), button(p, TEXTS["cookies"])),
                click,
            ),
            Step("agree", lambda p: button(p, TEXTS["agree"]), click),
            Step("name", box("name_box"), self.type_name, settle=0),
            Step("passcode", box("passcode_box"), passcode, settle=0),
            Step("mute", lambda p: self._on(p, "mute"), click, limit=3),
            Step("stop_video", lambda p: self._on(p, "stop_video"), click, limit=3),
            Step(
                "join",
                lambda p: any_of(css(p, SELECTORS["join"]), button(p, TEXTS["join"])),
                click,
                final=True,
            ),
        ]

    @staticmethod
    def _on(page: Page, key: str) -> Locator:
        """A preview button offering "Mute" / "Stop Video": that device is on."""
        return any_of(button(page, TEXTS[key]), css(page, SELECTORS[key]))

    def media_on(self, page: Page) -> list[Locator]:
        return [self._on(page, "mute"), self._on(page, "stop_video")]

    def name_box(self, page: Page) -> Locator:
        return any_of(
            page.get_by_role("textbox", name=names_pattern(TEXTS["name_box"])),
            css(page, SELECTORS["name_box"]),
        )

    async def settled(self, page: Page) -> bool:
        return self._passcode_missing or await super().settled(page)

    def early_snapshot(self, reading: Reading) -> Snapshot | None:
        if self._passcode_missing and "passcode_box" in reading.signals:
            return Snapshot(
                Phase.NOT_FOUND,
                sub_code=PASSCODE_INCORRECT,
                detail="the meeting asks for a passcode and the link has none (pwd=)",
            )
        return None

    def chores_in_call(self, page: Page) -> list[Chore]:
        return [
            ("join_audio", lambda: self._join_audio(page)),
            ("people_panel", lambda: self._open_pane(page)),
        ]

    async def _join_audio(self, page: Page) -> Progress:
        """Done once no "Join Audio by Computer" offer is shown after a click (the footer's
        "Join Audio" button can stay)."""
        target = any_of(css(page, SELECTORS["join_audio"]), button(page, TEXTS["join_audio"]))
        offer = any_of(css(page, SELECTORS["join_audio"]), button(page, TEXTS["join_audio"][:1]))

        async def gone() -> bool:
            return not await offer.is_visible()

        return await click_until(page, self.humanizer, target, gone, check_first=False)

    async def _open_pane(self, page: Page) -> Progress:
        target = any_of(
            css(page, SELECTORS["participants_button"]),
            button(page, TEXTS["participants"], prefix=True),
        )
        return await open_panel(page, self.humanizer, target, SELECTORS["participants_pane"])

    async def leave(self, page: Page) -> None:
        h = self.humanizer
        if await try_click(
            page, h, any_of(button(page, TEXTS["leave"]), css(page, SELECTORS["in_call"]))
        ):
            await try_click(page, h, button(page, TEXTS["leave_confirm"]).first, timeout=1.0)

"""What the Google Meet, Teams, Zoom and Webex page objects share, around their own tables.

Each adapter brings its texts, selectors, rules and read spec (its module's tables), its
pre-join :meth:`~WebMeetingPage.steps`, and the chores it runs once admitted; this class brings
the rest of :class:`~meetbot.runner.platforms.base.MeetingPage`: navigate and run the steps
until the page settles, poll (read, dismiss dialogs, snapshot, chores in the call), and the
actions steps take (click, type the bot's name, sign in with an account).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, Final

from playwright.async_api import Error as PlaywrightError

from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms import chat_panel, devices, signin
from meetbot.runner.platforms.base import ChatLine, Phase, Snapshot
from meetbot.runner.platforms.chat_panel import ChatLog, ChatSpec
from meetbot.runner.platforms.chores import Chores, Progress
from meetbot.runner.platforms.credentials import AccountLogin, Credentials
from meetbot.runner.platforms.devices import Toggle
from meetbot.runner.platforms.driver import (
    Dismisser,
    PagePoller,
    Step,
    Timings,
    dismiss_dialogs,
    names_pattern,
    run_steps,
)
from meetbot.runner.platforms.reading import Reading, ReadSpec
from meetbot.runner.platforms.rules import NO_OVERRIDES, NameRules, Origins, Rule, Verdict
from meetbot.runner.voice import microphone_script

if TYPE_CHECKING:
    from playwright.async_api import Frame, FrameLocator, Locator, Page

log = logging.getLogger(__name__)

Chore = tuple[str, Callable[[], Awaitable[Progress]]]
"""A chore's name (it runs until done, see :class:`Chores`) and one try at it."""

DIALOG_CLOSERS: Final = ("Dismiss", "Got it", "Close", "Close dialog", "OK", "Not now")
CAMERA_STEPS: Final = frozenset({"camera_off", "stop_video"})
"""The adapters' steps that turn the camera off: skipped by a bot with a picture (``bot_image``,
``runner/camera.py``), which joins with its camera on."""
_HAS_PICTURE: Final = "() => !!(window.__meetbotCamera && window.__meetbotCamera.active())"
"""Buttons that close any dialog (``role=dialog``/``alertdialog``), whenever one opens: in
the pre-join steps and on every poll."""
CAMERA_CHECK_EVERY: Final = 2.0
"""In the call, how often a bot with a picture checks that its camera is on (seconds)."""


class WebMeetingPage:
    platform: ClassVar[str]
    spec: ClassVar[ReadSpec]
    rules: ClassVar[list[Rule]]
    names: ClassVar[NameRules]
    sign_in_table: ClassVar[signin.SignInTable | None] = None
    """The account's sign-in pages, for adapters whose bots may sign in."""
    chat: ClassVar[ChatSpec | None] = None
    """The call's chat panel (``send_chat`` and ``Snapshot.chat``), where the adapter has one."""
    microphone: ClassVar[Toggle | None] = None
    """The call's microphone button (``unmute`` / ``mute`` around ``output_audio``)."""
    camera: ClassVar[Toggle | None] = None
    """The call's camera button (turned on for a bot with a picture)."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        humanizer: Humanizer | None = None,
        *,
        origins: Origins = NO_OVERRIDES,
        timings: Timings | None = None,
    ) -> None:
        self.credentials = credentials or Credentials()
        self.humanizer = humanizer or Humanizer()
        self.origins = origins
        self.timings = timings or Timings()
        self.poller = PagePoller(
            self.spec, self.rules, self.names, origins, self.timings.unknown_page
        )
        self.chores = Chores()
        self.bot_name = ""
        self.signed_in = False
        self.camera_on = False
        """The page has the bot's picture as its camera: the camera stays on when joining."""
        self.chat_log = ChatLog()
        self._in_call = False
        self._camera_checked = 0.0

    # --- for each adapter to say -----------------------------------------------------------

    @property
    def login(self) -> AccountLogin | None:
        """The account this bot signs in with, if any."""
        return None

    def entry_url(self, url: str) -> str:
        """Where the bot goes first for the meeting ``url``."""
        return url

    def steps(self) -> list[Step]:
        """The pre-join steps, in the order the page offers them."""
        raise NotImplementedError

    def dismissers(self) -> list[Dismisser]:
        """Dialogs to close whenever they show."""
        return []

    def chores_in_call(self, page: Page) -> list[Chore]:
        """What to get done once admitted (captions on, the people panel open)."""
        return []

    def sign_in_wall(self, verdict: Verdict) -> bool:
        """Whether this sign-in verdict is a page a bot with an account signs in on."""
        return False

    def early_snapshot(self, reading: Reading) -> Snapshot | None:
        """A snapshot that overrides the rules' verdict for this reading, if any."""
        return None

    async def document(self, page: Page) -> Page | Frame:
        """What the poller reads: the page, or the frame the meeting client runs in."""
        return page

    def scope(self, page: Page) -> Page | FrameLocator:
        """Where the controls are (the page, or the client's frame)."""
        return page

    def media_on(self, page: Page) -> list[Locator]:
        """Controls shown only while the microphone or the camera is on (a switch checked, a
        toggle pressed, a button named "Turn off microphone"), the microphone's first: the bot
        never asks to join while one is shown (the camera's is allowed with a picture)."""
        return []

    def name_box(self, page: Page) -> Locator | None:
        """The guest's name box, checked to hold the bot's name before asking to join."""
        return None

    # --- what every adapter gets -----------------------------------------------------------

    def dialog_closer(self, page: Page) -> Locator:
        scope = self.scope(page)
        dialogs = scope.get_by_role("dialog").or_(scope.get_by_role("alertdialog"))
        return dialogs.get_by_role("button", name=names_pattern(DIALOG_CLOSERS))

    async def ready_to_join(self, page: Page) -> bool:
        """Microphone and camera seen off, and the name box (if any) holding the bot's name."""
        controls = self.media_on(page)
        for control in controls[:1] if self.camera_on else controls:
            if await control.first.is_visible():
                return False
        box = self.name_box(page)
        return box is None or not await box.first.is_visible() or (
            (await box.first.input_value()).strip() == self.bot_name.strip()
        )  # fmt: skip

    async def _wrong_name(self, target: Locator) -> bool:
        return (await target.input_value()).strip() != self.bot_name.strip()

    def _checked_steps(self, page: Page) -> list[Step]:
        """The adapter's steps, with a dialog closer first, the name retyped while the box holds
        another name, and the join request held back until :meth:`ready_to_join`."""
        steps = [Step("dialog", self.dialog_closer, self.click, limit=6)]
        for step in self.steps():
            if self.camera_on and step.name in CAMERA_STEPS:
                continue
            if step.name == "name":
                step = replace(step, needed=self._wrong_name, limit=max(step.limit, 3))
            elif step.final:
                step = replace(step, guard=lambda: self.ready_to_join(page))
            steps.append(replace(step, act=self._touching(step.act)))
        return steps

    def _touching(
        self, act: Callable[[Page, Locator], Awaitable[None]]
    ) -> Callable[[Page, Locator], Awaitable[None]]:
        """A step's action that restarts the unknown-page count (the bot is acting)."""

        async def touched(page: Page, target: Locator) -> None:
            try:
                await act(page, target)
            finally:  # counted from when the action ended (a slow click is not a stuck page)
                self.poller.timer.touch()

        return touched

    # --- MeetingPage -----------------------------------------------------------------------

    def init_scripts(self) -> list[str]:
        """The bot's microphone (``js/microphone.js``) where the adapter can unmute."""
        return [microphone_script()] if self.microphone is not None else []

    async def join(self, page: Page, url: str, bot_name: str) -> None:
        self.bot_name = self.poller.bot_name = bot_name
        target = self.origins.to_local(self.entry_url(url))
        await page.goto(target, wait_until="domcontentloaded")
        with contextlib.suppress(PlaywrightError):
            self.camera_on = bool(await page.evaluate(_HAS_PICTURE))
        outcome = await run_steps(
            page, self._checked_steps(page), settled=lambda: self.settled(page),
            window=self.timings.join_window,
        )  # fmt: skip
        log.info("%s join: %s", self.platform, outcome)

    async def settled(self, page: Page) -> bool:
        """Past the pre-join page: a lobby, the call, or a screen that ends the attempt. With
        an account, a sign-in wall is a step to take, not an outcome (until tried)."""
        reading, verdict = await self.poller.read(await self.document(page))
        if self.poller.unknown_too_long(reading, verdict):
            return True  # the first poll reports it
        if verdict is None or verdict.phase is Phase.JOINING:
            return False
        return not (
            verdict.phase is Phase.SIGN_IN_REQUIRED
            and self.login is not None
            and not self.signed_in
            and self.sign_in_wall(verdict)
        )

    async def poll(self, page: Page) -> Snapshot:
        if self._in_call:  # the chores run after the in-call report, never before it
            for name, chore in [*self.chores_in_call(page), *self._taking_part(page)]:
                await self.chores.run(name, chore)
            await self._camera_check(page)
        document = await self.document(page)
        reading, verdict = await self.poller.read(document)
        early = self.early_snapshot(reading)
        if early is not None:
            return early
        closers = [Dismisser("dialog", self.dialog_closer), *self.dismissers()]
        await dismiss_dialogs(page, closers, self.humanizer)
        snapshot = self.poller.snapshot(reading, verdict)
        self._in_call = snapshot.phase is Phase.IN_CALL
        if self._in_call and self.chat is not None:
            snapshot = replace(snapshot, chat=await self._read_chat(document, snapshot))
        return snapshot

    # --- taking part: chat, microphone, camera -----------------------------------------------

    def _taking_part(self, page: Page) -> list[Chore]:
        if self.chat is None:
            return []
        spec = self.chat
        return [("chat_panel", lambda: chat_panel.open_panel(page, self.scope(page), spec,
                                                               self.humanizer))]  # fmt: skip

    async def _read_chat(self, document: Page | Frame, snapshot: Snapshot) -> tuple[ChatLine, ...]:
        assert self.chat is not None
        try:
            found = await chat_panel.read_messages(document, self.chat)
        except PlaywrightError as exc:
            log.debug("chat not read: %s", exc)
            return ()
        new = self.chat_log.update(found, self.bot_name)
        return chat_panel.chat_lines(new, {p.name: p.id for p in snapshot.participants})

    async def send_chat(self, page: Page, text: str, to: str) -> bool:
        """Send ``text`` to everyone in the call's chat (``False`` for a message to one
        participant: these adapters send to everyone only, and the API refuses private ones)."""
        if self.chat is None or to != "everyone" or not self._in_call:
            return False
        return await chat_panel.send_message(
            page, self.scope(page), self.chat, text, self.humanizer, self.timings.action_timeout
        )

    async def unmute(self, page: Page) -> None:
        """Before the bot speaks: the call's microphone on."""
        if self.microphone is not None and not await devices.switch(
            page, self.scope(page), self.microphone, self.humanizer, on=True
        ):
            log.warning("%s: the microphone could not be turned on", self.platform)

    async def mute(self, page: Page) -> None:
        """After the bot spoke: the call's microphone off."""
        if self.microphone is not None and not await devices.switch(
            page, self.scope(page), self.microphone, self.humanizer, on=False
        ):
            log.warning("%s: the microphone could not be turned off", self.platform)

    async def _camera_check(self, page: Page) -> None:
        """A bot with a picture keeps its camera on: after ``output_video`` gave a bot that
        joined without one its first picture, or when the page turned the camera off."""
        if self.camera is None or time.monotonic() - self._camera_checked < CAMERA_CHECK_EVERY:
            return
        self._camera_checked = time.monotonic()
        with contextlib.suppress(PlaywrightError):
            if not await page.evaluate(_HAS_PICTURE):
                return
            scope = self.scope(page)
            if await devices.offering(scope, self.camera, on=True).is_visible():
                log.info("%s: turning the camera on for the bot's picture", self.platform)
                await devices.switch(page, scope, self.camera, self.humanizer, on=True)

    # --- what steps do ---------------------------------------------------------------------

    async def click(self, page: Page, target: Locator) -> None:
        await self.humanizer.click(page, target, timeout=self.timings.action_timeout)

    async def type_name(self, page: Page, target: Locator) -> None:
        timeout = self.timings.action_timeout
        await self.humanizer.type_into(page, target, self.bot_name, timeout=timeout)

    async def sign_in(self, page: Page, target: Locator) -> None:
        assert self.login is not None, "a sign-in step only exists with an account"
        assert self.sign_in_table is not None
        self.signed_in = True
        await signin.sign_in(
            page,
            self.sign_in_table,
            self.login,
            self.humanizer,
            self.origins,
            self.timings.sign_in_step,
        )

"""What the Google Meet, Teams, Zoom and Webex page objects share, around their own tables.

Each adapter brings its texts, selectors, rules and read spec (its module's tables), its
pre-join :meth:`~WebMeetingPage.steps`, and the chores it runs once admitted; this class brings
the rest of :class:`~meetbot.runner.platforms.base.MeetingPage`: navigate and run the steps
until the page settles, poll (read, dismiss dialogs, snapshot, chores in the call), and the
actions steps take (click, type the bot's name, sign in with an account).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms import signin
from meetbot.runner.platforms.base import Phase, Snapshot
from meetbot.runner.platforms.chores import Chores, Progress
from meetbot.runner.platforms.credentials import AccountLogin, Credentials
from meetbot.runner.platforms.driver import (
    Dismisser,
    PagePoller,
    Step,
    Timings,
    dismiss_dialogs,
    run_steps,
)
from meetbot.runner.platforms.reading import Reading, ReadSpec
from meetbot.runner.platforms.rules import NO_OVERRIDES, NameRules, Origins, Rule, Verdict

if TYPE_CHECKING:
    from playwright.async_api import Frame, Locator, Page

log = logging.getLogger(__name__)

Chore = tuple[str, Callable[[], Awaitable[Progress]]]
"""A chore's name (it runs until done, see :class:`Chores`) and one try at it."""


class WebMeetingPage:
    platform: ClassVar[str]
    spec: ClassVar[ReadSpec]
    rules: ClassVar[list[Rule]]
    names: ClassVar[NameRules]
    sign_in_table: ClassVar[signin.SignInTable | None] = None
    """The account's sign-in pages, for adapters whose bots may sign in."""

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

    # --- MeetingPage -----------------------------------------------------------------------

    def init_scripts(self) -> list[str]:
        return []

    async def join(self, page: Page, url: str, bot_name: str) -> None:
        self.bot_name = self.poller.bot_name = bot_name
        target = self.origins.to_local(self.entry_url(url))
        await page.goto(target, wait_until="domcontentloaded")
        outcome = await run_steps(
            page, self.steps(), settled=lambda: self.settled(page),
            window=self.timings.join_window,
        )  # fmt: skip
        log.info("%s join: %s", self.platform, outcome)

    async def settled(self, page: Page) -> bool:
        """Past the pre-join page: a lobby, the call, or a screen that ends the attempt. With
        an account, a sign-in wall is a step to take, not an outcome (until tried)."""
        _, verdict = await self.poller.read(await self.document(page))
        if verdict is None or verdict.phase is Phase.JOINING:
            return False
        return not (
            verdict.phase is Phase.SIGN_IN_REQUIRED
            and self.login is not None
            and not self.signed_in
            and self.sign_in_wall(verdict)
        )

    async def poll(self, page: Page) -> Snapshot:
        reading, verdict = await self.poller.read(await self.document(page))
        early = self.early_snapshot(reading)
        if early is not None:
            return early
        await dismiss_dialogs(page, self.dismissers(), self.humanizer)
        snapshot = self.poller.snapshot(reading, verdict)
        if snapshot.phase is Phase.IN_CALL:
            for name, chore in self.chores_in_call(page):
                await self.chores.run(name, chore)
        return snapshot

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

"""One bot's time in one meeting: wait → join → watch → leave, as a structured async flow.

The session owns three helper tasks (the reporter's send and command loops, the audio writer)
and one interruption event, set by a ``leave``/``stop`` command, by SIGTERM, or by losing the
control plane. Every wait in the flow races that event explicitly; the poll loop races
"admitted" against "denied/ended/..." against the stop timers on each 250 ms tick. On the
way out the audio is flushed and the reports are drained before the browser closes.

Exit codes: 0 the bot's outcome was reported (whatever it was), 1 the runner itself failed,
3 the control plane is gone (unreachable for ``control_plane_grace``, or 401/404).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from meetbot.contract.assignment import Assignment, stop_options
from meetbot.contract.lifecycle import StopReason
from meetbot.contract.reports import (
    Command,
    Failed,
    InCall,
    Left,
)
from meetbot.contract.status_texts import error_text
from meetbot.ports import Clock, Storage
from meetbot.runner.briefing import Rebriefed, rebrief
from meetbot.runner.camera import Camera
from meetbot.runner.chat import ChatSender
from meetbot.runner.debug_artifacts import report_reason, save_debug_artifacts
from meetbot.runner.platforms.base import MeetingPage
from meetbot.runner.recording import Recording
from meetbot.runner.session_ports import Browser, ReportChannel, SessionConfig
from meetbot.runner.tracker import MeetingTracker, Outcome, stop_outcome
from meetbot.runner.voice import Voice

if TYPE_CHECKING:
    from playwright.async_api import Page

    from meetbot.runner.live_audio import LiveSocket

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONTROL_PLANE_LOST = 3

MEETING_URL_BLOCKED = "meeting_url_blocked"
"""The ``sub_code`` of a bot whose page was sent where the egress rules forbid."""
HOST_SHUTDOWN = "host_shutdown"
"""Why a bot left when its runner host shut down (SIGTERM: an agent's drain, an eviction): the
``sub_code`` of a bot that was not in the call yet, the ``message`` of one that was (its
recording is kept)."""


Interruption = Literal["leave", "stop", "lost"]


class Session:
    def __init__(
        self,
        assignment: Assignment,
        platform: MeetingPage,
        reporter: ReportChannel,
        storage: Storage,
        clock: Clock,
        *,
        launch: Callable[[], Awaitable[Browser]],
        browser: Browser | None = None,
        config: SessionConfig | None = None,
        pages: Callable[[Assignment], MeetingPage] | None = None,
    ) -> None:
        """``pages``: the meeting page for a changed assignment (:mod:`.briefing`)."""
        self.assignment = assignment
        self.platform = platform
        self.reporter = reporter
        self.storage = storage
        self.clock = clock
        self.config = config or SessionConfig()
        self.browser = browser
        self._launch = launch
        self._pages = pages
        self.recording = Recording(storage, assignment, reporter.emit, clock, self.config)
        self.recorder = self.recording.audio
        self.chat = ChatSender(self._chat_target, reporter.emit, clock)
        self.camera = Camera(reporter.picture, assignment.bot_image)
        self.voice = Voice(reporter.clip, reporter.emit, clock)
        self.live: LiveSocket | None = None
        """Sends the live copy of the audio while recording (set by the entry point)."""
        self.tracker: MeetingTracker | None = None
        self._wake = asyncio.Event()
        self._leave = False
        self._leave_sub_code: str | None = None
        self._stop = False

    @property
    def page(self) -> Page | None:
        return self.browser.page if self.browser is not None else None

    # --- control -----------------------------------------------------------------------------

    def _chat_target(self) -> tuple[Page | None, object, str]:
        return self.browser.page if self.browser else None, self.platform, self.assignment.bot_name

    def request_leave(self, sub_code: str | None = None) -> None:
        """Leave as if a ``leave`` command arrived; SIGTERM does this with ``sub_code``
        :data:`HOST_SHUTDOWN` (the host shuts down: the bot leaves cleanly, saying why)."""
        self._leave = True
        self._leave_sub_code = sub_code
        self._wake.set()

    @property
    def interruption(self) -> Interruption | None:
        if self._stop:
            return "stop"
        if self.reporter.lost.is_set():
            return "lost"
        if self._leave:
            return "leave"
        return None

    async def _pump_commands(self) -> None:
        while True:
            self._obey(await self.reporter.commands.get())

    def _obey(self, command: Command) -> None:
        if command.type in ("pause", "resume"):
            return self.recording.pausing.set(command.type == "pause")
        if command.chat is not None:
            return self.chat.send(command.chat)
        log.info("command: %s", command.type)
        if command.type == "stop":
            self._stop = True
        else:
            self._leave = True
        self._wake.set()

    async def _watch_lost(self) -> None:
        await self.reporter.lost.wait()
        self._wake.set()

    async def _pause(self, seconds: float) -> Interruption | None:
        """Sleep ``seconds`` unless interrupted first; return the interruption, if any."""
        if self.interruption is None and seconds > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._wake.wait()
        return self.interruption

    async def _until(self, at: datetime) -> Interruption | None:
        return await self._pause((at - self.clock.now()).total_seconds())

    # --- the flow ----------------------------------------------------------------------------

    async def run(self) -> int:
        """Run the bot to its end; return the process exit code."""
        helpers = [
            asyncio.create_task(self.reporter.send_loop(), name="reporter.send"),
            asyncio.create_task(self.reporter.command_loop(), name="reporter.commands"),
            asyncio.create_task(self.recorder.run(), name="audio.writer"),
            asyncio.create_task(self._pump_commands(), name="session.commands"),
            asyncio.create_task(self._watch_lost(), name="session.lost"),
            asyncio.create_task(
                self.camera.follow(lambda: self.reporter.camera, lambda: self.page), name="camera"
            ),
            asyncio.create_task(
                self.voice.follow(
                    lambda: self.reporter.output_audio, lambda: self.page, lambda: self.platform
                ),
                name="voice",
            ),
        ]
        if self.live is not None:
            running = self.recorder
            helpers.append(asyncio.create_task(self.live.run(lambda: running.running), name="live"))
        try:
            try:
                code = await self._flow()
            except Exception as exc:
                log.exception("session failed")
                await self._fail("runner_error", error_text(exc))
                code = EXIT_FAILED
            await self.recording.close()
            if self.interruption == "lost":
                code = EXIT_CONTROL_PLANE_LOST
            elif not await self.reporter.drain(self.config.drain_timeout):
                log.error("reports not delivered before exit")
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if self.browser is not None:
                await self.browser.close()
        return code

    async def _flow(self) -> int:
        a = self.assignment
        if a.join_at is not None and self.browser is None:
            warm_at = a.join_at - timedelta(seconds=self.config.warm_lead)
            if (why := await self._until(warm_at)) is not None:
                return self._before_joining(why)
        if self.browser is None:
            try:
                self.browser = await self._launch()
            except Exception as exc:
                log.exception("browser launch failed")
                self.reporter.emit(
                    Failed(at=self.clock.now(), sub_code="browser_launch_failed", detail=str(exc))
                )
                return EXIT_FAILED
        self.browser.on_audio = self.recorder.feed
        self.browser.on_frames = self.recorder.place
        await self.browser.add_init_scripts(
            [*self.platform.init_scripts(), await self.camera.script()]
        )
        if a.join_at is not None and (why := await self._until(a.join_at)) is not None:
            return self._before_joining(why)

        now = self.clock.now()
        if (why := await self._start_joining(now)) is not None:
            return self._before_joining(why)
        a, browser = self.assignment, self.browser  # a fresh browser after another platform
        assert browser is not None
        self.tracker = MeetingTracker(stop_options(a), a.timer_unit_seconds, now)
        outcome = await self._join(browser)
        if outcome is None:
            outcome = await self._watch(browser, self.tracker)
        if outcome is None:  # stop / lost
            return await self._abandon(browser)
        return await self._finish(browser, outcome)

    async def _start_joining(self, at: datetime) -> Interruption | None:
        """Tell the control plane (``booting → joining``) and take the bot's values as they
        stand: a PATCH may have renamed or moved the bot since its assignment."""
        answer = await self.reporter.start_joining(at)
        if answer is None:
            return self.interruption or "lost"
        for command in answer.commands:
            self._obey(command)
        if answer.commands:
            return self.interruption
        if answer.briefing is not None:
            await self._take(rebrief(self.assignment, answer.briefing))
        return None

    async def _take(self, update: Rebriefed) -> None:
        """Join with ``update``: another page, browser or video recorder where it needs one."""
        self.assignment = update.assignment
        if (update.new_page or update.new_browser) and self._pages is not None:
            self.platform = self._pages(update.assignment)
        if update.new_browser and self.browser is not None:
            log.info("another platform or video option: joining from a fresh browser")
            old, self.browser = self.browser, None
            await old.close()
            self.browser = await self._launch()
            self.browser.on_audio = self.recorder.feed
            self.browser.on_frames = self.recorder.place
            await self.browser.add_init_scripts(
                [*self.platform.init_scripts(), await self.camera.script()]
            )
        if update.new_video:
            self.recording.video = self.recording.video_for(update.assignment)

    def _before_joining(self, why: Interruption) -> int:
        if why == "leave":
            self.reporter.emit(self._manual_stop(admitted=False).report)
        return EXIT_OK

    def _manual_stop(self, *, admitted: bool) -> Outcome:
        """A ``leave``: a plain manual stop, or the host shutting down (its sub_code)."""
        return stop_outcome(
            StopReason.MANUALLY_STOPPED, admitted, self.clock.now(), sub_code=self._leave_sub_code
        )

    async def _join(self, browser: Browser) -> Outcome | None:
        """Ask to join, racing the request against interruptions and a timeout."""
        a = self.assignment
        join = asyncio.create_task(
            self.platform.join(browser.page, a.meeting_url, a.bot_name), name="platform.join"
        )
        interrupted = asyncio.create_task(self._interrupted(), name="session.interrupted")
        done, _ = await asyncio.wait(
            {join, interrupted},
            timeout=self.config.join_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        interrupted.cancel()
        if join not in done:
            join.cancel()
            await asyncio.gather(join, return_exceptions=True)
            if interrupted in done:
                return self._interruption_outcome()
        if (blocked := self._blocked(browser)) is not None:
            if join.done() and not join.cancelled():
                join.exception()  # retrieved: the blocked navigation is the news
            return blocked
        if join not in done:
            return Outcome(
                Failed(at=self.clock.now(), sub_code="join_timeout",
                       detail=f"no join request after {self.config.join_timeout:.0f} s"),
                debug=True,
            )  # fmt: skip
        if (exc := join.exception()) is not None:
            log.error("join failed: %r", exc)
            return Outcome(
                Failed(at=self.clock.now(), sub_code="join_failed", detail=error_text(exc)),
                debug=True,
            )
        return None

    def _blocked(self, browser: Browser) -> Outcome | None:
        """A navigation the egress rules refused ends the bot, with no debug artifacts: the
        page it was sent to is not the tenant's to see."""
        blocked = browser.blocked_navigation
        if blocked is None:
            return None
        return Outcome(
            Failed(at=self.clock.now(), sub_code=MEETING_URL_BLOCKED, detail=blocked.describe())
        )

    async def _interrupted(self) -> None:
        while self.interruption is None:
            self._wake.clear()
            await self._wake.wait()

    def _interruption_outcome(self) -> Outcome | None:
        """``leave`` → a manual stop; ``stop``/``lost`` → ``None`` (no more reports)."""
        if self.interruption == "leave":
            return self._manual_stop(admitted=self.tracker is not None and self.tracker.admitted)
        return None

    async def _watch(self, browser: Browser, tracker: MeetingTracker) -> Outcome | None:
        """Poll the page until the meeting is over for the bot."""
        failures = 0
        while True:
            if self.interruption is not None:
                return self._interruption_outcome()
            if browser.crashed:
                return Outcome(Failed(at=self.clock.now(), sub_code="browser_crashed"))
            if (blocked := self._blocked(browser)) is not None:
                return blocked
            try:
                async with asyncio.timeout(self.config.poll_timeout):
                    if self.recorder.started_at is None and await browser.audio_flowing():
                        log.info("remote audio flows: recording starts (before the in-call poll)")
                        await self.recording.start(browser)
                    snapshot = await self.platform.poll(browser.page)
            except Exception as exc:
                failures += 1
                log.warning("poll failed (%d): %r", failures, exc)
                if failures >= self.config.poll_failures:
                    return Outcome(
                        Failed(at=self.clock.now(), sub_code="poll_failed", detail=error_text(exc)),
                        debug=True,
                    )
            else:
                failures = 0
                now = self.clock.now()
                reports, outcome = tracker.observe(snapshot, now)
                self.recording.owners(snapshot.audio_owners)
                for report in reports:
                    self.reporter.emit(report)
                    if isinstance(report, InCall):
                        await self.recording.start(browser)
                if outcome is not None:
                    return outcome
                if (timer := tracker.timer(now, self.recorder.last_speech_at)) is not None:
                    return timer
            await self._pause(self.config.poll_interval)

    async def _finish(self, browser: Browser, outcome: Outcome) -> int:
        admitted = self.tracker is not None and self.tracker.admitted
        if outcome.debug and browser.blocked_navigation is None:
            await self._save_debug(browser, report_reason(outcome.report))
        if isinstance(outcome.report, Failed) and admitted:
            await self.recording.stop(browser)  # keep the audio, then fail
        self.reporter.emit(outcome.report)
        await self._leave_page(browser)
        if outcome.from_call:
            await self.recording.stop(browser)
            self.reporter.emit(Left(at=self.clock.now()))
        return EXIT_OK

    async def _abandon(self, browser: Browser) -> int:
        """``stop`` or a lost control plane: leave politely, keep the audio, report nothing."""
        log.warning("leaving without reports (%s)", self.interruption)
        await self._leave_page(browser)
        await self.recording.stop(browser)
        return EXIT_OK

    async def _leave_page(self, browser: Browser) -> None:
        try:
            async with asyncio.timeout(self.config.leave_timeout):
                await self.platform.leave(browser.page)
        except Exception as exc:
            log.warning("leaving the page failed: %r", exc)

    async def _fail(self, sub_code: str, detail: str) -> None:
        if self.browser is not None:
            if self.browser.blocked_navigation is None:
                await self._save_debug(self.browser, sub_code)
            with contextlib.suppress(Exception):
                await self.browser.stop_capture()
        self.reporter.emit(Failed(at=self.clock.now(), sub_code=sub_code, detail=detail[:2000]))

    async def _save_debug(self, browser: Browser, reason: str) -> None:
        """Screenshot + HTML to ``bots/<id>/debug/``, each reported as a DebugArtifact."""
        await save_debug_artifacts(
            browser, self.storage, self.reporter.emit, self.clock, self.assignment.bot_id, reason
        )

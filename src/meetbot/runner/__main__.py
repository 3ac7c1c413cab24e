"""``python -m meetbot.runner`` (also ``meetbot runner``): one bot, one browser, one process.

Protocol with the launcher (stdout carries nothing else; logs go to stderr):

1. Start. Unless ``--cold``, launch Chromium on a blank page with the capture script
   installed (WARM). ``--cold`` defers the launch to ``warm_lead`` s before ``join_at`` (or to
   the assignment, when ``join_at`` is near or absent): a scheduled bot then holds no browser
   while it waits.
2. Print one line ``READY`` on stdout.
3. Read ONE line from stdin: the :class:`~meetbot.ports.Assignment` as JSON
   (:func:`meetbot.contract.assignment.dump_assignment`). EOF instead → exit 0 quietly.
4. Run the bot (:class:`meetbot.runner.session.Session`) and exit: 0 outcome reported,
   1 runner failure, 2 invalid assignment, 3 control plane lost (unreachable or 401/404).

SIGTERM/SIGINT: before an assignment, exit 0; during one, leave like a ``leave`` command
(SIGTERM says why: sub_code ``host_shutdown``, the host shuts down; the recording is kept).
``--server URL[,URL...]``: other control-plane replicas the reports fail over to when the
assignment's ``control_url`` fails (``meetbot agent`` passes its ``--server`` list).
Settings (``MEETBOT_*`` env): ``chromium_path``, ``chromium_user``, ``chromium_no_sandbox``,
``warm_lead``, ``log_level``, ``runner_spool_mb``, ``runner_video_spool_mb``. A runner whose
Chromium cannot have its sandbox (``runner/sandbox.py``) exits 1 before ``READY``, unless
``chromium_no_sandbox`` says to run it without.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from meetbot import logs, redaction
from meetbot.egress import HostAllowList
from meetbot.runner.browser import (
    DRIVER_NODE_OPTIONS,
    ChromiumBrowser,
    audio_only_script,
    start_driver,
    stop_driver,
)
from meetbot.runner.egress import EgressGuard
from meetbot.runner.sandbox import SandboxUnavailable, for_this_process

if TYPE_CHECKING:
    from playwright.async_api import Playwright

    from meetbot.config import Settings
    from meetbot.contract.assignment import Assignment
    from meetbot.ports import Storage
    from meetbot.runner.platforms.base import MeetingPage
    from meetbot.runner.session import Session

log = logging.getLogger("meetbot.runner")

READY: Final = "READY"
HOST_SHUTDOWN: Final = "host_shutdown"  # = meetbot.runner.session.HOST_SHUTDOWN (not imported)
EXIT_BAD_ASSIGNMENT: Final = 2
EXIT_FAILED: Final = 1  # = meetbot.runner.session.EXIT_FAILED (not imported before READY)

AFTER_READY: Final = (
    "httpx",
    "meetbot.clock",
    "meetbot.contract.reports",
    "meetbot.contract.assignment",
    "meetbot.runner.platforms.credentials",
    "meetbot.runner.platforms.registry",
    "meetbot.runner.reporter",
    "meetbot.runner.session",
    "meetbot.runner.uploads",
    "meetbot.storage",
)
"""What only a bot needs: imported after ``READY`` (a warm runner is in the pool ~0.25 s
sooner, and imports them while it waits for its assignment)."""

AUDIO_ONLY_PLATFORMS: Final = frozenset({"janus"})
"""Platforms checked with ``js/audio_only.js`` (a bot that records no video receives none,
which saves most of its CPU). Meet, Teams and Zoom cannot be checked on this machine; their
bots keep receiving video."""


def receives_video(assignment: Assignment) -> bool:
    """Does this bot's page need remote video (a video recording, or an unchecked platform)?"""
    return (
        bool(assignment.recording.get("video")) or assignment.platform not in AUDIO_ONLY_PLATFORMS
    )


def scripts_for(assignment: Assignment) -> list[str]:
    """Init scripts the bot's browser gets besides its platform's."""
    return [] if receives_video(assignment) else [audio_only_script()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the runner process; returns its exit code (``argv`` excludes the program name)."""
    parser = argparse.ArgumentParser(prog="meetbot runner", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cold", action="store_true", help="launch the browser only when the bot needs it"
    )
    parser.add_argument(
        "--server",
        default="",
        help="other control-plane URLs (comma-separated) to fail over to",
    )
    args = parser.parse_args(list(argv or []))
    fallback = [u.strip() for u in args.server.split(",") if u.strip()]
    os.environ.setdefault("NODE_OPTIONS", DRIVER_NODE_OPTIONS)  # for Playwright's driver
    return asyncio.run(_start(warm=not args.cold, fallback_urls=fallback))


def _settings() -> Settings:
    """The settings, logging set up from them (pydantic-settings: ~0.15 s of imports)."""
    from meetbot.config import Settings

    settings = Settings()
    logs.setup(  # no meeting passcode in the runner's log (redacted); MEETBOT_LOG_FORMAT
        settings.log_level,
        settings.log_format,
        fmt="%(asctime)s %(levelname)s runner[%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return settings


async def _start(*, warm: bool, fallback_urls: Sequence[str]) -> int:
    """A warm runner starts Playwright's driver (a node process that takes ~0.5 s to boot)
    first, and reads its settings while the driver boots: the pool refills sooner."""
    driver = start_driver() if warm else None
    try:
        settings = await asyncio.to_thread(_settings)
    except BaseException:
        if driver is not None:
            await stop_driver(driver)
        raise
    return await run(settings, warm=warm, fallback_urls=fallback_urls, driver=driver)


async def run(
    settings: Settings,
    *,
    warm: bool = True,
    fallback_urls: Sequence[str] = (),
    driver: asyncio.Task[Playwright] | None = None,
) -> int:
    """``driver``: Playwright's driver, being started (:func:`start_driver`); the first
    launch takes it (else each launch starts its own), else it is stopped on the way out."""
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    why: list[str | None] = []
    """The first signal's sub_code: ``host_shutdown`` for SIGTERM, none for SIGINT."""

    def on_signal(sub_code: str | None) -> None:
        why.append(sub_code)
        signalled.set()

    loop.add_signal_handler(signal.SIGTERM, on_signal, HOST_SHUTDOWN)
    loop.add_signal_handler(signal.SIGINT, on_signal, None)

    try:
        sandbox = for_this_process(
            settings.chromium_user, allow_unsandboxed=settings.chromium_no_sandbox
        )
    except SandboxUnavailable as exc:
        log.error("%s", exc)
        if driver is not None:
            await stop_driver(driver)
        return EXIT_FAILED
    (log.info if sandbox.sandboxed else log.warning)("Chromium runs %s", sandbox.describe())
    page_scripts: list[str] = []
    """Init scripts the assignment asks for (none before it is known)."""
    egress = EgressGuard()
    """The egress rules: no allowed host before the assignment names them."""

    async def launch() -> ChromiumBrowser:
        nonlocal driver
        started = time.monotonic()
        given, driver = driver, None
        browser = await ChromiumBrowser.launch(
            settings.chromium_path, egress=egress, sandbox=sandbox, driver=given
        )
        await browser.add_init_scripts(page_scripts)
        log.info("browser up in %.2f s", time.monotonic() - started)
        return browser

    browser = await launch() if warm else None
    try:
        print(READY, flush=True)
        for module in AFTER_READY:
            importlib.import_module(module)
        line = await _read_assignment_line(signalled)
        if not line.strip():
            log.info("no assignment; exiting")
            return 0
        from meetbot.contract.assignment import AssignmentError, parse_assignment

        try:
            assignment = parse_assignment(line)
        except AssignmentError as exc:
            log.error("invalid assignment: %s", exc)
            return EXIT_BAD_ASSIGNMENT
        logs.bot_id.set(assignment.bot_id)  # on every line of this bot from here on
        url = redaction.redact(assignment.meeting_url)
        log.info("bot %s: %s %s", assignment.bot_id, assignment.platform, url)
        try:
            egress.allowed = HostAllowList.parse(assignment.egress_allowed_hosts)
        except ValueError as exc:
            log.error("invalid assignment: %s", exc)
            return EXIT_BAD_ASSIGNMENT
        ice_allowed = await egress.allow_script()  # WebRTC to the allowed hosts
        page_scripts[:] = [ice_allowed, *scripts_for(assignment)]
        if browser is not None:
            await browser.add_init_scripts(page_scripts)
        import httpx

        from meetbot.clock import SystemClock
        from meetbot.contract.reports import Failed
        from meetbot.runner.live_audio import LiveSocket
        from meetbot.runner.platforms.credentials import Credentials
        from meetbot.runner.platforms.registry import UnsupportedPlatform, page_for
        from meetbot.runner.reporter import Reporter
        from meetbot.runner.session import Session
        from meetbot.runner.session_ports import SessionConfig
        from meetbot.runner.uploads import UploadStorage
        from meetbot.runner.voice_stream import voice_stream
        from meetbot.storage import storage_from_descriptor

        clock = SystemClock()
        async with httpx.AsyncClient(trust_env=False) as client:
            reporter = Reporter.for_assignment(client, assignment, fallback_urls)
            sub_code = "invalid_credentials_format"
            try:
                credentials = (
                    Credentials.from_mapping(assignment.credentials)
                    if assignment.credentials
                    else None
                )
                sub_code = "unsupported_platform"
                platform = page_for(assignment.platform, credentials)
                sub_code = "invalid_storage"
                storage: Storage = (
                    UploadStorage.for_assignment(client, assignment)
                    if assignment.storage.get("kind") == "upload"
                    else storage_from_descriptor(assignment.storage)  # older control planes
                )
            except (UnsupportedPlatform, ValueError, KeyError, TypeError) as exc:
                log.error("cannot run this bot (%s): %s", sub_code, exc)
                # the detail reaches the client (the status change's message); a storage error
                # may quote the storage descriptor, which holds keys
                detail = None if sub_code == "invalid_storage" else str(exc)
                reporter.emit(Failed(at=clock.now(), sub_code=sub_code, detail=detail))
                sender = asyncio.create_task(reporter.send_loop(), name="reporter.send")
                await reporter.drain(15.0)
                sender.cancel()
                return EXIT_FAILED

            def pages(changed: Assignment) -> MeetingPage:
                """The page of a bot changed before it joined; a browser launched from now
                on gets the scripts the changed bot needs."""
                page_scripts[:] = [ice_allowed, *scripts_for(changed)]
                own = changed.credentials
                return page_for(changed.platform, Credentials.from_mapping(own) if own else None)

            session = Session(
                assignment,
                platform,
                reporter,
                storage,
                clock,
                launch=launch,
                browser=browser,
                config=SessionConfig(
                    warm_lead=settings.warm_lead,
                    spool_bytes=settings.runner_spool_mb * 1024 * 1024,
                    video_spool_bytes=settings.runner_video_spool_mb * 1024 * 1024,
                ),
                pages=pages,
            )
            session.voice.stream = voice_stream(reporter, assignment, session.voice)
            if session.recorder.live is not None:
                session.live = LiveSocket(
                    lambda: reporter.control_url,
                    assignment.bot_id,
                    assignment.token,
                    session.recorder.live,
                )
            browser = None  # the session owns it now
            watcher = asyncio.create_task(_forward(signalled, session, why), name="runner.signals")
            try:
                return await session.run()
            finally:
                watcher.cancel()
    finally:
        if browser is not None:
            await browser.close()
        if driver is not None:  # no launch took it
            await stop_driver(driver)


async def _read_assignment_line(signalled: asyncio.Event) -> str:
    """One line from stdin, or ``""`` on EOF or a signal.

    Read in a daemon thread (works for pipes and files alike, and a thread still blocked after
    a signal does not hold the process open, as an executor thread would).
    """
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            text = sys.stdin.readline()
        except (OSError, ValueError):
            text = ""

        def deliver() -> None:
            if not line.done():
                line.set_result(text)

        with contextlib.suppress(RuntimeError):  # the loop is gone
            loop.call_soon_threadsafe(deliver)

    threading.Thread(target=read, name="runner.stdin", daemon=True).start()

    async def until_signalled() -> str:
        await signalled.wait()
        return ""

    stop = asyncio.ensure_future(until_signalled())
    try:
        await asyncio.wait([line, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    return line.result() if line.done() else ""


async def _forward(signalled: asyncio.Event, session: Session, why: list[str | None]) -> None:
    await signalled.wait()
    log.info("signalled: leaving (%s)", why[0] if why else "no reason")
    session.request_leave(why[0] if why else None)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))

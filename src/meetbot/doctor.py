"""``meetbot doctor URL``: one bot, live, against a real meeting, saying what it sees.

The adapters are tested only against local pages that reproduce what is publicly reported
about Meet, Teams and Zoom; platforms change their pages without notice. The doctor is how a
user checks a real meeting: it launches Chromium the way the runner does, runs the platform's
page object, prints every step and phase change with a timestamp, stays a little while once
admitted, leaves, and exits 0. Anything else (an error page, a refusal, no admission before
``timeout``) exits 1 and leaves a screenshot and the page's HTML in ``out_dir``; an unusable
URL or a browser that does not start exits 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from meetbot.contract.meeting_urls import parse_meeting_url
from meetbot.errors import InvalidMeetingUrl
from meetbot.redaction import redact
from meetbot.runner.platforms.base import MeetingPage, Phase, Snapshot
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.registry import UnsupportedPlatform, page_for
from meetbot.runner.platforms.rules import NO_OVERRIDES, Origins

if TYPE_CHECKING:
    from playwright.async_api import Page

    from meetbot.runner.platforms.credentials import Credentials

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_UNUSABLE: Final = 2
POLL_INTERVAL: Final = 0.25
FAILURES: Final = frozenset(
    {
        Phase.DENIED,
        Phase.NOT_FOUND,
        Phase.SIGN_IN_REQUIRED,
        Phase.INVALID_CREDENTIALS,
        Phase.BLOCKED,
        Phase.ERROR,
    }
)
ENDINGS: Final = frozenset({Phase.REMOVED, Phase.ENDED})


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    bot_name: str = "meetbot doctor"
    timeout: float = 180.0
    """Seconds to reach the call (lobby time included)."""
    stay: float = 15.0
    """Seconds to stay once admitted, watching participants and captions."""
    out_dir: Path = Path("meetbot-doctor")
    chromium_path: str = "/usr/bin/chromium"
    headless: bool = True
    humanize: bool = True
    credentials: Credentials | None = None
    origins: Origins = NO_OVERRIDES
    """Test-only: point the adapter at local fixtures."""
    timings: Timings | None = None
    chromium_user: str = "nobody"
    chromium_no_sandbox: bool = False
    """As ``MEETBOT_CHROMIUM_USER``/``MEETBOT_CHROMIUM_NO_SANDBOX``: the doctor runs Chromium
    as a runner does, and says which way (sandboxed or not, as whom)."""


class _Log:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        line = f"[{time.monotonic() - self.start:7.2f}s] {redact(message)}"  # no passcodes
        print(line, file=self.out, flush=True)


def run_doctor(
    url: str,
    bot_name: str = "meetbot doctor",
    timeout: float = 180.0,
    out_dir: Path = Path("meetbot-doctor"),
    *,
    stay: float = 15.0,
    chromium_path: str = "/usr/bin/chromium",
    headless: bool = True,
    humanize: bool = True,
    credentials: Credentials | None = None,
    origins: Origins = NO_OVERRIDES,
    timings: Timings | None = None,
    out: TextIO | None = None,
    chromium_user: str = "nobody",
    chromium_no_sandbox: bool = False,
) -> int:
    """Run the doctor to the end and return the exit status (prints to ``out``, stdout by
    default). ``origins``/``timings`` are for tests against local fixtures."""
    opts = DoctorOptions(
        bot_name, timeout, stay, out_dir, chromium_path, headless, humanize, credentials,
        origins, timings, chromium_user, chromium_no_sandbox,
    )  # fmt: skip
    return asyncio.run(doctor(url, opts, out or sys.stdout))


async def doctor(url: str, opts: DoctorOptions, out: TextIO) -> int:
    log = _Log(out)
    try:
        ref = parse_meeting_url(url)
        meeting = page_for(
            ref.platform.value, opts.credentials, opts.humanize,
            origins=opts.origins, timings=opts.timings,
        )  # fmt: skip
    except (InvalidMeetingUrl, UnsupportedPlatform) as exc:
        log(f"FAILED: {getattr(exc, 'detail', exc)}")
        return EXIT_UNUSABLE
    log(f"meeting: {ref.platform.value} {ref.meeting_id} ({ref.url})")
    from meetbot.runner.browser import ChromiumBrowser  # Playwright only when needed
    from meetbot.runner.sandbox import SandboxUnavailable, for_this_process

    try:
        sandbox = for_this_process(opts.chromium_user, allow_unsandboxed=opts.chromium_no_sandbox)
    except SandboxUnavailable as exc:
        log(f"FAILED: {exc}")
        return EXIT_UNUSABLE
    log(f"Chromium sandbox: {sandbox.describe()}")
    log(f"launching Chromium ({opts.chromium_path}, {'headless' if opts.headless else 'headed'})")
    try:
        browser = await ChromiumBrowser.launch(
            opts.chromium_path, headless=opts.headless, sandbox=sandbox
        )
    except Exception as exc:
        log(f"FAILED: Chromium did not start: {exc}")
        return EXIT_UNUSABLE
    try:
        await browser.add_init_scripts(meeting.init_scripts())
        return await _run(browser.page, meeting, ref.url, opts, log)
    finally:
        await browser.close()


async def _run(page: Page, meeting: MeetingPage, url: str, opts: DoctorOptions, log: _Log) -> int:
    deadline = time.monotonic() + opts.timeout
    log(f"joining as {opts.bot_name!r}")
    try:
        await asyncio.wait_for(meeting.join(page, url, opts.bot_name), opts.timeout)
    except Exception as exc:
        log(f"join raised {exc!r}")
        return await _fail(page, "join_failed", opts, log)
    log(f"join request made; page: {page.url}")
    last: Snapshot | None = None
    admitted_at: float | None = None
    while True:
        now = time.monotonic()
        try:
            snapshot = await asyncio.wait_for(meeting.poll(page), 10.0)
        except Exception as exc:
            log(f"poll raised {exc!r}")
            return await _fail(page, "poll_failed", opts, log)
        _describe(snapshot, last, log)
        last = snapshot
        if snapshot.phase is Phase.IN_CALL and admitted_at is None:
            admitted_at = now
            log(f"admitted; staying {opts.stay:.0f} s")
        if admitted_at is not None:
            if snapshot.phase in ENDINGS or snapshot.phase in FAILURES:
                log(f"OK: the bot was admitted, then the page showed {snapshot.phase.value}")
                return EXIT_OK
            if now - admitted_at >= opts.stay:
                log("leaving")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(meeting.leave(page), 10.0)
                log(f"OK: admitted; saw {len(snapshot.participants)} other participant(s)")
                return EXIT_OK
        elif snapshot.phase in FAILURES or snapshot.phase in ENDINGS:
            log(f"FAILED: {snapshot.phase.value} ({snapshot.sub_code}): {snapshot.detail}")
            return await _fail(page, snapshot.sub_code or snapshot.phase.value, opts, log)
        elif now >= deadline:
            why = f"still {snapshot.phase.value} after {opts.timeout:.0f} s"
            if snapshot.phase in (Phase.WAITING_ROOM, Phase.WAITING_FOR_HOST):
                why += " (the page was recognised: nobody let the bot in)"
            log(f"FAILED: {why}")
            return await _fail(page, "timeout", opts, log)
        await asyncio.sleep(POLL_INTERVAL)


def _describe(snapshot: Snapshot, last: Snapshot | None, log: _Log) -> None:
    if last is None or (snapshot.phase, snapshot.sub_code) != (last.phase, last.sub_code):
        extra = f" [{snapshot.sub_code}]" if snapshot.sub_code else ""
        log(f"phase: {snapshot.phase.value}{extra} — {snapshot.detail or ''}".rstrip(" —"))
    names = sorted(f"{p.name}{' (speaking)' if p.speaking else ''}" for p in snapshot.participants)
    before = (
        sorted(f"{p.name}{' (speaking)' if p.speaking else ''}" for p in last.participants)
        if last
        else []
    )
    if names != before:
        log(f"participants: {', '.join(names) or 'nobody'}")
    for speaker, text in snapshot.captions:
        log(f"caption: {speaker or '?'}: {text}")


async def _fail(page: Page, reason: str, opts: DoctorOptions, log: _Log) -> int:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = opts.out_dir / f"doctor-{stamp}-{reason}"
    try:
        opts.out_dir.mkdir(parents=True, exist_ok=True)
        base.with_suffix(".png").write_bytes(await page.screenshot(full_page=True, timeout=10_000))
        base.with_suffix(".html").write_text(await page.content(), encoding="utf-8")
        log(f"saved {base}.png and {base}.html (page: {page.url})")
    except Exception as exc:
        log(f"could not save the page: {exc!r}")
    return EXIT_FAILED

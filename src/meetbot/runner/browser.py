"""Debian Chromium, headless, through Playwright: one fresh profile, one page, per bot.

The only runner module besides the platform adapters that imports Playwright. The browser is
launched WARM (blank page, capture script installed) before the assignment is known; the
platform's init scripts are added afterwards, before navigation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

from playwright.async_api import BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from meetbot.runner.browser_sockets import browser_process, sockets_elsewhere
from meetbot.runner.egress import Blocked, EgressGuard
from meetbot.runner.egress_proxy import EgressProxy
from meetbot.runner.priority import raise_audio_threads
from meetbot.runner.sandbox import ChromiumSandbox, write_wrapper

log = logging.getLogger(__name__)

_PLAYWRIGHT_DISABLED_FEATURES: Final = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
)
"""Playwright's own ``--disable-features`` list (its ``chromiumSwitches``), repeated in ours:
the last ``--disable-features`` switch on a command line is the one that counts."""

DISABLED_FEATURES: Final = (
    *_PLAYWRIGHT_DISABLED_FEATURES,
    # fewer processes: a bot visits one meeting origin, site isolation buys it nothing
    "site-per-process",
    "IsolateOrigins",
    "SpareRendererForSitePerProcess",
    "AudioServiceOutOfProcess",
    # things a bot never uses
    "Translate",
    "BackForwardCache",
    "DialMediaRouteProvider",
    "GlobalMediaControls",
    "HardwareMediaKeyHandling",
    "MediaSessionService",
    "AutofillServerCommunication",
    "CertificateTransparencyComponentUpdater",
    "InterestFeedContentSuggestions",
    # the omnibox's two WebUI popups: headless Chromium still builds its browser window's
    # omnibox, and these popups load at start-up in a renderer of their own (~80 MiB PSS and
    # part of every launch's CPU; bench/warm_idle.py); a bot never types in the omnibox
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
)

ENABLED_FEATURES: Final = (
    "CDPScreenshotNewSurface",  # Playwright's, as above
    "SkipListAccountsWithoutGaiaCookies",  # Playwright's
    "NetworkServiceInProcess2",
)

CHROMIUM_FLAGS: Final = (
    # the flags of ``shared/notes/janus-e2e.md`` that worked, less ``--no-sandbox`` (the
    # sandbox is on unless the operator says otherwise: ``runner/sandbox.py``)
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    # fewer processes (bench/runner_capacity.py shows what each one costs): the GPU, network
    # and audio services in the browser process, one renderer (no zygotes only without the
    # sandbox: ``sandbox.NO_SANDBOX_FLAGS``)
    "--in-process-gpu",
    "--enable-features=" + ",".join(ENABLED_FEATURES),
    "--renderer-process-limit=1",
    "--disable-site-isolation-trials",
    "--disable-features=" + ",".join(DISABLED_FEATURES),
)
"""Headless Chromium for a bot: what works in a meeting, with as few processes as works, in
its sandbox (a test browser run as root adds ``sandbox.NO_SANDBOX_FLAGS``)."""

DRIVER_NODE_OPTIONS: Final = "--max-semi-space-size=1"
"""``NODE_OPTIONS`` for Playwright's node driver: a smaller young generation (-10 MiB per bot;
the driver's CPU is a few % of a core, so the extra minor GCs cost nothing measurable)."""

AUDIO_BINDING: Final = "__meetbotAudio"
FRAMES_BINDING: Final = "__meetbotFrames"
CLOSE_TIMEOUT: Final = 10.0

AudioSink = Callable[[bytes], None]
FramesSink = Callable[[str, int, float, bytes], None]
"""``(stream, rtp, arrived, pcm)``: see :meth:`meetbot.runner.capture.AudioRecorder.place`."""


def start_driver() -> asyncio.Task[Playwright]:
    """Start Playwright's driver (a node process) in the background; give the task to
    :meth:`ChromiumBrowser.launch` (it owns the driver from then on), or to :func:`stop_driver`.
    """
    return asyncio.create_task(async_playwright().start(), name="playwright.driver")


async def stop_driver(driver: asyncio.Task[Playwright]) -> None:
    """Stop a driver :func:`start_driver` started and no launch took (never raises)."""
    if not driver.done():
        driver.cancel()
    with contextlib.suppress(BaseException):
        playwright = await driver
        await playwright.stop()


def capture_script() -> str:
    """The in-page audio capture (``runner/js/capture.js``)."""
    return _script("capture.js")


def audio_only_script() -> str:
    """Refuse remote video in every SDP answer or offer (``runner/js/audio_only.js``)."""
    return _script("audio_only.js")


def _script(name: str) -> str:
    return (resources.files("meetbot.runner") / "js" / name).read_text(encoding="utf-8")


class ChromiumBrowser:
    """A launched browser: :meth:`launch`, then use :attr:`page`; always :meth:`close`."""

    def __init__(
        self,
        playwright: Playwright,
        context: BrowserContext,
        page: Page,
        profile: Path,
        egress: EgressGuard | None = None,
        wrapper_dir: Path | None = None,
        proxy: EgressProxy | None = None,
    ) -> None:
        self._playwright = playwright
        self.egress = egress
        """The egress rules on every request of the context (``None``: none, the doctor's)."""
        self.proxy = proxy
        """The pinning proxy every connection of the browser goes through (with ``egress``)."""
        self._context = context
        self.page = page
        self._profile = profile
        self._wrapper_dir = wrapper_dir
        self._closed = False
        self.on_audio: AudioSink | None = None
        """Where the page's 250 ms PCM chunks go (s16le mono 16 kHz); ``None`` drops them."""
        self.on_frames: FramesSink | None = None
        """Where the page's decoded runs of each remote stream go (the RTP path)."""
        self.crashed = False
        self.realtime_audio = True
        """Raise the audio clock thread to real time when the capture starts (``priority``)."""
        page.on("crash", self._on_crash)

    @classmethod
    async def launch(
        cls,
        chromium_path: str,
        *,
        headless: bool = True,
        extra_args: Sequence[str] = (),
        profile_root: Path | None = None,
        egress: EgressGuard | None = None,
        sandbox: ChromiumSandbox | None = None,
        driver: asyncio.Task[Playwright] | None = None,
    ) -> ChromiumBrowser:
        """Launch Chromium on a blank page with the capture script and binding installed.

        ``egress``: installed before anything loads, and the browser's only way out is a
        pinning proxy that follows it (:mod:`meetbot.runner.egress_proxy`); a runner always
        passes one (its allowed hosts are set when the assignment arrives). ``sandbox``: whom
        Chromium runs as and whether sandboxed (:func:`meetbot.runner.sandbox.for_this_process`);
        default: sandboxed, as this process's user (as root, Chromium then refuses to start).
        ``driver``: Playwright's driver already starting (:func:`start_driver`), else one is
        started."""
        sandbox = sandbox or ChromiumSandbox(sandboxed=True)
        driver = driver or start_driver()
        try:
            profile = Path(tempfile.mkdtemp(prefix="meetbot-profile-", dir=profile_root))
        except BaseException:
            await stop_driver(driver)
            raise
        wrapper_dir: Path | None = None
        executable = chromium_path
        try:
            if sandbox.run_as is not None:
                os.chown(profile, sandbox.run_as.uid, sandbox.run_as.gid)
                wrapper_dir = Path(tempfile.mkdtemp(prefix="meetbot-chromium-"))
                executable = str(write_wrapper(wrapper_dir, chromium_path, sandbox.run_as, profile))
            playwright = await driver
        except BaseException:
            await stop_driver(driver)
            shutil.rmtree(profile, ignore_errors=True)
            if wrapper_dir is not None:
                shutil.rmtree(wrapper_dir, ignore_errors=True)
            raise
        proxy = EgressProxy(egress) if egress is not None else None
        try:
            if proxy is not None:
                await proxy.start()
            context = await playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=executable,
                headless=headless,
                args=[
                    *CHROMIUM_FLAGS,
                    *sandbox.flags,
                    *(proxy.chromium_flags() if proxy else ()),
                    *extra_args,
                ],
                chromium_sandbox=sandbox.sandboxed,  # else Playwright adds --no-sandbox
                viewport={"width": 1280, "height": 720},
                service_workers="block",
            )
        except BaseException:
            if proxy is not None:
                await proxy.close()
            await playwright.stop()
            shutil.rmtree(profile, ignore_errors=True)
            if wrapper_dir is not None:
                shutil.rmtree(wrapper_dir, ignore_errors=True)
            raise
        page = context.pages[0] if context.pages else await context.new_page()
        browser = cls(playwright, context, page, profile, egress, wrapper_dir, proxy)
        try:
            if proxy is not None:  # a browser in another network namespace: the proxy too
                pid = await asyncio.to_thread(browser_process, profile)
                if (sockets := sockets_elsewhere(pid)) is not None:
                    await proxy.move(sockets)
            if egress is not None:
                await egress.install(context)
            await context.expose_binding(AUDIO_BINDING, browser._on_audio_binding)
            await context.expose_binding(FRAMES_BINDING, browser._on_frames_binding)
            await context.add_init_script(script=capture_script())
        except BaseException:
            await browser.close()
            raise
        return browser

    @property
    def blocked_navigation(self) -> Blocked | None:
        """The first navigation of the page the egress rules refused, if any."""
        return self.egress.blocked_navigation if self.egress is not None else None

    async def add_init_scripts(self, scripts: Sequence[str]) -> None:
        """Add scripts that run before any page script of every later navigation."""
        for script in scripts:
            await self._context.add_init_script(script=script)

    async def start_capture(self) -> bool:
        """Start the in-page mixer (the recording's time origin); ``False`` if it did not run."""
        try:
            started = bool(await self.page.evaluate("window.__meetbotCapture.start()"))
        except PlaywrightError as exc:
            log.warning("audio capture did not start: %s", exc)
            return False
        mode = (await self.capture_stats()).get("mode")
        log.info("audio capture: %s", mode)  # "rtp": no renderer clock; else WebAudio
        if started and self.realtime_audio:
            await asyncio.to_thread(raise_audio_threads)
        return started

    async def audio_flowing(self) -> bool:
        """Whether the page receives remote audio (a track wrapped by the capture script): the
        moment the recording starts, before the adapter reads the call screen."""
        try:
            return bool(await self.page.evaluate("window.__meetbotCapture.stats().tracks > 0"))
        except PlaywrightError:
            return False

    async def stop_capture(self) -> None:
        """Flush the last partial chunk and stop the mixer (best effort)."""
        with contextlib.suppress(PlaywrightError, TimeoutError):
            async with asyncio.timeout(5.0):
                await self.page.evaluate("window.__meetbotCapture.stop()")

    async def capture_stats(self) -> dict[str, Any]:
        try:
            stats = await self.page.evaluate("window.__meetbotCapture.stats()")
        except PlaywrightError as exc:
            return {"error": str(exc)}
        return dict(stats) if isinstance(stats, dict) else {}

    async def screenshot(self) -> bytes:
        return await self.page.screenshot(full_page=True, timeout=10_000)

    async def html(self) -> str:
        return await self.page.content()

    async def close(self) -> None:
        """Close the browser and delete the profile. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        self.on_audio = None
        self.on_frames = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._context.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._playwright.stop()
        if self.proxy is not None:
            await self.proxy.close()
        shutil.rmtree(self._profile, ignore_errors=True)
        if self._wrapper_dir is not None:
            shutil.rmtree(self._wrapper_dir, ignore_errors=True)

    def _on_audio_binding(self, source: object, data: object) -> None:
        sink = self.on_audio
        if sink is None or not isinstance(data, str):
            return
        try:
            sink(base64.b64decode(data, validate=True))
        except binascii.Error:
            log.warning("dropped an undecodable audio chunk")

    def _on_frames_binding(
        self, source: object, stream: object, rtp: object, arrived_ms: object, data: object
    ) -> None:
        sink = self.on_frames
        if sink is None or not isinstance(data, str) or not isinstance(stream, str):
            return
        if not isinstance(rtp, int | float) or not isinstance(arrived_ms, int | float):
            return
        if not (math.isfinite(rtp) and math.isfinite(arrived_ms)):
            return
        try:
            sink(stream, int(rtp), float(arrived_ms) / 1000, base64.b64decode(data, validate=True))
        except binascii.Error:
            log.warning("dropped an undecodable audio run")

    def _on_crash(self, page: Page) -> None:
        self.crashed = True
        log.error("the page crashed")

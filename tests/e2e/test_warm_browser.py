"""A warm browser (issue 18, join cost): what the pool pays for all day is one Chromium on a
blank page with one renderer, and no browser UI loaded beside it.

Real Chromium (as ``nobody``, in its sandbox, as a runner run by root starts it); no network
is used (the page stays on about:blank).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from meetbot.runner.browser import ChromiumBrowser
from meetbot.runner.egress import EgressGuard
from meetbot.runner.sandbox import for_this_process

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="e2e: a runner's Chromium as root")


def _renderers(profile: str) -> list[int]:
    """Renderer processes of the browser whose profile is ``profile``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:  # Chromium sets its processes' titles: the arguments in one string
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        args = set(line.split())
        if "--type=renderer" in args and f"--user-data-dir={profile}" in args:
            found.append(int(entry.name))
    return found


async def test_a_warm_browser_has_one_renderer_and_no_browser_ui() -> None:
    sandbox = for_this_process("nobody", allow_unsandboxed=False)
    browser = await ChromiumBrowser.launch(CHROMIUM, egress=EgressGuard(), sandbox=sandbox)
    try:
        cdp = await browser.page.context.new_cdp_session(browser.page)
        profile = str(browser._profile)
        # the omnibox's WebUI popups were loaded within a second or two of the launch
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            targets = (await cdp.send("Target.getTargets"))["targetInfos"]
            ui = [t["url"] for t in targets if t["type"] == "browser_ui"]
            assert ui == [], f"browser UI loaded in a warm browser: {ui}"
            assert len(_renderers(profile)) == 1
            await asyncio.sleep(0.5)
        assert [t["url"] for t in targets if t["type"] == "page"] == ["about:blank"]
        assert await browser.page.evaluate("1 + 1") == 2  # still a working page
    finally:
        await browser.close()

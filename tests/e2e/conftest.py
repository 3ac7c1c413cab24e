"""End-to-end fixtures: one real Janus meeting lab per test session (see ``meetbot.lab``).

The lab needs root (network namespaces). Not root: every e2e test skips, saying so. Root but
a Debian package missing: the tests fail — CI runs as root and must never skip silently.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from meetbot.lab import Lab, problems
from meetbot.runner.browser import CHROMIUM_FLAGS

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def lab_required() -> None:
    """Skip (not root) or fail (root, something missing) when no lab can start here."""
    if os.geteuid() != 0:
        pytest.skip("e2e: the meeting lab needs root (network namespaces); CI runs as root")
    if found := problems():
        pytest.fail("e2e: meeting lab unavailable: " + "; ".join(found))


@pytest.fixture(scope="session")
def lab(lab_required: None) -> Iterator[Lab]:
    """A running lab for the whole session; give each test its own room (``lab.new_room()``)."""
    with Lab.start() as running:
        yield running


# Platform adapter tests drive the adapters in one Chromium per module, a fresh context each.


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_FLAGS)
        )
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    yield await context.new_page()
    await context.close()

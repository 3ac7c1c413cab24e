"""End-to-end fixtures: one real Janus meeting lab per test session (see ``meetbot.lab``), and
one `meetbot serve` running real bots in it for the modules that drive the public API.

The lab needs root (network namespaces). Not root: every e2e test skips, saying so. Root but
a Debian package missing: the tests fail — CI runs as root and must never skip silently.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from served import api_client, serve_with_lab

from meetbot.lab import Lab, problems
from meetbot.lab.serve import Server
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


@pytest.fixture(scope="session")
def server(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`meetbot serve` on the lab for the session (see ``served.py``); scheduled bots from 5 s
    ahead, dispatched 4 s and warmed 3 s before their ``join_at``."""
    data_dir = Path(tmp_path_factory.mktemp("e2e")) / "data"
    srv = serve_with_lab(
        lab,
        data_dir,
        MEETBOT_SCHEDULED_THRESHOLD="5",
        MEETBOT_DISPATCH_LEAD="4",
        MEETBOT_WARM_LEAD="3",
        MEETBOT_WEBHOOK_ALLOWED_HOSTS="localhost",  # realtime_endpoints' receivers in the tests
    )
    yield srv
    srv.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


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

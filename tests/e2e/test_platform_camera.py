"""A bot with a picture (``bot_image``) joins Meet, Teams, Zoom and Webex with its camera on:
the real adapters against the local fixtures (``harness.platform_fixtures``), with the camera
init script (``runner/js/camera.js``) in the page as the runner adds it. Fixtures only: the
live services were not tried."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from playwright.async_api import Page

from harness.platform_fixtures import FixtureMeeting, PlatformFixtures
from meetbot.runner.camera import camera_script
from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.registry import page_for
from meetbot.testing.builders import solid_png

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

FAST = Timings(join_window=20.0, unknown_page=3.0, action_timeout=5.0, sign_in_step=10.0)
BOT = "Notetaker"
PICTURE = "data:image/png;base64," + base64.b64encode(solid_png(8, 8, (255, 0, 0))).decode()


@pytest.fixture(scope="module")
def fx() -> Any:
    with PlatformFixtures.running() as server:
        yield server


async def knock(meeting: FixtureMeeting, timeout: float = 20.0) -> tuple[str, bool, bool]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        state = meeting.state
        if state["knocked"]:
            return state["name"], state["mic"], state["camera"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"never knocked: {meeting.state}")


MEETINGS = [
    ("google_meet", "google_meet", "cam-eraa-one"),
    ("teams", "teams", "19:meeting_cam1@thread.v2"),
    ("zoom", "zoom", "81200000077"),
    ("webex", "webex", "camera"),
]


@pytest.mark.parametrize(("platform", "fixture", "meeting_id"), MEETINGS)
@pytest.mark.parametrize("picture", [True, False])
async def test_the_camera_stays_on_only_with_a_picture(
    fx: PlatformFixtures, page: Page, platform: str, fixture: str, meeting_id: str, picture: bool
) -> None:
    await page.context.add_init_script(script=camera_script(PICTURE if picture else None))
    meeting = fx.meeting(fixture, meeting_id + ("p" if picture else "n"))
    bot = page_for(platform, None, Humanizer(False), origins=fx.origins, timings=FAST)
    await bot.join(page, meeting.url, BOT)
    assert await knock(meeting) == (BOT, False, picture)

"""The in-call chores against pages that misbehave as real ones do: the people-panel button
renders late, stays disabled a while, and ignores the first click (it landed before the
handlers were attached, or on a spot the page had just moved away from). Each adapter must
retry until the panel is verifiably open, and never click it again once it is (a toggle)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Page

from harness.platform_fixtures import PlatformFixtures
from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import Phase
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.registry import page_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

FAST = Timings(join_window=20.0, unknown_page=5.0, action_timeout=5.0)
MEETINGS = [("google_meet", "lat-ebut-ton"), ("teams", "19:meeting_late@thread.v2"),
            ("zoom", "87000000000")]  # fmt: skip
QUIRKS = {"after": 2.5, "disabled_for": 1.5, "deaf_clicks": 1}


@pytest.fixture(scope="module")
def fx() -> Iterator[PlatformFixtures]:
    with PlatformFixtures.running() as server:
        yield server


@pytest.mark.parametrize(("platform", "meeting_id"), MEETINGS)
async def test_a_late_disabled_deaf_people_button_is_retried_until_the_panel_is_open(
    fx: PlatformFixtures, page: Page, platform: str, meeting_id: str
) -> None:
    meeting = fx.meeting(
        platform, meeting_id, lobby=False, participants=[{"id": "a", "name": "Alice"}],
        people_button=QUIRKS,
    )  # fmt: skip
    bot = page_for(platform, None, Humanizer(True, speed=8.0), origins=fx.origins, timings=FAST)
    await bot.join(page, meeting.url, "Notetaker")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30.0
    while not meeting.state["people_open"]:
        assert loop.time() < deadline, f"people panel never opened: {meeting.events}"
        # not ended or failed; "Asking to be let in" may show for a moment after the knock
        # until the fixture's admission lands (lobby=False admits at once, not instantly)
        assert (await bot.poll(page)).phase in {Phase.JOINING, Phase.WAITING_ROOM, Phase.IN_CALL}
        await asyncio.sleep(0.1)
    for _ in range(20):  # open: the adapter leaves the toggle alone from now on
        await bot.poll(page)
        await asyncio.sleep(0.1)
    kinds = [e["type"] for e in meeting.events if e["type"] in {"people_click", "people"}]
    assert sorted(kinds) == ["people", "people_click", "people_click"]  # deaf, then opened

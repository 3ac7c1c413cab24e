"""The REAL Webex adapter in headless Chromium against local fixtures that reproduce what is
publicly reported about Webex's web app (the link page, the web client in an iframe, its lobby
and the screens that end a visit): this proves the adapter against those reproductions, not
against the live service, which cannot be reached from here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import Page

from harness.platform_fixtures import FixtureMeeting, PlatformFixtures
from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import MeetingPage, Phase, Snapshot
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.registry import page_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

FAST = Timings(join_window=20.0, unknown_page=3.0, action_timeout=5.0, sign_in_step=10.0)
BOT = "Notetaker"
ALICE = {"id": "alice", "name": "Alice", "speaking": False}
BOB = {"id": "bob", "name": "Bob", "speaking": False}


@pytest.fixture(scope="module")
def fx() -> Iterator[PlatformFixtures]:
    with PlatformFixtures.running() as server:
        yield server


def adapter(
    fx: PlatformFixtures, *, humanize: bool = False, timings: Timings = FAST
) -> MeetingPage:
    return page_for(
        "webex", None, Humanizer(humanize, speed=8.0), origins=fx.origins, timings=timings
    )


async def until(
    bot: MeetingPage, page: Page, want: Phase | Callable[[Snapshot], bool], timeout: float = 20.0
) -> Snapshot:
    check = want if callable(want) else (lambda s: s.phase is want)
    seen: list[Snapshot] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        snapshot = await bot.poll(page)
        seen.append(snapshot)
        if check(snapshot):
            return snapshot
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {want}; last: {seen[-3:]}")


async def wait_state(meeting: FixtureMeeting, key: str, value: Any = True) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while loop.time() < deadline:
        if meeting.state[key] == value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} never became {value!r}: {meeting.state}")


def names(snapshot: Snapshot) -> set[str]:
    return {p.name for p in snapshot.participants}


async def test_webex_guest_joins_from_the_browser_waits_is_admitted_and_leaves(
    fx: PlatformFixtures, page: Page
) -> None:
    meeting = fx.meeting("webex", "jane", host_started=False, participants=[ALICE, BOB])
    bot = adapter(fx, humanize=True)
    await bot.join(page, meeting.url, BOT)
    await wait_state(meeting, "knocked")
    state = meeting.state
    assert (state["name"], state["mic"], state["camera"]) == (BOT, False, False)
    assert sorted(state["dismissed"]) == ["cookies", "media"]
    assert [e["type"] for e in meeting.events][:1] == ["dismiss"]
    host = await until(bot, page, Phase.WAITING_FOR_HOST)
    assert host.sub_code == "host_not_joined"
    meeting.set(host_started=True)
    lobby = await until(bot, page, Phase.WAITING_ROOM)
    assert lobby.detail == "The meeting is locked"
    meeting.set(admission="admitted")
    snapshot = await until(bot, page, lambda s: names(s) == {"Alice", "Bob"})
    assert BOT not in names(snapshot)
    meeting.set(participants=[ALICE, {**BOB, "speaking": True}])
    await until(bot, page, lambda s: [p.name for p in s.participants if p.speaking] == ["Bob"])
    await bot.leave(page)
    await wait_state(meeting, "left")


REFUSALS = [
    ("nf", {"scenario": "not_found"}, Phase.NOT_FOUND, "meeting_not_found"),
    ("cap", {"scenario": "captcha"}, Phase.BLOCKED, "webex_captcha"),
    ("auth", {"auth_required": True}, Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in"),
    ("den", {"admission": "denied"}, Phase.DENIED, "request_denied"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case[3])
async def test_webex_refusals(
    fx: PlatformFixtures, page: Page, case: tuple[str, dict[str, Any], Phase, str]
) -> None:
    meeting_id, state, phase, sub_code = case
    meeting = fx.meeting("webex", meeting_id, **state)
    bot = adapter(fx)
    await bot.join(page, meeting.url, BOT)
    snapshot = await until(bot, page, phase)
    assert snapshot.sub_code == sub_code


@pytest.mark.parametrize(("call", "phase"), [("removed", Phase.REMOVED), ("ended", Phase.ENDED)])
async def test_webex_removal_and_end(
    fx: PlatformFixtures, page: Page, call: str, phase: Phase
) -> None:
    meeting = fx.meeting("webex", f"end-{call}", lobby=False, participants=[ALICE])
    bot = adapter(fx)
    await bot.join(page, meeting.url, BOT)
    await until(bot, page, lambda s: names(s) == {"Alice"})
    meeting.set(call=call)
    snapshot = await until(bot, page, phase)
    assert snapshot.sub_code == ("removed_by_host" if call == "removed" else "meeting_ended")


async def test_webex_unknown_page_is_an_error_after_a_while(
    fx: PlatformFixtures, page: Page
) -> None:
    meeting = fx.meeting("webex", "unknown", scenario="unknown")
    quick = Timings(join_window=2.0, unknown_page=1.5, action_timeout=2.0)
    bot = adapter(fx, timings=quick)
    await bot.join(page, meeting.url, BOT)
    error = await until(bot, page, Phase.ERROR, timeout=6.0)
    assert error.sub_code == "ui_element_not_found"

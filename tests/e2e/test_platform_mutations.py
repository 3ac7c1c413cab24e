"""Every platform adapter against mutated fixture pages (``harness.mutations``): the same
meetings, in markup a real platform could have (random class names, no ids, ``div role=button``,
nested spans, other reported wordings, a spinner first, a dialog that steals focus, chat and
captions holding terminal phrases). No adapter may depend on one fixture's markup.

Each story prints ``DETECT <platform> <variant> <what> <seconds>``: how long after the fixture
changed state the adapter's poll reported it (``pytest -s`` shows them; docs/platforms.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import Page

from harness.mutations import (
    TERMINAL_CAPTION,
    TERMINAL_NAME,
    Variant,
    meeting_state,
    variants,
)
from harness.platform_fixtures import FixtureMeeting, PlatformFixtures
from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import MeetingPage, Phase, Snapshot
from meetbot.runner.platforms.driver import Timings
from meetbot.runner.platforms.registry import page_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

FAST = Timings(join_window=20.0, unknown_page=3.0, action_timeout=5.0, sign_in_step=10.0)
BOT = "Notetaker"
ALICE = {"id": "alice", "name": "Alice", "speaking": False}
PLATFORMS = ("google_meet", "teams", "zoom", "webex")
VARIANTS = variants()


@pytest.fixture(scope="module")
def fx() -> Iterator[PlatformFixtures]:
    with PlatformFixtures.running() as server:
        yield server


def meeting_id(platform: str, tag: str, n: int) -> str:
    return {
        "google_meet": f"mut-{tag}-{n:03d}",
        "teams": f"19:meeting_mut{tag}{n}@thread.v2",
        "zoom": f"87{n:03d}{len(tag):02d}0000",
        "webex": f"mut.{tag}{n}",
    }[platform]


async def until(
    bot: MeetingPage, page: Page, want: Phase | Callable[[Snapshot], bool], timeout: float = 20.0
) -> Snapshot:
    check = want if callable(want) else (lambda s: s.phase is want)
    seen: list[Snapshot] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = await bot.poll(page)
        seen.append(snapshot)
        if check(snapshot):
            return snapshot
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {want}; last: {seen[-3:]}")


async def detect(
    bot: MeetingPage, page: Page, label: str, want: Phase, timeout: float = 20.0
) -> Snapshot:
    started = time.monotonic()
    snapshot = await until(bot, page, want, timeout)
    print(f"DETECT {label} {want.value} {time.monotonic() - started:.2f}")
    return snapshot


async def wait_state(meeting: FixtureMeeting, key: str, value: Any = True) -> None:
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        if meeting.state[key] == value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} never became {value!r}: {meeting.state}")


def adapter(fx: PlatformFixtures, platform: str, timings: Timings = FAST) -> MeetingPage:
    return page_for(platform, None, Humanizer(False), origins=fx.origins, timings=timings)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_join_lobby_call_and_the_end_on_mutated_pages(
    fx: PlatformFixtures, page: Page, platform: str, variant: Variant
) -> None:
    """Knocks as the bot with microphone and camera off, sees the lobby and the call, stays in
    a call whose chat, captions and names hold terminal phrases, and reads its end (removed or
    ended, alternately) in the variant's wording."""
    n = VARIANTS.index(variant)
    label = f"{platform} {variant.id}"
    meeting = fx.meeting(
        platform, meeting_id(platform, "j", n), participants=[ALICE],
        **meeting_state(platform, variant),
    )  # fmt: skip
    bot = adapter(fx, platform)
    await bot.join(page, meeting.url, BOT)
    await wait_state(meeting, "knocked")
    state = meeting.state
    assert (state["name"], state["mic"], state["camera"]) == (BOT, False, False)
    await detect(bot, page, label, Phase.WAITING_ROOM)
    meeting.set(admission="admitted")
    await detect(bot, page, label, Phase.IN_CALL)
    meeting.set(participants=[ALICE, TERMINAL_NAME], captions=[TERMINAL_CAPTION])
    loop_end = time.monotonic() + 2.5
    while time.monotonic() < loop_end:
        snapshot = await bot.poll(page)
        assert snapshot.phase is Phase.IN_CALL, snapshot
        await asyncio.sleep(0.1)
    if n % 2:
        meeting.set(call="removed")
        removed = await detect(bot, page, label, Phase.REMOVED)
        assert removed.sub_code == "removed_by_host"
    else:
        meeting.set(call="ended")
        ended = await detect(bot, page, label, Phase.ENDED)
        assert ended.sub_code == "meeting_ended"


ALL = VARIANTS[-1]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_denied_on_mutated_pages(fx: PlatformFixtures, page: Page, platform: str) -> None:
    meeting = fx.meeting(platform, meeting_id(platform, "d", 0), **meeting_state(platform, ALL))
    bot = adapter(fx, platform)
    await bot.join(page, meeting.url, BOT)
    await until(bot, page, Phase.WAITING_ROOM)
    meeting.set(admission="denied")
    denied = await detect(bot, page, f"{platform} all", Phase.DENIED)
    assert denied.sub_code == "request_denied"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_removed_before_admission_was_seen(
    fx: PlatformFixtures, page: Page, platform: str
) -> None:
    """Admitted and removed between two polls: the adapter reads the removal screen (the
    tracker then reports the call it missed, see test_runner_session_logic)."""
    meeting = fx.meeting(platform, meeting_id(platform, "r", 0), **meeting_state(platform, ALL))
    bot = adapter(fx, platform)
    await bot.join(page, meeting.url, BOT)
    await until(bot, page, Phase.WAITING_ROOM)
    meeting.set(admission="admitted", call="removed")
    waiting = (Phase.WAITING_ROOM, Phase.JOINING)  # JOINING: the spinner between screens
    removed = await until(bot, page, lambda s: s.phase not in waiting)
    assert (removed.phase, removed.sub_code) == (Phase.REMOVED, "removed_by_host")


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_an_unknown_mutated_page_is_an_error_from_when_it_stopped_changing(
    fx: PlatformFixtures, page: Page, platform: str
) -> None:
    meeting = fx.meeting(
        platform, meeting_id(platform, "u", 0), scenario="unknown",
        **meeting_state(platform, ALL),
    )  # fmt: skip
    quick = Timings(join_window=20.0, unknown_page=1.5, action_timeout=2.0)
    bot = adapter(fx, platform, quick)
    started = time.monotonic()
    await bot.join(page, meeting.url, BOT)
    error = await until(bot, page, Phase.ERROR, timeout=10.0)
    took = time.monotonic() - started
    print(f"DETECT {platform} all unknown_page {took:.2f} (limit 1.5 s after the last change)")
    assert error.sub_code == "ui_element_not_found"
    assert took < 10.0  # not after the 20 s join window: join() stops when the timer expires


@pytest.mark.parametrize("platform", ["google_meet", "teams"])
async def test_in_call_is_reported_before_any_chore_runs(
    fx: PlatformFixtures, page: Page, platform: str
) -> None:
    """The poll that sees the call reports it at once: the chores (people panel, captions) run
    in the polls after it, never delaying the in-call report (and the recording)."""
    meeting = fx.meeting(platform, meeting_id(platform, "c", 0), participants=[ALICE])
    bot = adapter(fx, platform)
    await bot.join(page, meeting.url, BOT)
    await until(bot, page, Phase.WAITING_ROOM)
    meeting.set(admission="admitted")
    started = time.monotonic()
    await until(bot, page, Phase.IN_CALL)
    print(f"DETECT {platform} plain in_call_poll {time.monotonic() - started:.2f}")
    state, events = meeting.state, {e["type"] for e in meeting.events}
    assert (state["people_open"], state["captions_on"]) == (False, False)
    assert not events & {"people_click", "people", "captions"}
    await until(bot, page, lambda _: meeting.state["people_open"])  # the chores run after


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_leave_finds_the_leave_button_on_mutated_pages(
    fx: PlatformFixtures, page: Page, platform: str
) -> None:
    meeting = fx.meeting(
        platform, meeting_id(platform, "l", 0), lobby=False, **meeting_state(platform, ALL)
    )
    bot = adapter(fx, platform)
    await bot.join(page, meeting.url, BOT)
    await until(bot, page, Phase.IN_CALL)
    await bot.leave(page)
    await wait_state(meeting, "left")

"""A navigation the egress rules refuse ends the bot ``failed``/``meeting_url_blocked``, and no
screenshot or HTML of the page is kept (it is not the tenant's to see)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from harness.waiting import until
from meetbot.contract.assignment import Assignment, dump_assignment, parse_assignment
from meetbot.contract.reports import Failed
from meetbot.runner.egress import Blocked
from meetbot.runner.platforms.base import Phase, Snapshot
from meetbot.runner.session import EXIT_OK, MEETING_URL_BLOCKED, Session
from meetbot.runner.session_ports import SessionConfig
from meetbot.testing.fakes_runner import (
    FakeBrowser,
    FakePage,
    FakeReports,
    MemoryStorage,
    in_call,
)

BLOCKED = Blocked("http://127.0.0.1:6379/", "127.0.0.1", "loopback", "127.0.0.1", True)
FAST = SessionConfig(poll_interval=0.01, drain_timeout=1.0, leave_timeout=1.0)


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _assignment() -> Assignment:
    return Assignment(
        bot_id="bot1",
        meeting_url="http://janus.example/videoroomtest.html?room=1",
        platform="fake",
        bot_name="Notes",
        stop_options={},
        join_at=None,
        token="t",
        control_url="http://127.0.0.1:1",
        egress_allowed_hosts=("janus.example:8000",),
    )


class _RedirectedPage(FakePage):
    """A page whose join is sent to a forbidden address: the guard refuses the navigation, the
    join fails (net::ERR_BLOCKED_BY_CLIENT) or finds an error page."""

    def __init__(self, browser: FakeBrowser, *, join_fails: bool) -> None:
        super().__init__(
            Snapshot(Phase.ERROR, sub_code="odd_page"),
            join_error=RuntimeError("net::ERR_BLOCKED_BY_CLIENT") if join_fails else None,
        )
        self._browser = browser

    async def join(self, page: object, url: str, bot_name: str) -> None:
        self._browser.blocked_navigation = BLOCKED
        await super().join(page, url, bot_name)


async def _run(*, join_fails: bool) -> tuple[FakeReports, MemoryStorage]:
    browser = FakeBrowser()
    reports, storage = FakeReports(), MemoryStorage()

    async def launch() -> FakeBrowser:
        return browser

    session = Session(
        _assignment(),
        _RedirectedPage(browser, join_fails=join_fails),
        reports,
        storage,
        _Clock(),
        launch=launch,
        browser=browser,
        config=FAST,
    )
    assert await asyncio.wait_for(session.run(), 5) == EXIT_OK
    return reports, storage


async def test_a_blocked_navigation_fails_the_bot_without_debug_artifacts() -> None:
    for join_fails in (True, False):
        reports, storage = await _run(join_fails=join_fails)
        assert reports.types == ["joining", "failed"]
        failed = reports.of("failed")[0]
        assert isinstance(failed, Failed)
        assert failed.sub_code == MEETING_URL_BLOCKED == "meeting_url_blocked"
        assert "127.0.0.1" in (failed.detail or "")
        assert storage.objects == {}


def test_the_allowed_hosts_travel_in_the_assignment() -> None:
    a = _assignment()
    assert parse_assignment(dump_assignment(a)).egress_allowed_hosts == ("janus.example:8000",)


async def test_a_blocked_navigation_in_the_call_fails_the_bot_and_keeps_the_audio() -> None:
    browser = FakeBrowser()
    reports, storage = FakeReports(), MemoryStorage()

    async def launch() -> FakeBrowser:
        return browser

    session = Session(
        _assignment(), FakePage(in_call("alice")), reports, storage, _Clock(),
        launch=launch, browser=browser, config=FAST,
    )  # fmt: skip
    run = asyncio.create_task(session.run())
    await until(lambda: "participant_joined" in reports.types)
    browser.feed(b"\x00\x00" * 16_000)  # a second of audio
    browser.blocked_navigation = BLOCKED  # the page sent itself to 127.0.0.1
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    failed = reports.of("failed")[0]
    assert isinstance(failed, Failed)
    assert failed.sub_code == MEETING_URL_BLOCKED
    assert "debug_artifact" not in reports.types
    assert all("/debug/" not in key for key in storage.objects)
    assert any("/chunks/" in key for key in storage.objects)  # what was recorded stays

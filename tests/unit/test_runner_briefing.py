"""A bot changed before it joins: the runner joins with the values it is answered at ``/join``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from meetbot.contract.assignment import Assignment
from meetbot.contract.reports import Briefing, Command, JoinAnswer
from meetbot.runner.briefing import rebrief
from meetbot.runner.camera import camera_script
from meetbot.runner.session import EXIT_CONTROL_PLANE_LOST, EXIT_OK, Session
from meetbot.runner.session_ports import SessionConfig
from meetbot.testing.fakes_runner import FakeBrowser, FakePage, FakeReports, MemoryStorage

STOP = {"waiting_room_timeout": 1, "last_person_detection": 0, "empty_meeting_timeout": 0,
        "silence_detection": 0, "time_limit": 1}  # fmt: skip
FAST = SessionConfig(poll_interval=0.01, warm_lead=0.2, drain_timeout=1.0, leave_timeout=1.0)


def assignment(**changes: Any) -> Assignment:
    base: dict[str, Any] = {
        "bot_id": "bot1",
        "meeting_url": "http://meet.example/room",
        "platform": "fake",
        "bot_name": "Note Taker",
        "stop_options": STOP,
        "join_at": None,
        "token": "secret",
        "control_url": "http://127.0.0.1:1",
        "timer_unit_seconds": 0.05,
    }
    return Assignment(**{**base, **changes})


def briefing(a: Assignment, **changes: Any) -> Briefing:
    values: dict[str, Any] = {
        "meeting_url": a.meeting_url,
        "platform": a.platform,
        "bot_name": a.bot_name,
        "stop_options": dict(a.stop_options),
        "recording": dict(a.recording),
        "credentials": a.credentials,
    }
    return Briefing(**{**values, **changes})


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Rig:
    """A session on fakes that counts the browsers it launched and the pages it built."""

    def __init__(self, answer: JoinAnswer | None, a: Assignment | None = None) -> None:
        self.page = FakePage()
        self.pages: list[tuple[Assignment, FakePage]] = []
        self.browsers: list[FakeBrowser] = [FakeBrowser()]
        self.reports = FakeReports()
        self.reports.join_answer = answer

        async def launch() -> FakeBrowser:
            self.browsers.append(FakeBrowser())
            return self.browsers[-1]

        def pages(changed: Assignment) -> FakePage:
            self.pages.append((changed, FakePage()))
            return self.pages[-1][1]

        self.session = Session(
            a or assignment(),
            self.page,
            self.reports,
            MemoryStorage(),
            _Clock(),
            launch=launch,
            browser=self.browsers[0],
            config=FAST,
            pages=pages,
        )

    async def run(self) -> int:
        return await asyncio.wait_for(self.session.run(), 10)


def test_rebrief_says_what_a_change_needs() -> None:
    a = assignment()
    renamed = rebrief(a, briefing(a, bot_name="Renamed", meeting_url="http://meet.example/b"))
    assert (renamed.assignment.bot_name, renamed.assignment.meeting_url) == (
        "Renamed",
        "http://meet.example/b",
    )
    assert renamed.assignment.token == a.token  # what the control plane does not send stays
    assert (renamed.new_page, renamed.new_browser, renamed.new_video) == (False, False, False)
    moved = rebrief(a, briefing(a, platform="janus", meeting_url="http://127.0.0.1/r/1"))
    assert (moved.new_page, moved.new_browser, moved.new_video) == (True, True, False)
    signed = rebrief(a, briefing(a, credentials={"zoom": {"zak": "z"}}))
    assert (signed.new_page, signed.new_browser) == (True, False)
    filmed = rebrief(a, briefing(a, recording={"audio_format": "ogg", "video": True}))
    assert (filmed.new_browser, filmed.new_video) == (True, True)


async def test_a_renamed_bot_joins_under_its_new_name_at_its_new_url() -> None:
    a = assignment()
    rig = Rig(JoinAnswer(briefing=briefing(a, bot_name="Renamed", meeting_url="http://m/b")))
    assert await rig.run() == EXIT_OK
    assert rig.page.joined == [("http://m/b", "Renamed")]
    assert rig.session.assignment.bot_name == "Renamed"
    assert rig.pages == []  # same platform, same credentials: the same page
    assert len(rig.browsers) == 1


async def test_another_platform_joins_from_a_fresh_browser_with_its_page() -> None:
    a = assignment()
    rig = Rig(JoinAnswer(briefing=briefing(a, platform="other", meeting_url="http://o/1")))
    assert await rig.run() == EXIT_OK
    assert rig.page.joined == []
    [(changed, page)] = rig.pages
    assert changed.platform == "other"
    assert page.joined == [("http://o/1", a.bot_name)]
    first, fresh = rig.browsers
    assert first.closed
    assert fresh.init_scripts == [*page.init_scripts(), camera_script(None)]  # no picture


async def test_new_stop_options_are_the_ones_the_bot_obeys() -> None:
    a = assignment(stop_options={**STOP, "time_limit": 720})
    rig = Rig(JoinAnswer(briefing=briefing(a, stop_options=STOP)))  # time_limit 1 "minute"
    assert await rig.run() == EXIT_OK
    assert rig.reports.types[-2:] == ["leaving", "left"]
    assert getattr(rig.reports.of("leaving")[0], "stop_reason", None) == "time_limit"


async def test_a_bot_cancelled_before_it_joined_never_joins() -> None:
    rig = Rig(JoinAnswer(commands=[Command(type="stop")]))
    assert await rig.run() == EXIT_OK
    assert rig.page.joined == []
    assert rig.reports.types == ["joining"]  # only the (refused) request to join


async def test_a_revoked_runner_never_joins() -> None:
    """A ``booting`` bot moved far ahead goes back to ``scheduled``: its token is revoked."""
    rig = Rig(None)
    assert await rig.run() == EXIT_CONTROL_PLANE_LOST
    assert rig.page.joined == []

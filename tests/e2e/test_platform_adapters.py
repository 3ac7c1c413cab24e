"""The REAL Meet, Teams and Zoom adapters in headless Chromium against local fixtures that
reproduce the publicly reported pages (``harness.platform_fixtures``), reached through
test-only origin overrides: this proves the adapters against those reproductions, not against
the live services. One browser for the module, one fresh context per test. (The doctor's
refusal of an unusable URL needs no browser: ``tests/unit/test_doctor.py``.)"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from harness.platform_fixtures import FixtureMeeting, PlatformFixtures
from meetbot.doctor import run_doctor
from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import MeetingPage, Phase, Snapshot
from meetbot.runner.platforms.credentials import AccountLogin, Credentials, ZoomTokens
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
        server.add_account("google", "bot@example.com", "right-password")
        server.add_account("microsoft", "bot@contoso.example", "right-password")
        yield server


def adapter(fx: PlatformFixtures, name: str, creds: Credentials | None = None, *,
            humanize: bool = False, timings: Timings = FAST) -> MeetingPage:  # fmt: skip
    humanizer = Humanizer(humanize, speed=8.0)
    return page_for(name, creds, humanizer, origins=fx.origins, timings=timings)


Want = Phase | Callable[[Snapshot], bool]


async def until(
    bot: MeetingPage, page: Page, want: Want, timeout: float = 20.0
) -> tuple[Snapshot, list[Snapshot]]:
    """Poll like the session until ``want``; the last snapshot and every one seen."""
    check = want if callable(want) else (lambda s: s.phase is want)
    seen: list[Snapshot] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        snapshot = await bot.poll(page)
        seen.append(snapshot)
        if check(snapshot):
            return snapshot, seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {want}; last: {seen[-3:]}")


def names(snapshot: Snapshot) -> set[str]:
    return {p.name for p in snapshot.participants}


async def wait_state(
    meeting: FixtureMeeting, key: str, value: Any = True, timeout: float = 20.0
) -> None:
    """Generous deadline: the adapter acts in the background, and CI machines are slow."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if meeting.state[key] == value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} never became {value!r}: {meeting.state}")


async def knocked_as(meeting: FixtureMeeting) -> tuple[str, bool, bool]:
    """Once the bot asked to join: the name it gave, microphone on, camera on."""
    await wait_state(meeting, "knocked")
    state = meeting.state
    return state["name"], state["mic"], state["camera"]


async def in_call_story(bot: MeetingPage, page: Page, meeting: FixtureMeeting) -> None:
    """Admitted → both others seen (never the bot) → Bob speaks → captions → Alice leaves."""
    meeting.set(admission="admitted")
    snapshot, _ = await until(bot, page, Phase.IN_CALL)
    snapshot, _ = await until(bot, page, lambda s: names(s) == {"Alice", "Bob"})
    assert BOT not in names(snapshot)
    meeting.set(participants=[ALICE, {**BOB, "speaking": True}])
    await until(bot, page, lambda s: any(p.speaking for p in s.participants if p.name == "Bob"))
    await wait_state(meeting, "captions_on")
    meeting.set(captions=[{"speaker": "Alice", "text": "Good morning"}])
    await until(bot, page, lambda s: ("Alice", "Good morning") in s.captions)
    meeting.set(captions=[{"speaker": "Alice", "text": "Good morning everyone"}])
    await until(bot, page, lambda s: ("Alice", "everyone") in s.captions)
    meeting.set(participants=[BOB])
    await until(bot, page, lambda s: names(s) == {"Bob"})


# -- Google Meet ----------------------------------------------------------------------------


async def test_meet_guest_knocks_waits_is_admitted_sees_people_and_is_removed(
    fx: PlatformFixtures, page: Page
) -> None:
    meeting = fx.meeting("google_meet", "abc-defg-hij", participants=[ALICE, BOB])
    bot = adapter(fx, "google_meet", humanize=True)
    await bot.join(page, meeting.url, BOT)
    assert await knocked_as(meeting) == (BOT, False, False)
    assert "got_it" in meeting.state["dismissed"]
    lobby, _ = await until(bot, page, Phase.WAITING_ROOM)
    assert lobby.detail == "Asking to be let in"
    await in_call_story(bot, page, meeting)
    assert "consent" in meeting.state["dismissed"]
    await wait_state(meeting, "people_open")
    meeting.set(call="removed")
    removed, _ = await until(bot, page, Phase.REMOVED)
    assert removed.sub_code == "removed_by_host"


async def test_meet_call_ends_for_everyone(fx: PlatformFixtures, page: Page) -> None:
    meeting = fx.meeting("google_meet", "end-ever-one", lobby=False, participants=[ALICE])
    bot = adapter(fx, "google_meet")
    await bot.join(page, meeting.url, BOT)
    await until(bot, page, Phase.IN_CALL)
    meeting.set(call="ended")
    ended, _ = await until(bot, page, Phase.ENDED)
    assert ended.sub_code == "meeting_ended"


@pytest.mark.parametrize(
    ("password", "phase", "sub_code"),
    [
        (None, Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in"),
        ("wrong", Phase.INVALID_CREDENTIALS, "sign_in_wrong_password"),
        ("right-password", Phase.IN_CALL, None),
    ],
)
async def test_meet_sign_in(
    fx: PlatformFixtures, page: Page, password: str | None, phase: Phase, sub_code: str | None
) -> None:
    """No account: the sign-in wall. An account: typed in (humanised), then "Join now"."""
    meeting = fx.meeting("google_meet", f"sig-nin{len(password or '')}-abc", auth_required=True)
    meeting.set(lobby=False)
    login = AccountLogin("bot@example.com", password) if password else None
    bot = adapter(fx, "google_meet", Credentials(google=login) if login else None, humanize=True)
    await bot.join(page, meeting.url, BOT)
    snapshot, _ = await until(bot, page, phase)
    assert snapshot.sub_code == sub_code
    signed_in = "bot@example.com" if phase is Phase.IN_CALL else None
    assert (meeting.state["knocked"], meeting.state["signed_in_as"]) == (bool(signed_in), signed_in)


# -- Teams --------------------------------------------------------------------------------


async def test_teams_link_lobby_call_roster_captions_and_removal(
    fx: PlatformFixtures, page: Page
) -> None:
    meeting = fx.meeting("teams", "19:meeting_fx1@thread.v2", participants=[ALICE, BOB])
    bot = adapter(fx, "teams", humanize=True)
    await bot.join(page, meeting.url, BOT)
    assert await knocked_as(meeting) == (BOT, False, False)
    assert meeting.state["dismissed"] == ["media"]
    lobby, _ = await until(bot, page, Phase.WAITING_ROOM)
    assert lobby.detail == "Someone in the meeting should let you in soon"
    await in_call_story(bot, page, meeting)
    await wait_state(meeting, "people_open")
    meeting.set(call="removed")
    await until(bot, page, Phase.REMOVED)


async def test_teams_live_waits_for_the_host_then_the_lobby_then_ends(
    fx: PlatformFixtures, page: Page
) -> None:
    meeting = fx.meeting("teams_live", "9312345678901", host_started=False, participants=[ALICE])
    bot = adapter(fx, "teams")
    await bot.join(page, meeting.url, BOT)
    waiting, _ = await until(bot, page, Phase.WAITING_FOR_HOST)
    assert waiting.sub_code == "host_not_joined"
    meeting.set(host_started=True)
    lobby, _ = await until(bot, page, Phase.WAITING_ROOM)
    assert lobby.detail == "will let you in soon"
    meeting.set(admission="admitted")
    await until(bot, page, lambda s: names(s) == {"Alice"})
    meeting.set(call="ended")
    await until(bot, page, Phase.ENDED)


@pytest.mark.parametrize(
    ("password", "phase", "sub_code"),
    [
        (None, Phase.SIGN_IN_REQUIRED, "teams_anonymous_join_disabled"),
        ("wrong", Phase.INVALID_CREDENTIALS, "sign_in_wrong_password"),
        ("right-password", Phase.IN_CALL, None),
    ],
)
async def test_teams_tenant_without_anonymous_join(
    fx: PlatformFixtures, page: Page, password: str | None, phase: Phase, sub_code: str | None
) -> None:
    meeting = fx.meeting(
        "teams", f"19:meeting_{password}@thread.v2", auth_required=True, lobby=False
    )
    login = AccountLogin("bot@contoso.example", password) if password else None
    bot = adapter(fx, "teams", Credentials(microsoft=login) if login else None)
    await bot.join(page, meeting.url, BOT)
    snapshot, _ = await until(bot, page, phase)
    assert snapshot.sub_code == sub_code
    if phase is Phase.IN_CALL:
        assert meeting.state["signed_in_as"] == "bot@contoso.example"


# -- Zoom ---------------------------------------------------------------------------------


async def test_zoom_waits_for_host_then_waiting_room_then_call_and_leaves(
    fx: PlatformFixtures, page: Page
) -> None:
    meeting = fx.meeting(
        "zoom", "81234567890", passcode="s3cret", host_started=False, host_elsewhere=True,
        participants=[ALICE, BOB],
    )  # fmt: skip
    bot = adapter(fx, "zoom")
    await bot.join(page, f"{meeting.url}?pwd=s3cret", BOT)
    assert await knocked_as(meeting) == (BOT, False, False)
    assert sorted(meeting.state["dismissed"]) == ["cookies", "permission"]
    busy, _ = await until(bot, page, Phase.WAITING_FOR_HOST)
    assert busy.sub_code == "host_in_another_meeting"
    meeting.set(host_elsewhere=False)
    host, _ = await until(bot, page, lambda s: s.sub_code == "zoom_meeting_not_started")
    assert host.phase is Phase.WAITING_FOR_HOST
    meeting.set(host_started=True)
    lobby, _ = await until(bot, page, Phase.WAITING_ROOM)
    assert lobby.detail == "Please wait, the meeting host will let you in soon"
    meeting.set(admission="admitted")
    await until(bot, page, lambda s: names(s) == {"Alice", "Bob"})
    meeting.set(participants=[{**ALICE, "speaking": True}, BOB])
    await until(bot, page, lambda s: [p.name for p in s.participants if p.speaking] == ["Alice"])
    await wait_state(meeting, "audio_joined")
    await wait_state(meeting, "people_open")
    await bot.leave(page)
    await wait_state(meeting, "left")


@pytest.mark.parametrize("link_passcode", ["wrong", None])
async def test_zoom_wrong_or_missing_passcode(
    fx: PlatformFixtures, page: Page, link_passcode: str | None
) -> None:
    meeting = fx.meeting("zoom", f"8120000000{1 if link_passcode else 2}", passcode="s3cret")
    bot = adapter(fx, "zoom")
    query = f"?pwd={link_passcode}" if link_passcode else ""
    await bot.join(page, meeting.url + query, BOT)
    refused, _ = await until(bot, page, Phase.NOT_FOUND)
    assert refused.sub_code == "zoom_passcode_incorrect"
    assert not meeting.state["knocked"]


@pytest.mark.parametrize("token", [None, "zak", "obf_token"])
async def test_zoom_authorised_attendees_only(
    fx: PlatformFixtures, page: Page, token: str | None
) -> None:
    meeting = fx.meeting(
        "zoom", f"83{len(token or '')}0000000", auth_required=True, lobby=False,
        tokens=["TOKEN-1"],
    )  # fmt: skip
    creds = Credentials(zoom=ZoomTokens(**{token: "TOKEN-1"})) if token else None
    bot = adapter(fx, "zoom", creds)
    await bot.join(page, meeting.url, BOT)
    if token is None:
        wall, _ = await until(bot, page, Phase.SIGN_IN_REQUIRED)
        assert wall.sub_code == "meeting_requires_sign_in"
    else:
        await until(bot, page, Phase.IN_CALL)
        assert meeting.state["signed_in_as"] == "token"


# -- every platform -------------------------------------------------------------------------


BLOCKED, NOT_FOUND, DENIED, SIGN_IN = (
    Phase.BLOCKED, Phase.NOT_FOUND, Phase.DENIED, Phase.SIGN_IN_REQUIRED,
)  # fmt: skip
GM = "google_meet"
REFUSALS = [
    (GM, "blo-cked-bot", {"scenario": "blocked"}, BLOCKED, "google_meet_bot_blocked"),
    (GM, "not-foun-dxx", {"scenario": "not_found"}, NOT_FOUND, "meeting_not_found"),
    (
        GM,
        "kno-ckdi-sab",
        {"scenario": "knocking_disabled"},
        SIGN_IN,
        "google_meet_knocking_disabled",
    ),
    (GM, "den-iedx-xxx", {"admission": "denied"}, DENIED, "request_denied"),
    (GM, "nor-espo-nse", {"admission": "no_response"}, DENIED, "request_not_answered"),
    ("teams", "19:meeting_nf@thread.v2", {"scenario": "not_found"}, NOT_FOUND, "meeting_not_found"),
    ("teams", "19:meeting_cap@thread.v2", {"scenario": "captcha"}, BLOCKED, "teams_captcha"),
    ("teams", "19:meeting_den@thread.v2", {"admission": "denied"}, DENIED, "request_denied"),
    ("zoom", "84000000001", {"scenario": "not_found"}, NOT_FOUND, "meeting_not_found"),
    ("zoom", "84000000002", {"admission": "denied"}, DENIED, "request_denied"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: f"{case[0]}-{case[4]}")
async def test_refusals(
    fx: PlatformFixtures, page: Page, case: tuple[str, str, dict[str, Any], Phase, str]
) -> None:
    platform, meeting_id, state, phase, sub_code = case
    meeting = fx.meeting(platform, meeting_id, **state)
    bot = adapter(fx, platform)
    await bot.join(page, meeting.url, BOT)
    snapshot, _ = await until(bot, page, phase)
    assert snapshot.sub_code == sub_code


UNKNOWN = [(GM, "unk-nown-pag"), ("teams", "19:meeting_u@thread.v2"), ("zoom", "85000000000")]


@pytest.mark.parametrize(("platform", "meeting_id"), UNKNOWN)
async def test_an_unknown_page_is_an_error_after_a_while(
    fx: PlatformFixtures, page: Page, platform: str, meeting_id: str
) -> None:
    meeting = fx.meeting(platform, meeting_id, scenario="unknown")
    quick = Timings(join_window=2.0, unknown_page=1.5, action_timeout=2.0)
    bot = adapter(fx, platform, timings=quick)
    await bot.join(page, meeting.url, BOT)
    error, seen = await until(bot, page, Phase.ERROR, timeout=6.0)
    assert error.sub_code == "ui_element_not_found"
    assert "no known page" in (error.detail or "")
    assert {s.phase for s in seen} <= {Phase.JOINING, Phase.ERROR}


# -- meetbot doctor -------------------------------------------------------------------------


def saved_files(folder: Path) -> list[str]:
    return sorted(p.suffix for p in folder.iterdir())


def saved_html(folder: Path) -> str:
    return next(folder.glob("*.html")).read_text(encoding="utf-8")


async def test_doctor_reports_a_good_meeting_and_exits_0(
    fx: PlatformFixtures, tmp_path: Path
) -> None:
    fx.meeting("google_meet", "doc-torg-ood", lobby=False, participants=[ALICE])
    out = io.StringIO()
    status = await asyncio.to_thread(
        run_doctor, "meet.google.com/doc-torg-ood", BOT, 30.0, tmp_path,
        stay=1.0, humanize=False, origins=fx.origins, timings=FAST, out=out,
    )  # fmt: skip
    text = out.getvalue()
    assert status == 0, text
    for expected in ("meeting: google_meet doc-torg-ood", "phase: in_call", "participants: Alice"):
        assert expected in text
    assert "OK: admitted" in text
    assert saved_files(tmp_path) == []


async def test_doctor_saves_the_page_on_failure_and_exits_1(
    fx: PlatformFixtures, tmp_path: Path
) -> None:
    fx.meeting("zoom", "86000000000", scenario="not_found")
    out = io.StringIO()
    status = await asyncio.to_thread(
        run_doctor, "https://us02web.zoom.us/j/86000000000", BOT, 30.0, tmp_path,
        humanize=False, origins=fx.origins, timings=FAST, out=out,
    )  # fmt: skip
    assert status == 1, out.getvalue()
    assert "FAILED: not_found (meeting_not_found)" in out.getvalue()
    assert saved_files(tmp_path) == [".html", ".png"]
    assert "This meeting link is invalid" in saved_html(tmp_path)

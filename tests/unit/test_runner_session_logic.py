"""The runner's session logic without a browser: snapshot → reports, observation, the flow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from harness.waiting import until
from meetbot.contract.assignment import Assignment, dump_assignment, parse_assignment, stop_options
from meetbot.contract.lifecycle import Refuse, StopReason, SubStatus
from meetbot.contract.models import StopOptions
from meetbot.contract.reports import (
    AudioChunk,
    AuthRequired,
    Caption,
    DebugArtifact,
    Failed,
    Leaving,
    NotAdmitted,
    ParticipantJoined,
    ParticipantLeft,
    Speaking,
    Waiting,
)
from meetbot.control.service.runners import lifecycle_event
from meetbot.runner.camera import camera_script
from meetbot.runner.platforms.base import Phase, Snapshot
from meetbot.runner.platforms.credentials import Credentials
from meetbot.runner.session import EXIT_CONTROL_PLANE_LOST, EXIT_OK, Session
from meetbot.runner.session_ports import SessionConfig
from meetbot.runner.tracker import MeetingTracker, outcome_for
from meetbot.testing.fakes_runner import FakeBrowser, FakePage, FakeReports, MemoryStorage, in_call

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- snapshot → outcome ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "admitted", "report", "reason"),
    [
        (Phase.REMOVED, True, "leaving", StopReason.KICKED),
        (Phase.ENDED, True, "leaving", StopReason.MEETING_ENDED),
        (Phase.ENDED, False, "not_admitted", StopReason.CALL_ALREADY_FINISHED),
        (Phase.NOT_FOUND, False, "not_admitted", StopReason.INVALID_MEETING_URL),
        (Phase.DENIED, False, "not_admitted", StopReason.REQUEST_DENIED),
        (Phase.SIGN_IN_REQUIRED, False, "auth_required", None),
        (Phase.INVALID_CREDENTIALS, False, "invalid_credentials", None),
        (Phase.BLOCKED, False, "bot_detected", None),
        (Phase.ERROR, False, "failed", None),
        (Phase.ERROR, True, "failed", None),
        (Phase.BLOCKED, True, "failed", None),
    ],
)
def test_ending_phases_map_to_one_report(
    phase: Phase, admitted: bool, report: str, reason: StopReason | None
) -> None:
    outcome = outcome_for(Snapshot(phase, sub_code="x"), admitted, T0)
    assert outcome is not None
    assert outcome.report.type == report
    assert outcome.report.at == T0
    assert getattr(outcome.report, "stop_reason", None) == reason
    assert outcome.from_call is (report == "leaving")


@pytest.mark.parametrize("phase", [Phase.JOINING, Phase.WAITING_ROOM, Phase.IN_CALL])
def test_live_phases_end_nothing(phase: Phase) -> None:
    assert outcome_for(Snapshot(phase), False, T0) is None


def test_errors_and_blocks_ask_for_debug_artifacts() -> None:
    error = outcome_for(Snapshot(Phase.ERROR, sub_code="boom", detail="d"), False, T0)
    assert error is not None
    assert error.debug
    assert isinstance(error.report, Failed)
    assert (error.report.sub_code, error.report.detail) == ("boom", "d")
    plain = outcome_for(Snapshot(Phase.ERROR), False, T0)
    assert plain is not None
    assert isinstance(plain.report, Failed)
    assert plain.report.sub_code == "page_error"


# --- the tracker ----------------------------------------------------------------------------


def tracker(**options: int) -> MeetingTracker:
    return MeetingTracker(StopOptions(**options), unit_s=1.0, joining_since=T0)


def test_waiting_is_reported_once_per_change() -> None:
    t = tracker()
    waits = []
    for i, phase in enumerate(
        [Phase.JOINING, Phase.WAITING_FOR_HOST, Phase.WAITING_FOR_HOST, Phase.WAITING_ROOM,
         Phase.WAITING_ROOM, Phase.JOINING, Phase.WAITING_ROOM]
    ):  # fmt: skip
        reports, outcome = t.observe(Snapshot(phase), at(i))
        assert outcome is None
        waits += [r for r in reports if isinstance(r, Waiting)]
    assert [(w.sub_status, w.at) for w in waits] == [
        (SubStatus.WAITING_FOR_HOST, at(1)),
        (SubStatus.WAITING_ROOM, at(3)),
    ]


def test_admission_then_participant_and_speaking_diffs() -> None:
    t = tracker()
    reports, _ = t.observe(Snapshot(Phase.IN_CALL), at(1))
    assert [r.type for r in reports] == ["in_call"]
    assert t.admitted_at == at(1)
    assert t.alone_since == at(1)

    reports, _ = t.observe(in_call("alice", "bob", speaking=["alice"]), at(2))
    assert [(type(r).__name__, getattr(r, "participant_id", None)) for r in reports] == [
        ("ParticipantJoined", "alice"),
        ("Speaking", "alice"),
        ("ParticipantJoined", "bob"),
    ]
    assert t.others_ever_seen
    assert t.alone_since is None
    assert t.last_platform_speech_at == at(2)

    reports, _ = t.observe(in_call("alice", "bob", speaking=["alice"]), at(3))
    assert reports == []  # nothing changed; still speaking
    assert t.last_platform_speech_at == at(3)

    reports, _ = t.observe(in_call("alice", speaking=["alice"]), at(4))
    assert reports == [ParticipantLeft(at=at(4), participant_id="bob", name="bob")]

    reports, _ = t.observe(Snapshot(Phase.IN_CALL), at(5))
    assert reports == [
        Speaking(at=at(5), participant_id="alice", name="alice", speaking=False),
        ParticipantLeft(at=at(5), participant_id="alice", name="alice"),
    ]
    assert t.alone_since == at(5)


def test_captions_become_reports() -> None:
    t = tracker()
    t.observe(Snapshot(Phase.IN_CALL), at(0))
    reports, _ = t.observe(
        Snapshot(Phase.IN_CALL, participants=(), captions=(("Ann", "hello"),)), at(1)
    )
    assert reports == [Caption(at=at(1), speaker="Ann", text="hello")]


def test_participants_before_admission_are_not_reported() -> None:
    t = tracker()
    reports, _ = t.observe(
        Snapshot(Phase.WAITING_ROOM, participants=in_call("host").participants), at(1)
    )
    assert [r.type for r in reports] == ["waiting"]
    assert not t.others_ever_seen


def test_observation_takes_the_later_speech() -> None:
    t = tracker()
    t.observe(in_call("a", speaking=["a"]), at(1))
    assert t.observation(at(2)).last_speech_at == at(1)
    assert t.observation(at(9), audio_speech_at=at(5)).last_speech_at == at(5)
    assert t.observation(at(9), audio_speech_at=at(0)).last_speech_at == at(1)


def test_timers_before_and_after_admission() -> None:
    t = tracker(waiting_room_timeout=3, last_person_detection=2)
    assert t.timer(at(2.9)) is None
    waiting = t.timer(at(3))
    assert waiting is not None
    assert waiting.report == NotAdmitted(at=at(3), stop_reason=StopReason.WAITING_ROOM_TIMEOUT)

    t.observe(in_call("a"), at(3))
    t.observe(Snapshot(Phase.IN_CALL), at(4))  # alone since 4
    assert t.timer(at(5.9)) is None
    last = t.timer(at(6))
    assert last is not None
    assert last.report == Leaving(at=at(6), stop_reason=StopReason.LAST_PERSON_DETECTED)


def test_silence_uses_the_audio_as_a_fallback() -> None:
    t = tracker(silence_detection=5, empty_meeting_timeout=0)
    t.observe(Snapshot(Phase.IN_CALL), at(0))
    assert t.timer(at(6), audio_speech_at=at(3)) is None
    fired = t.timer(at(8), audio_speech_at=at(3))
    assert fired is not None
    assert isinstance(fired.report, Leaving)
    assert fired.report.stop_reason is StopReason.SILENCE_DETECTION_TRIGGERED


# --- the assignment line --------------------------------------------------------------------


def assignment(**changes: Any) -> Assignment:
    base: dict[str, Any] = {
        "bot_id": "bot1",
        "meeting_url": "http://meet.example/room",
        "platform": "fake",
        "bot_name": "Note Taker",
        "stop_options": {
            "waiting_room_timeout": 10,
            "last_person_detection": 2,
            "empty_meeting_timeout": 0,
            "silence_detection": 0,
        },
        "join_at": None,
        "token": "secret",
        "control_url": "http://127.0.0.1:1",
        "timer_unit_seconds": 0.05,
    }
    return Assignment(**{**base, **changes})


def test_assignment_round_trips_as_one_json_line() -> None:
    a = assignment(join_at=T0, storage={"kind": "local", "root": "/tmp/x"})
    line = dump_assignment(a)
    assert "\n" not in line
    assert '"join_at":"2026-01-01T12:00:00Z"' in line
    assert parse_assignment(line) == a
    shifted = parse_assignment(line.replace("12:00:00Z", "13:00:00+01:00"))
    assert shifted.join_at == T0
    assert shifted.join_at.tzinfo is not None
    assert stop_options(a) == StopOptions(
        empty_meeting_timeout=0, last_person_detection=2, waiting_room_timeout=10,
        silence_detection=0,
    )  # fmt: skip
    future = assignment(stop_options={"time_limit": 5, "a_future_timer": 3})
    assert stop_options(future) == StopOptions(time_limit=5)  # unknown keys ignored


def test_assignment_carries_credentials_to_the_runner() -> None:
    creds = {"zoom": {"zak": "zak-secret"}}
    a = assignment(credentials=creds)
    parsed = parse_assignment(dump_assignment(a))
    assert parsed.credentials == creds
    assert "zak-secret" not in repr(parsed)
    zoom = Credentials.from_mapping(parsed.credentials).zoom
    assert zoom is not None
    assert zoom.zak == "zak-secret"
    assert parse_assignment(dump_assignment(assignment())).credentials is None


# --- the whole flow, on fakes ---------------------------------------------------------------


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


FAST = SessionConfig(poll_interval=0.01, warm_lead=0.2, drain_timeout=1.0, leave_timeout=1.0)


LAUNCHED: dict[int, list[datetime]] = {}
"""When each session (by ``id``) launched its browser."""


def make_session(page: FakePage, a: Assignment | None = None, *, warm: bool = True) -> Session:
    browser = FakeBrowser()
    launched: list[datetime] = []

    async def launch() -> FakeBrowser:
        launched.append(datetime.now(UTC))
        return browser

    session = Session(
        a or assignment(),
        page,
        FakeReports(),
        MemoryStorage(),
        _Clock(),
        launch=launch,
        browser=browser if warm else None,
        config=FAST,
    )
    LAUNCHED[id(session)] = launched
    return session


def reports(session: Session) -> FakeReports:
    assert isinstance(session.reporter, FakeReports)
    return session.reporter


def reason(session: Session, type_: str) -> StopReason:
    report = reports(session).of(type_)[0]
    assert isinstance(report, Leaving | NotAdmitted)
    return report.stop_reason


def tone(seconds: float, amplitude: float = 0.3) -> bytes:
    n = int(16_000 * seconds)
    wave = amplitude * np.sin(2 * np.pi * 440 * np.arange(n) / 16_000)
    return (wave * 32767).astype("<i2").tobytes()


async def test_happy_path_records_and_leaves_after_the_last_person() -> None:
    page = FakePage(Snapshot(Phase.JOINING), Snapshot(Phase.WAITING_ROOM), in_call())
    session = make_session(page)
    run = asyncio.create_task(session.run())
    browser = session.browser
    assert isinstance(browser, FakeBrowser)
    await until(lambda: browser.capturing)
    for _ in range(8):  # 2 s of speech in 250 ms pieces: one full chunk file + a partial one
        browser.feed(tone(0.25))
    page.show(in_call("alice", speaking=["alice"]))
    await until(lambda: "speaking" in reports(session).types)
    page.show(Snapshot(Phase.IN_CALL))  # alice left: last person timer (2 x 0.05 s)
    assert await asyncio.wait_for(run, 5) == EXIT_OK

    r = reports(session)
    assert r.types[:5] == ["joining", "waiting", "in_call", "audio_chunk", "participant_joined"]
    assert r.types[-3:] == ["leaving", "audio_chunk", "left"]  # the partial chunk: flushed
    assert r.of("leaving")[0] == Leaving(
        at=r.of("leaving")[0].at, stop_reason=StopReason.LAST_PERSON_DETECTED
    )
    chunks = [c for c in r.reports if isinstance(c, AudioChunk)]
    assert [(c.seq, c.offset_s, c.duration_s) for c in chunks] == [(0, 0.0, 1.5), (1, 1.5, 0.5)]
    storage = session.storage
    assert isinstance(storage, MemoryStorage)
    assert sorted(storage.objects) == [
        "bots/bot1/chunks/00000000.pcm",
        "bots/bot1/chunks/00000001.pcm",
    ]
    assert session.recorder.speech_seconds == pytest.approx(2.0)
    assert page.joined == [("http://meet.example/room", "Note Taker")]
    assert page.left
    assert browser.closed
    assert browser.init_scripts == ["/* fake platform */", camera_script(None)]  # no picture
    assert [type(x) for x in r.of("participant_joined")] == [ParticipantJoined]


async def test_recording_starts_when_audio_flows_not_when_the_in_call_poll_returns() -> None:
    """Admitted, but the page still reads as the lobby (the call screen not drawn yet): audio
    already flows, so it is recorded from then on; the in-call report follows later."""
    page = FakePage(Snapshot(Phase.WAITING_ROOM))
    session = make_session(page)
    run = asyncio.create_task(session.run())
    browser = session.browser
    assert isinstance(browser, FakeBrowser)
    await until(lambda: "waiting" in reports(session).types)
    assert not browser.capturing
    browser.audio_tracks = True
    await until(lambda: browser.capturing)
    assert session.recorder.started_at is not None
    assert "in_call" not in reports(session).types
    for _ in range(4):
        browser.feed(tone(0.25))
    page.show(in_call("alice"))
    await until(lambda: "in_call" in reports(session).types)
    reports(session).command("leave")
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert session.recorder.recorded_seconds == pytest.approx(1.0)


async def test_leave_command_while_waiting_is_not_admitted_manually_stopped() -> None:
    page = FakePage(Snapshot(Phase.WAITING_ROOM))
    session = make_session(page)
    run = asyncio.create_task(session.run())
    await until(lambda: "waiting" in reports(session).types)
    reports(session).command("leave")
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert reports(session).types == ["joining", "waiting", "not_admitted"]
    assert reason(session, "not_admitted") is StopReason.MANUALLY_STOPPED


async def test_leave_command_in_call_is_manually_stopped_and_left() -> None:
    session = make_session(FakePage(in_call("alice")))
    run = asyncio.create_task(session.run())
    await until(lambda: "participant_joined" in reports(session).types)
    reports(session).command("leave")
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    r = reports(session)
    assert r.types[-2:] == ["leaving", "left"]
    assert reason(session, "leaving") is StopReason.MANUALLY_STOPPED


async def test_waiting_too_long_times_out() -> None:
    a = assignment(stop_options={"waiting_room_timeout": 2})  # 2 x 0.05 s
    session = make_session(FakePage(Snapshot(Phase.WAITING_FOR_HOST)), a)
    assert await asyncio.wait_for(session.run(), 5) == EXIT_OK
    r = reports(session)
    assert r.types == ["joining", "waiting", "not_admitted"]
    waiting = r.of("waiting")[0]
    assert isinstance(waiting, Waiting)
    assert waiting.sub_status is SubStatus.WAITING_FOR_HOST
    assert reason(session, "not_admitted") is StopReason.WAITING_ROOM_TIMEOUT


async def test_an_unexpected_page_fails_with_debug_artifacts() -> None:
    session = make_session(FakePage(Snapshot(Phase.ERROR, sub_code="weird_modal", detail="?")))
    assert await asyncio.wait_for(session.run(), 5) == EXIT_OK
    r = reports(session)
    assert r.types == ["joining", "debug_artifact", "debug_artifact", "failed"]
    artifacts = [a for a in r.reports if isinstance(a, DebugArtifact)]
    assert [a.kind for a in artifacts] == ["screenshot", "html"]
    assert all(
        a.key.startswith("bots/bot1/debug/") and a.reason == "weird_modal" for a in artifacts
    )
    storage = session.storage
    assert isinstance(storage, MemoryStorage)
    assert storage.objects[artifacts[1].key] == b"<html>fake</html>"


async def test_a_failing_join_is_reported() -> None:
    session = make_session(FakePage(join_error=RuntimeError("no button")))
    assert await asyncio.wait_for(session.run(), 5) == EXIT_OK
    failed = reports(session).of("failed")
    assert len(failed) == 1
    assert isinstance(failed[0], Failed)
    assert failed[0].sub_code == "join_failed"
    assert "no button" in (failed[0].detail or "")


async def test_join_at_is_awaited_and_the_browser_warmed_just_before() -> None:
    join_at = datetime.now(UTC) + timedelta(seconds=0.6)
    session = make_session(FakePage(in_call()), assignment(join_at=join_at), warm=False)
    run = asyncio.create_task(session.run())
    await asyncio.sleep(0.1)
    assert LAUNCHED[id(session)] == []  # not before join_at - warm_lead (0.2 s)
    assert reports(session).types == []
    await until(lambda: "in_call" in reports(session).types)
    assert reports(session).types[:2] == ["joining", "in_call"]
    assert LAUNCHED[id(session)][0] >= join_at - timedelta(seconds=0.25)
    assert reports(session).reports[0].at >= join_at  # navigation at join_at, not before
    reports(session).command("leave")
    assert await asyncio.wait_for(run, 5) == EXIT_OK


async def test_a_leave_before_join_at_ends_not_admitted() -> None:
    join_at = datetime.now(UTC) + timedelta(seconds=30)
    session = make_session(FakePage(), assignment(join_at=join_at))
    run = asyncio.create_task(session.run())
    await asyncio.sleep(0.05)
    reports(session).command("leave")
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert reports(session).types == ["not_admitted"]


async def test_stop_ends_at_once_without_more_reports() -> None:
    page = FakePage(in_call("alice"))
    session = make_session(page)
    run = asyncio.create_task(session.run())
    await until(lambda: "participant_joined" in reports(session).types)
    before = list(reports(session).types)
    reports(session).command("stop")
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert [t for t in reports(session).types if t != "audio_chunk"] == before
    assert page.left


async def test_a_lost_control_plane_leaves_and_exits_3() -> None:
    page = FakePage(in_call("alice"))
    session = make_session(page)
    run = asyncio.create_task(session.run())
    await until(lambda: "participant_joined" in reports(session).types)
    reports(session).lost.set()
    assert await asyncio.wait_for(run, 5) == EXIT_CONTROL_PLANE_LOST
    assert page.left
    assert "leaving" not in reports(session).types


async def test_kicked_in_call() -> None:
    page = FakePage(in_call("host"), Snapshot(Phase.REMOVED))
    session = make_session(page)
    assert await asyncio.wait_for(session.run(), 5) == EXIT_OK
    r = reports(session)
    assert r.types[-2:] == ["leaving", "left"]
    assert reason(session, "leaving") is StopReason.KICKED


async def test_a_removal_before_admission_was_seen_is_kicked_from_the_call() -> None:
    """Admitted and removed between two polls: the lobby → call step is inferred from the
    removal screen (in call, then kicked), never "request denied"."""
    page = FakePage(Snapshot(Phase.WAITING_ROOM), Snapshot(Phase.REMOVED))
    session = make_session(page)
    assert await asyncio.wait_for(session.run(), 5) == EXIT_OK
    r = reports(session)
    assert "in_call" in r.types
    assert r.types[-2:] == ["leaving", "left"]
    assert reason(session, "leaving") is StopReason.KICKED
    assert "not_admitted" not in r.types


@pytest.mark.parametrize("phase", [Phase.DENIED, Phase.ENDED, Phase.NOT_FOUND])
def test_not_admitted_carries_the_snapshots_sub_code(phase: Phase) -> None:
    outcome = outcome_for(Snapshot(phase, sub_code="host_denied"), False, T0)
    assert outcome is not None
    assert isinstance(outcome.report, NotAdmitted)
    assert outcome.report.sub_code == "host_denied"
    assert lifecycle_event(outcome.report) == Refuse(outcome.report.stop_reason, "host_denied")


def test_a_wait_that_times_out_on_a_host_in_another_meeting_says_so() -> None:
    t = tracker(waiting_room_timeout=3)
    t.observe(Snapshot(Phase.WAITING_FOR_HOST, sub_code="host_in_another_meeting"), at(0))
    ended = t.timer(at(3))
    assert ended is not None
    assert ended.report == NotAdmitted(
        at=at(3),
        stop_reason=StopReason.HOST_IN_ANOTHER_MEETING,
        sub_code=None,
    )
    # the host ended the other meeting: an ordinary wait for the host again
    t = tracker(waiting_room_timeout=3)
    t.observe(Snapshot(Phase.WAITING_FOR_HOST, sub_code="host_in_another_meeting"), at(0))
    t.observe(Snapshot(Phase.WAITING_FOR_HOST, sub_code="zoom_meeting_not_started"), at(1))
    ended = t.timer(at(3))
    assert ended is not None
    assert isinstance(ended.report, NotAdmitted)
    assert ended.report.stop_reason is StopReason.WAITING_ROOM_TIMEOUT


def test_a_time_limit_shorter_than_the_wait_ends_it_and_says_so() -> None:
    t = tracker(waiting_room_timeout=10, time_limit=4)
    assert t.timer(at(3.9)) is None
    ended = t.timer(at(4))
    assert ended is not None
    assert isinstance(ended.report, NotAdmitted)
    assert ended.report.stop_reason is StopReason.WAITING_ROOM_TIMEOUT
    assert ended.report.message == "stop_options.time_limit (4 min) ran out before admission"


def test_page_outcomes_carry_what_the_page_said() -> None:
    denied = outcome_for(
        Snapshot(Phase.DENIED, sub_code="request_denied", detail="Your request was declined"),
        False,
        T0,
    )
    assert denied is not None
    assert isinstance(denied.report, NotAdmitted)
    assert denied.report.message == "Your request was declined"


async def test_a_join_error_is_reported_as_its_first_line_for_the_client() -> None:
    error = "Page.goto: net::ERR_NAME_NOT_RESOLVED at https://meet.google.com/abc-defg-hij"
    session = make_session(FakePage(join_error=RuntimeError(f"{error}\nCall log:\n  - navigating")))
    assert await asyncio.wait_for(session.run(), 5) == EXIT_OK
    failed = reports(session).of("failed")
    assert len(failed) == 1
    assert isinstance(failed[0], Failed)
    assert failed[0].detail == error


def test_a_rules_technical_evidence_is_not_a_message() -> None:
    ended = outcome_for(Snapshot(Phase.ENDED, detail="signal:ended_screen"), True, T0)
    assert ended is not None
    assert isinstance(ended.report, Leaving)
    assert ended.report.message is None
    wall = outcome_for(
        Snapshot(Phase.SIGN_IN_REQUIRED, detail="host:accounts.google.com"), False, T0
    )
    assert wall is not None
    assert isinstance(wall.report, AuthRequired)
    assert wall.report.message is None

"""The transition table and advance(), parametrised over every (status, event) pair."""

from __future__ import annotations

import itertools

import pytest

from meetbot.contract import lifecycle as lc
from meetbot.contract.lifecycle import BotState, Status, StopReason, SubStatus, advance

SAMPLE_EVENTS: list[lc.Event] = [
    lc.Dispatch(),
    lc.Reschedule(),
    lc.Redispatch(),
    lc.StartJoining(),
    lc.Wait(SubStatus.WAITING_ROOM),
    lc.Admit(),
    lc.Leave(StopReason.KICKED),
    lc.Refuse(StopReason.WAITING_ROOM_TIMEOUT),
    lc.Left(),
    lc.Processed(),
    lc.Finish(),
    lc.Fail("bot_process_lost"),
    lc.NeedAuth("meeting_requires_sign_in"),
    lc.RejectCredentials(),
    lc.RejectApiKey(),
    lc.Detect(),
    lc.Retry(),
]

HAPPY_PATH = [
    (lc.Dispatch(), Status.BOOTING),
    (lc.StartJoining(), Status.JOINING),
    (lc.Wait(), Status.JOINING),
    (lc.Admit(), Status.RECORDING),
    (lc.Leave(StopReason.LAST_PERSON_DETECTED), Status.LEAVING),
    (lc.Left(), Status.PROCESSING),
    (lc.Processed(), Status.TRANSCRIBING),
    (lc.Finish(), Status.FINISHED),
]


@pytest.mark.parametrize(
    ("status", "event"), list(itertools.product(Status, SAMPLE_EVENTS)), ids=str
)
def test_every_pair_follows_the_table(status: Status, event: lc.Event) -> None:
    state = BotState(status)
    target = lc.TRANSITIONS.get((status, type(event)))
    if target is None:
        with pytest.raises(lc.IllegalTransition):
            lc.advance(state, event)
    else:
        assert lc.advance(state, event).new.status is target


def test_happy_path_keeps_the_stop_reason_to_the_end() -> None:
    state = BotState(Status.SCHEDULED)
    for event, expected in HAPPY_PATH:
        state = lc.advance(state, event).new
        assert state.status is expected
    assert state.stop_reason is StopReason.LAST_PERSON_DETECTED


def test_waiting_sets_and_admission_clears_the_sub_status() -> None:
    waiting = lc.advance(BotState(Status.JOINING), lc.Wait(SubStatus.WAITING_ROOM)).new
    assert waiting.sub_status is SubStatus.WAITING_ROOM
    host = lc.advance(waiting, lc.Wait(SubStatus.WAITING_FOR_HOST))
    assert host.changed
    assert host.new.sub_status is SubStatus.WAITING_FOR_HOST
    assert not lc.advance(waiting, lc.Wait(SubStatus.WAITING_ROOM)).changed
    assert lc.advance(waiting, lc.Admit()).new.sub_status is None


@pytest.mark.parametrize("status", sorted(lc.TERMINAL))
@pytest.mark.parametrize("event", SAMPLE_EVENTS, ids=str)
def test_terminal_statuses_accept_nothing(status: Status, event: lc.Event) -> None:
    with pytest.raises(lc.IllegalTransition):
        lc.advance(BotState(status), event)


def test_no_transition_leaves_a_terminal_status() -> None:
    assert not {s for s, _ in lc.TRANSITIONS} & lc.TERMINAL


def test_only_retry_leaves_an_ended_status() -> None:
    leaving = {(s, e) for s, e in lc.TRANSITIONS if s in lc.ENDED}
    assert leaving == {(Status.BOT_DETECTED, lc.Retry)}


def test_bot_detected_retries_three_times_then_stays() -> None:
    state = BotState(Status.JOINING)
    for attempt in range(lc.MAX_DETECTION_RETRIES):
        state = lc.advance(state, lc.Detect("google_meet_bot_blocked")).new
        assert state.status is Status.BOT_DETECTED
        assert state.sub_code == "google_meet_bot_blocked"
        state = lc.advance(state, lc.Retry()).new
        assert state.status is Status.BOOTING
        assert state.detection_retries == attempt + 1
        assert state.sub_code is None
        state = lc.advance(state, lc.StartJoining()).new
    state = lc.advance(state, lc.Detect()).new
    with pytest.raises(lc.IllegalTransition):
        lc.advance(state, lc.Retry())


@pytest.mark.parametrize("reason", sorted(lc.NOT_ADMITTED_REASONS - lc.FINISH_REASONS))
def test_leave_refuses_not_admitted_reasons(reason: StopReason) -> None:
    with pytest.raises(lc.IllegalTransition):
        lc.advance(BotState(Status.RECORDING), lc.Leave(reason))


@pytest.mark.parametrize("reason", sorted(lc.FINISH_REASONS - lc.NOT_ADMITTED_REASONS))
def test_refuse_rejects_finish_reasons(reason: StopReason) -> None:
    with pytest.raises(lc.IllegalTransition):
        lc.advance(BotState(Status.JOINING), lc.Refuse(reason))


@pytest.mark.parametrize("status", sorted(frozenset(Status) - lc.ENDED))
def test_every_live_status_can_fail(status: Status) -> None:
    new = lc.advance(BotState(status), lc.Fail("x")).new
    assert (new.status, new.sub_code) == (Status.FAILED, "x")


def test_failure_keeps_an_earlier_stop_reason() -> None:
    leaving = BotState(Status.LEAVING, stop_reason=StopReason.KICKED)
    assert lc.advance(leaving, lc.Fail("x")).new.stop_reason is StopReason.KICKED


def test_refuse_carries_the_platforms_sub_code() -> None:
    joining = BotState(Status.JOINING, sub_status=SubStatus.WAITING_ROOM)
    new = lc.advance(joining, lc.Refuse(StopReason.REQUEST_DENIED, "meeting_locked")).new
    assert (new.status, new.stop_reason, new.sub_code) == (
        Status.NOT_ADMITTED,
        StopReason.REQUEST_DENIED,
        "meeting_locked",
    )
    assert lc.advance(joining, lc.Refuse(StopReason.REQUEST_DENIED)).new.sub_code is None


def test_a_booting_bot_can_go_back_to_scheduled_and_be_dispatched_again() -> None:
    """PATCH of ``join_at`` far ahead on a ``booting`` bot (issue 11): it waits again."""
    booting = lc.advance(BotState(Status.SCHEDULED), lc.Dispatch()).new
    back = lc.advance(booting, lc.Reschedule()).new
    assert back == BotState(Status.SCHEDULED)
    assert lc.advance(back, lc.Dispatch()).new.status is Status.BOOTING
    for status in set(Status) - {Status.BOOTING}:
        with pytest.raises(lc.IllegalTransition):
            lc.advance(BotState(status), lc.Reschedule())


# --- messages ---------------------------------------------------------------------------------


def test_ending_and_stopping_events_carry_a_message_later_steps_keep_it() -> None:
    from meetbot.contract.lifecycle import Admit, Fail, Leave, Left, Refuse, StartJoining

    joining = advance(BotState(Status.BOOTING), StartJoining()).new
    assert joining.message is None
    failed = advance(joining, Fail("join_failed", "net::ERR_NAME_NOT_RESOLVED at https://x")).new
    assert failed.message == (
        "The bot could not open the meeting: net::ERR_NAME_NOT_RESOLVED at https://x"
    )
    refused = advance(joining, Refuse(StopReason.REQUEST_DENIED)).new
    assert refused.message == "The host denied the bot's request to join."
    recording = advance(joining, Admit()).new
    assert recording.message is None
    leaving = advance(recording, Leave(StopReason.KICKED)).new
    assert leaving.message == "The bot was removed from the meeting."
    assert advance(leaving, Left()).new.message == leaving.message
    lost = advance(recording, Fail("bot_process_lost")).new
    assert lost.message == "The bot's runner stopped reporting (no heartbeat)."
    odd = advance(recording, Fail("something_new")).new
    assert odd.message == "The bot failed (something_new)."


def test_a_leave_with_a_sub_code_keeps_it_to_the_end() -> None:
    from meetbot.contract.lifecycle import Finish, Leave, Left, Processed

    recording = BotState(Status.RECORDING)
    leaving = advance(recording, Leave(StopReason.MANUALLY_STOPPED, sub_code="host_shutdown")).new
    assert (leaving.status, leaving.sub_code) == (Status.LEAVING, "host_shutdown")
    assert leaving.message == "The bot's runner host shut down (drained or evicted); the bot left."
    processing = advance(leaving, Left()).new
    finished = advance(advance(processing, Processed()).new, Finish()).new
    assert (finished.status, finished.sub_code) == (Status.FINISHED, "host_shutdown")
    assert advance(recording, Leave(StopReason.KICKED)).new.sub_code is None


def test_retry_clears_the_message() -> None:
    from meetbot.contract.lifecycle import Detect, Retry

    detected = advance(BotState(Status.JOINING), Detect("teams_captcha")).new
    assert detected.message == "The platform blocked the bot as a bot."
    assert advance(detected, Retry()).new.message is None


def test_join_tokens_are_redacted_from_details() -> None:
    from meetbot.contract.status_texts import describe
    from meetbot.redaction import redact

    url = "https://app.zoom.us/wc/join/1?pwd=abc&zak=Z.1-2&obf_token=O&x=1"
    assert redact(url) == (
        "https://app.zoom.us/wc/join/1?pwd=<redacted>&zak=<redacted>&obf_token=<redacted>&x=1"
    )
    assert "Z.1-2" not in describe("failed", None, "join_failed", url)
    assert redact("https://teams.live.com/meet/1?p=abc") == (
        "https://teams.live.com/meet/1?p=<redacted>"
    )
    assert redact("step=1") == "step=1"


def test_only_a_booting_bot_is_dispatched_again_and_stays_booting() -> None:
    """A fleet agent lost before its bot started joining: the bot goes to another (issue 14)."""
    booting = lc.advance(BotState(Status.SCHEDULED), lc.Dispatch()).new
    assert lc.advance(booting, lc.Redispatch()).new == booting
    for status in set(Status) - {Status.BOOTING}:
        with pytest.raises(lc.IllegalTransition):
            lc.advance(BotState(status), lc.Redispatch())

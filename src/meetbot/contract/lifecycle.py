"""The bot lifecycle: statuses, events, one transition table and one pure ``advance()``.

Nothing here does I/O. The service calls :func:`advance`, stores the resulting
:class:`Transition` and emits it as a ``status_update`` event.

Every event that ends or stops a bot (:data:`ENDING_EVENTS`) sets the state's human-readable
``message`` (:func:`meetbot.contract.status_texts.describe`: the reason's text, then the event's
detail); later steps (``left``, ``processed``, ``finish``) keep it, like ``stop_reason`` and
``sub_code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from meetbot.contract.status_texts import describe


class Status(StrEnum):
    SCHEDULED = "scheduled"
    BOOTING = "booting"
    JOINING = "joining"
    RECORDING = "recording"
    LEAVING = "leaving"
    PROCESSING = "processing"
    TRANSCRIBING = "transcribing"
    FINISHED = "finished"
    NOT_ADMITTED = "not_admitted"
    AUTH_REQUIRED = "auth_required"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_API_KEY = "invalid_api_key"
    BOT_DETECTED = "bot_detected"
    FAILED = "failed"


class SubStatus(StrEnum):
    WAITING_ROOM = "waiting_room"
    WAITING_FOR_HOST = "waiting_for_host"
    PAUSED = "paused"
    """``recording``, paused (``pause_recording``): nothing is recorded until resumed."""


class StopReason(StrEnum):
    # finished
    KICKED = "kicked"
    MEETING_ENDED = "meeting_ended"
    EMPTY_MEETING_TIMEOUT = "empty_meeting_timeout"
    LAST_PERSON_DETECTED = "last_person_detected"
    MANUALLY_STOPPED = "manually_stopped"
    SILENCE_DETECTION_TRIGGERED = "silence_detection_triggered"
    TIME_LIMIT = "time_limit"
    # not_admitted
    INVALID_MEETING_URL = "invalid_meeting_url"
    CALL_ALREADY_FINISHED = "call_already_finished"
    WAITING_ROOM_TIMEOUT = "waiting_room_timeout"
    REQUEST_DENIED = "request_denied"
    HOST_IN_ANOTHER_MEETING = "host_in_another_meeting"


FINISH_REASONS = frozenset(
    {
        StopReason.KICKED,
        StopReason.MEETING_ENDED,
        StopReason.EMPTY_MEETING_TIMEOUT,
        StopReason.LAST_PERSON_DETECTED,
        StopReason.MANUALLY_STOPPED,
        StopReason.SILENCE_DETECTION_TRIGGERED,
        StopReason.TIME_LIMIT,
    }
)
NOT_ADMITTED_REASONS = frozenset(
    {
        StopReason.INVALID_MEETING_URL,
        StopReason.CALL_ALREADY_FINISHED,
        StopReason.WAITING_ROOM_TIMEOUT,
        StopReason.REQUEST_DENIED,
        StopReason.HOST_IN_ANOTHER_MEETING,
        StopReason.MANUALLY_STOPPED,
    }
)

TERMINAL = frozenset(
    {
        Status.FINISHED,
        Status.NOT_ADMITTED,
        Status.AUTH_REQUIRED,
        Status.INVALID_CREDENTIALS,
        Status.INVALID_API_KEY,
        Status.FAILED,
    }
)
"""Statuses no transition leaves."""
ENDED = TERMINAL | {Status.BOT_DETECTED}
"""Statuses in which a bot's work is over: :data:`TERMINAL`, and ``bot_detected``, which only
``Retry`` leaves: the service applies it in the transaction that stores the detection while
retries remain, so a stored ``bot_detected`` bot is out of retries and stays. Nothing but
``Retry`` leaves an ended status (not even ``Fail``)."""
# Statuses in which a runner process owns the bot (capacity is held).
DISPATCHED = frozenset({Status.BOOTING, Status.JOINING, Status.RECORDING, Status.LEAVING})
MAX_DETECTION_RETRIES = 3


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dispatch:
    """The scheduler hands a scheduled bot to a runner."""


@dataclass(frozen=True, slots=True)
class Reschedule:
    """A dispatched bot that has not started joining waits again: its ``join_at`` moved further
    ahead than the scheduled threshold, so its runner is let go until the next dispatch."""


@dataclass(frozen=True, slots=True)
class Redispatch:
    """A dispatched bot that has not started joining is handed to another runner host: the
    fleet agent it was handed to was lost or revoked (a new runner token, same status)."""


@dataclass(frozen=True, slots=True)
class StartJoining:
    """The runner starts navigating to the meeting."""


@dataclass(frozen=True, slots=True)
class Wait:
    """The bot waits to be admitted (lobby) or for the host to start the meeting."""

    sub_status: SubStatus = SubStatus.WAITING_ROOM


@dataclass(frozen=True, slots=True)
class Admit:
    """The bot is in the call and recording."""


@dataclass(frozen=True, slots=True)
class Leave:
    """The bot leaves the call (a stop timer, the host, the meeting, or ``leave_call``)."""

    reason: StopReason
    message: str | None = None
    sub_code: str | None = None
    """Why, beyond the reason (``host_shutdown``); kept through ``finished``."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """The bot never got in; ``sub_code`` is the platform's detail, if it gave one."""

    reason: StopReason
    sub_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Left:
    """The runner is out of the call and its audio is flushed."""


@dataclass(frozen=True, slots=True)
class Processed:
    """The recording is finalised and a transcription stage follows."""


@dataclass(frozen=True, slots=True)
class Finish:
    """Nothing is left to do: the recording (and transcript, if any) is stored."""


@dataclass(frozen=True, slots=True)
class Fail:
    """Something broke; ``sub_code`` says what."""

    sub_code: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class NeedAuth:
    """The meeting demands a signed-in user and the bot has no credentials."""

    sub_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class RejectCredentials:
    """The platform refused the bot's credentials."""

    sub_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class RejectApiKey:
    """A transcription vendor refused its API key."""

    sub_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Detect:
    """The platform blocked the bot as a bot."""

    sub_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Start again with a fresh browser profile after ``bot_detected``."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop recording for a while, staying in the call (``pause_recording``)."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Record again after a :class:`Pause` (``resume_recording``)."""


Event = (
    Dispatch
    | Reschedule
    | Redispatch
    | StartJoining
    | Wait
    | Admit
    | Leave
    | Refuse
    | Left
    | Processed
    | Finish
    | Fail
    | NeedAuth
    | RejectCredentials
    | RejectApiKey
    | Detect
    | Retry
    | Pause
    | Resume
)

S = Status
_IN_MEETING_PATH = (S.BOOTING, S.JOINING)
_ALIVE = frozenset(Status) - ENDED

# (current status, event type) -> next status. Everything else is refused.
TRANSITIONS: dict[tuple[Status, type[Event]], Status] = {
    (S.SCHEDULED, Dispatch): S.BOOTING,
    (S.BOOTING, Reschedule): S.SCHEDULED,
    (S.BOOTING, Redispatch): S.BOOTING,
    (S.BOOTING, StartJoining): S.JOINING,
    (S.JOINING, Wait): S.JOINING,
    (S.JOINING, Admit): S.RECORDING,
    (S.RECORDING, Leave): S.LEAVING,
    (S.LEAVING, Left): S.PROCESSING,
    (S.PROCESSING, Processed): S.TRANSCRIBING,
    (S.PROCESSING, Finish): S.FINISHED,
    (S.TRANSCRIBING, Finish): S.FINISHED,
    (S.TRANSCRIBING, RejectApiKey): S.INVALID_API_KEY,
    (S.PROCESSING, RejectApiKey): S.INVALID_API_KEY,
    (S.BOT_DETECTED, Retry): S.BOOTING,
    (S.RECORDING, Pause): S.RECORDING,
    (S.RECORDING, Resume): S.RECORDING,
    **{(s, Refuse): S.NOT_ADMITTED for s in _IN_MEETING_PATH},
    **{(s, NeedAuth): S.AUTH_REQUIRED for s in _IN_MEETING_PATH},
    **{(s, RejectCredentials): S.INVALID_CREDENTIALS for s in _IN_MEETING_PATH},
    **{(s, Detect): S.BOT_DETECTED for s in _IN_MEETING_PATH},
    **{(s, Fail): S.FAILED for s in _ALIVE},
}


@dataclass(frozen=True, slots=True)
class BotState:
    """The part of a bot the lifecycle looks at."""

    status: Status
    sub_status: SubStatus | None = None
    stop_reason: StopReason | None = None
    sub_code: str | None = None
    detection_retries: int = 0
    message: str | None = None
    """Why the bot ended or stopped, for people (set by the events that end or stop it)."""


@dataclass(frozen=True, slots=True)
class Transition:
    old: BotState
    new: BotState

    @property
    def changed(self) -> bool:
        return self.old != self.new


class IllegalTransition(Exception):
    def __init__(self, state: BotState, event: Event) -> None:
        super().__init__(f"{type(event).__name__} is not allowed in status {state.status}")
        self.state = state
        self.event = event


def advance(state: BotState, event: Event) -> Transition:
    """Compute the next state of a bot for ``event``; raise :class:`IllegalTransition`."""
    target = TRANSITIONS.get((state.status, type(event)))
    if target is None or not _guard(state, event):
        raise IllegalTransition(state, event)
    stop_reason = _stop_reason(state, event)
    sub_code = _sub_code(state, event)
    new = BotState(
        status=target,
        sub_status=_sub_status(event),
        stop_reason=stop_reason,
        sub_code=sub_code,
        detection_retries=state.detection_retries + (1 if isinstance(event, Retry) else 0),
        message=_message(state, event, target, stop_reason, sub_code),
    )
    return Transition(old=state, new=new)


def _guard(state: BotState, event: Event) -> bool:
    if isinstance(event, Retry):
        return state.detection_retries < MAX_DETECTION_RETRIES
    if isinstance(event, Leave):
        return event.reason in FINISH_REASONS
    if isinstance(event, Refuse):
        return event.reason in NOT_ADMITTED_REASONS
    if isinstance(event, Pause):
        return state.sub_status is not SubStatus.PAUSED
    if isinstance(event, Resume):
        return state.sub_status is SubStatus.PAUSED
    return True


def _sub_status(event: Event) -> SubStatus | None:
    if isinstance(event, Pause):
        return SubStatus.PAUSED
    return event.sub_status if isinstance(event, Wait) else None


def _stop_reason(state: BotState, event: Event) -> StopReason | None:
    if isinstance(event, Leave | Refuse):
        return event.reason
    if isinstance(event, Retry):
        return None
    return state.stop_reason


def _sub_code(state: BotState, event: Event) -> str | None:
    if isinstance(event, Fail):
        return event.sub_code
    if isinstance(event, Leave | Refuse | NeedAuth | RejectCredentials | RejectApiKey | Detect):
        return event.sub_code
    if isinstance(event, Retry):
        return None
    return state.sub_code


ENDING_EVENTS = (Leave, Refuse, Fail, NeedAuth, RejectCredentials, RejectApiKey, Detect)


def _message(
    state: BotState,
    event: Event,
    target: Status,
    stop_reason: StopReason | None,
    sub_code: str | None,
) -> str | None:
    if isinstance(event, ENDING_EVENTS):
        return describe(target.value, stop_reason, sub_code, event.message)
    if isinstance(event, Retry):
        return None
    return state.message


def is_terminal(status: Status) -> bool:
    """No transition leaves ``status``."""
    return status in TERMINAL

"""What the session has seen of its meeting, as pure state: snapshots in, reports out.

:class:`MeetingTracker` turns each :class:`~meetbot.runner.platforms.base.Snapshot` into the
reports it implies (``Waiting`` once per change, ``InCall``, participant and speaking diffs,
captions) and, when the meeting is over for the bot, an :class:`Outcome`. It builds the
:class:`~meetbot.contract.policies.Observation` for the stop timers. No I/O, no clock of its own:
every call gets ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meetbot.contract.lifecycle import StopReason, SubStatus
from meetbot.contract.models import StopOptions
from meetbot.contract.policies import Observation, stop_reason
from meetbot.contract.reports import (
    AuthRequired,
    BotDetected,
    Caption,
    ChatMessage,
    Failed,
    InCall,
    InvalidCredentials,
    Leaving,
    NotAdmitted,
    ParticipantJoined,
    ParticipantLeft,
    Report,
    Speaking,
    Waiting,
)
from meetbot.runner.platforms.base import Participant, Phase, Snapshot

HOST_IN_ANOTHER_MEETING = "host_in_another_meeting"
"""The sub-code of a waiting page that says the host is in another meeting (Zoom); a wait
that times out on it ends ``not_admitted`` / ``host_in_another_meeting``."""

EndReport = Leaving | NotAdmitted | Failed | AuthRequired | InvalidCredentials | BotDetected


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the bot's time in the meeting ends: the report to send, and what to do."""

    report: EndReport
    debug: bool = False
    """Save a screenshot and the page's HTML first (an unexpected page)."""

    @property
    def from_call(self) -> bool:
        """The bot was in the call: leave it, flush the audio, report ``Left``."""
        return isinstance(self.report, Leaving)


_WAITING = {
    Phase.WAITING_ROOM: SubStatus.WAITING_ROOM,
    Phase.WAITING_FOR_HOST: SubStatus.WAITING_FOR_HOST,
}
# Phases that end the bot's meeting: (reason once admitted, reason before admission). A removal
# has no "before": only a bot in the call can be removed, so :meth:`MeetingTracker.observe`
# infers the admission it missed (lobby → call → removed between two polls) and reports it.
_ENDINGS: dict[Phase, tuple[StopReason, StopReason]] = {
    Phase.REMOVED: (StopReason.KICKED, StopReason.KICKED),
    Phase.DENIED: (StopReason.KICKED, StopReason.REQUEST_DENIED),
    Phase.ENDED: (StopReason.MEETING_ENDED, StopReason.CALL_ALREADY_FINISHED),
    Phase.NOT_FOUND: (StopReason.MEETING_ENDED, StopReason.INVALID_MEETING_URL),
}


def _said(snapshot: Snapshot) -> str | None:
    """What the page said, for the client's message: the matched text or the adapter's
    detail, not a rule's technical evidence (``signal:<name>``, ``host:<host>``)."""
    detail = snapshot.detail
    if detail is None or detail.startswith(("signal:", "host:")):
        return None
    return detail


def outcome_for(snapshot: Snapshot, admitted: bool, at: datetime) -> Outcome | None:
    """The outcome a snapshot's phase implies, if it ends the meeting for the bot."""
    phase = snapshot.phase
    if phase in _ENDINGS:
        in_call, before = _ENDINGS[phase]
        if admitted:
            return Outcome(Leaving(at=at, stop_reason=in_call, message=_said(snapshot)))
        return Outcome(
            NotAdmitted(
                at=at, stop_reason=before, sub_code=snapshot.sub_code, message=_said(snapshot)
            )
        )
    sub_code, detail = snapshot.sub_code, _said(snapshot)
    if phase is Phase.ERROR:
        return Outcome(
            Failed(at=at, sub_code=sub_code or "page_error", detail=snapshot.detail), debug=True
        )
    if phase in (Phase.SIGN_IN_REQUIRED, Phase.INVALID_CREDENTIALS, Phase.BLOCKED) and admitted:
        # The lifecycle has no way from ``recording`` to these: the page changed under us.
        return Outcome(
            Failed(at=at, sub_code=f"unexpected_{phase.value}", detail=snapshot.detail), debug=True
        )
    if phase is Phase.SIGN_IN_REQUIRED:
        return Outcome(AuthRequired(at=at, sub_code=sub_code, message=detail))
    if phase is Phase.INVALID_CREDENTIALS:
        return Outcome(InvalidCredentials(at=at, sub_code=sub_code, message=detail))
    if phase is Phase.BLOCKED:
        return Outcome(BotDetected(at=at, sub_code=sub_code, message=detail), debug=True)
    return None


def stop_outcome(
    reason: StopReason,
    admitted: bool,
    at: datetime,
    message: str | None = None,
    *,
    sub_code: str | None = None,
) -> Outcome:
    """A stop decided by the bot (a timer, ``leave``): ``Leaving`` in call, else ``NotAdmitted``.

    ``sub_code`` (e.g. ``host_shutdown``) says why; both reports carry it (the control plane's
    status text for it is the status change's message)."""
    if admitted:
        return Outcome(Leaving(at=at, stop_reason=reason, sub_code=sub_code, message=message))
    refused = NotAdmitted(at=at, stop_reason=reason, sub_code=sub_code, message=message)
    return Outcome(refused)


class MeetingTracker:
    def __init__(self, options: StopOptions, unit_s: float, joining_since: datetime) -> None:
        self.options = options
        self.unit_s = unit_s
        self.joining_since = joining_since
        self.admitted_at: datetime | None = None
        self.sub_status: SubStatus | None = None
        self.waiting_sub_code: str | None = None
        """The platform's sub-code of the latest waiting page (``host_in_another_meeting``)."""
        self.participants: dict[str, Participant] = {}
        self.others_ever_seen = False
        self.alone_since: datetime | None = None
        self.last_platform_speech_at: datetime | None = None
        self.phase = Phase.JOINING

    @property
    def admitted(self) -> bool:
        return self.admitted_at is not None

    def observe(self, snapshot: Snapshot, now: datetime) -> tuple[list[Report], Outcome | None]:
        """The reports this snapshot implies, and the outcome if the meeting is over for us."""
        self.phase = snapshot.phase
        reports: list[Report] = []
        if snapshot.phase is Phase.REMOVED and not self.admitted:
            # Removed before the call was seen: it was missed (admitted and removed between two
            # polls); the removal screen says the bot was in the call, so report it was.
            self.admitted_at = now
            self.sub_status = None
            reports.append(InCall(at=now))
        outcome = outcome_for(snapshot, self.admitted, now)
        if outcome is not None:
            return reports, outcome
        sub_status = _WAITING.get(snapshot.phase)
        if sub_status is not None and not self.admitted:
            self.waiting_sub_code = snapshot.sub_code
            if sub_status is not self.sub_status:
                self.sub_status = sub_status
                reports.append(Waiting(at=now, sub_status=sub_status))
        elif snapshot.phase is Phase.IN_CALL:
            if not self.admitted:
                self.admitted_at = now
                self.sub_status = None
                reports.append(InCall(at=now))
            reports.extend(self._diff(snapshot, now))
        return reports, None

    def _diff(self, snapshot: Snapshot, now: datetime) -> list[Report]:
        reports: list[Report] = []
        current = {p.id: p for p in snapshot.participants}
        for pid, old in self.participants.items():
            if pid not in current:
                if old.speaking:
                    reports.append(
                        Speaking(at=now, participant_id=pid, name=old.name, speaking=False)
                    )
                reports.append(ParticipantLeft(at=now, participant_id=pid, name=old.name))
        for pid, new in current.items():
            old_p = self.participants.get(pid)
            if old_p is None:
                reports.append(ParticipantJoined(at=now, participant_id=pid, name=new.name))
            if new.speaking != (old_p.speaking if old_p else False):
                reports.append(
                    Speaking(at=now, participant_id=pid, name=new.name, speaking=new.speaking)
                )
            if new.speaking:
                self.last_platform_speech_at = now
        reports.extend(Caption(at=now, speaker=s, text=t) for s, t in snapshot.captions)
        reports.extend(
            ChatMessage(at=now, sender_id=c.sender_id, sender_name=c.sender_name, text=c.text,
                        to=c.to)
            for c in snapshot.chat
        )  # fmt: skip
        self.participants = current
        if current:
            self.others_ever_seen = True
            self.alone_since = None
        elif self.alone_since is None:
            self.alone_since = now
        return reports

    def observation(self, now: datetime, audio_speech_at: datetime | None = None) -> Observation:
        """What the stop timers look at; speech is the later of the platform's and the audio's."""
        speech = [t for t in (self.last_platform_speech_at, audio_speech_at) if t is not None]
        return Observation(
            now=now,
            joining_since=self.joining_since,
            admitted_at=self.admitted_at,
            others_ever_seen=self.others_ever_seen,
            alone_since=self.alone_since,
            last_speech_at=max(speech) if speech else None,
        )

    def timer(self, now: datetime, audio_speech_at: datetime | None = None) -> Outcome | None:
        """The stop timer that fires now, as an outcome."""
        reason = stop_reason(self.observation(now, audio_speech_at), self.options, self.unit_s)
        if reason is None:
            return None
        message = None
        if reason is StopReason.WAITING_ROOM_TIMEOUT:
            if self.waiting_sub_code == HOST_IN_ANOTHER_MEETING:
                reason = StopReason.HOST_IN_ANOTHER_MEETING
            limit = self.options.time_limit
            if limit < self.options.waiting_room_timeout:
                message = f"stop_options.time_limit ({limit} min) ran out before admission"
        return stop_outcome(reason, self.admitted, now, message)

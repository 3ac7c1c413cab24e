"""The bot's values when it starts joining: its assignment updated by the control plane.

Bots stay editable until they start joining (issue 11): a ``booting`` bot may be renamed, sent
to another URL (even on another platform), given other stop options, recording options or
credentials after its runner got the assignment. At the moment it starts joining the runner
asks ``POST /internal/bots/{id}/join`` (:mod:`meetbot.contract.reports`) and joins with the
:class:`~meetbot.contract.reports.Briefing` it is answered; :func:`rebrief` says what that changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from meetbot.contract.assignment import Assignment
from meetbot.contract.reports import Briefing


@dataclass(frozen=True, slots=True)
class Rebriefed:
    assignment: Assignment
    new_page: bool
    """The platform or the credentials changed: the meeting page object is built again."""
    new_browser: bool
    """The platform or the video option changed: the browser's init scripts differ, so the bot
    joins from a fresh browser."""
    new_video: bool
    """``recording.video`` changed: the video recorder is set up again (or dropped)."""


def rebrief(assignment: Assignment, briefing: Briefing) -> Rebriefed:
    updated = dataclasses.replace(
        assignment,
        meeting_url=briefing.meeting_url,
        platform=briefing.platform,
        bot_name=briefing.bot_name,
        stop_options=dict(briefing.stop_options),
        recording=dict(briefing.recording),
        credentials=briefing.credentials,
    )
    platform = updated.platform != assignment.platform
    video = bool(updated.recording.get("video")) != bool(assignment.recording.get("video"))
    return Rebriefed(
        assignment=updated,
        new_page=platform or updated.credentials != assignment.credentials,
        new_browser=platform or video,
        new_video=video,
    )

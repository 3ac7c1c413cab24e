"""One key per meeting across every calendar of a workspace: the normalised meeting room (the
parser of :mod:`meetbot.contract.meeting_urls`) and the start minute in UTC.

Three colleagues' copies of one meeting may have different UIDs and links that differ only in
``?authuser=`` or ``hs=`` parameters: they get one key, so one bot (the bots table's unique
index on ``(workspace_id, dedup_active)`` makes that a database fact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from meetbot.contract.meeting_urls import parse_meeting_url
from meetbot.contract.models import MeetingRef
from meetbot.egress import HostAllowList
from meetbot.errors import InvalidMeetingUrl
from meetbot.timefmt import utc

PREFIX = "calendar:"
"""Keys of calendar bots start with this: a bot whose key has it is the calendars' to remove."""

_URL = re.compile(r"https?://[^\s<>\"'\\]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Meeting:
    ref: MeetingRef
    room: str
    """The normalised room: platform and meeting id (passcode and tracking parameters out)."""


def find_meeting(
    texts: list[str | None], self_hosted: HostAllowList | None = None
) -> Meeting | None:
    """The first link in ``texts`` (in order: e.g. URL, location, description) that is a
    meeting meetbot can join; ``None`` if there is none."""
    for text in texts:
        if not text:
            continue
        for match in _URL.finditer(text):
            url = match.group(0).rstrip(").,;>]")
            try:
                ref = parse_meeting_url(url, self_hosted=self_hosted)
            except (InvalidMeetingUrl, ValueError):
                continue
            return Meeting(ref, f"{ref.platform.value}:{ref.meeting_id.lower()}")
    return None


def meeting_key(room: str, start: datetime) -> str:
    """``calendar:<platform>:<meeting id>@<start minute, UTC>``."""
    minute = utc(start).replace(second=0, microsecond=0)
    return f"{PREFIX}{room}@{minute.strftime('%Y-%m-%dT%H:%MZ')}"


def is_calendar_key(key: str | None) -> bool:
    return bool(key and key.startswith(PREFIX))

"""The values of calendars: a connected calendar, its settings, and its occurrences."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CalendarKind(StrEnum):
    ICS = "ics"
    CALDAV = "caldav"
    GOOGLE = "google"
    MICROSOFT = "microsoft"


class CalendarStatus(StrEnum):
    CONNECTED = "connected"
    SYNCING = "syncing"
    DISCONNECTED = "disconnected"


CONDITIONS = ("external", "internal", "host", "non_host", "recurring", "confirmed")
"""The record conditions (Recall V1's preferences): all given ones must hold."""


@dataclass(frozen=True, slots=True)
class BotSettings:
    """What the calendar's bots are created with."""

    bot_name: str = "Meeting Bot"
    join_offset_seconds: int = 0
    """The bot joins this long before the meeting starts."""
    stop_options: Mapping[str, Any] | None = None
    transcription_model: str | None = None
    recording: Mapping[str, Any] | None = None
    webhook_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BotSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class Calendar:
    id: str
    workspace_id: str
    kind: CalendarKind
    config: Mapping[str, Any]
    """What is not secret: ``url``, ``username``, ``calendar_id``, ``owner_email``."""
    record: str | tuple[str, ...]
    """``all``, ``none``, or conditions that must all hold (:data:`CONDITIONS`)."""
    bot_settings: BotSettings
    secrets_ciphertext: str | None
    """The secrets (password, tokens), sealed with :class:`meetbot.crypto.SecretBox`."""
    status: CalendarStatus
    created_at: datetime
    updated_at: datetime
    status_reason: str | None = None
    cursor: str | None = None
    """The provider's sync state (ICS: validators; CalDAV/Google: sync token; Microsoft:
    delta link), saved only after every change of a sync is applied."""
    series_overrides: Mapping[str, bool] = field(default_factory=dict)
    """``record_series`` per iCalendar UID."""
    last_synced_at: datetime | None = None
    next_sync_at: datetime | None = None
    seq: int | None = None

    def evolve(self, **changes: Any) -> Calendar:
        return dataclasses.replace(self, **changes)

    @property
    def owner_email(self) -> str | None:
        value = self.config.get("owner_email") or self.config.get("username")
        return str(value).lower() if value and "@" in str(value) else None


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    partstat: str | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One meeting as a provider lists it (a series is expanded into occurrences)."""

    ical_uid: str
    recurrence_id: str
    """The occurrence's original start in UTC (ISO), ``""`` for a single event."""
    start: datetime | None
    end: datetime | None
    title: str = ""
    meeting_url: str | None = None
    cancelled: bool = False
    recurring: bool = False
    organizer: str | None = None
    attendees: tuple[Attendee, ...] = ()
    confirmed: bool = True
    """The event's STATUS is not TENTATIVE."""
    links: tuple[str | None, ...] = ()
    """Texts the meeting link may be in, in order (URL, location, description, ...)."""
    icalendar_uid: str | None = None
    """The event's iCalendar UID where the provider identifies it by another id (Google's
    ``iCalUID``, Graph's ``iCalUId``): what the API shows as ``ical_uid``."""


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """A stored occurrence of a calendar and what was decided for it."""

    id: str
    calendar_id: str
    workspace_id: str
    ical_uid: str
    recurrence_id: str
    start: datetime | None
    end: datetime | None
    title: str
    meeting_url: str | None
    platform: str | None
    meeting_key: str | None
    is_deleted: bool
    will_record: bool
    rule: str
    updated_at: datetime
    record_override: bool | None = None
    bot_id: str | None = None
    dirty: bool = False
    """Changed, and its bots not yet reconciled (a crashed sync leaves it set; a retry redoes)."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """What the rules read: organizer, attendees, recurring, confirmed."""
    seq: int | None = None

    def evolve(self, **changes: Any) -> CalendarEvent:
        return dataclasses.replace(self, **changes)

    @property
    def shown_uid(self) -> str:
        """The ``ical_uid`` the API shows: the iCalendar UID (Google's ``iCalUID``), else the
        provider's identity (``ical_uid``, for ICS and CalDAV the UID itself)."""
        return str(self.data.get("ical_uid") or self.ical_uid)

    def wants_bot(self) -> bool:
        return not self.is_deleted and self.will_record and self.meeting_key is not None

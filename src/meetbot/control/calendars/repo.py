"""The calendars' repository (its SQL driver: ``control/store/calendars.py``; in memory:
``meetbot.testing.memory_calendars``), part of :class:`meetbot.control.ports.Tx`."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from meetbot.control.calendars.models import Calendar, CalendarEvent


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A page of a calendar's occurrences, oldest row first (``seq``)."""

    after_seq: int | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    updated_after: datetime | None = None
    limit: int = 50


class CalendarRepo(Protocol):
    """Connected calendars and their occurrences (``control/calendars``)."""

    async def insert(self, calendar: Calendar) -> Calendar: ...

    async def get(
        self, calendar_id: str, *, workspace_id: str | None = None, for_update: bool = False
    ) -> Calendar | None: ...

    async def update(self, calendar: Calendar) -> None: ...

    async def delete(self, calendar_id: str) -> None:
        """The calendar and its occurrences."""
        ...

    async def list(
        self, workspace_id: str, before_seq: int | None = None, limit: int = 50
    ) -> builtins.list[Calendar]:
        """Newest first."""
        ...

    async def due(self, now: datetime, limit: int) -> builtins.list[Calendar]:
        """Calendars whose ``next_sync_at`` has come, the longest waiting first."""
        ...

    async def events(self, calendar_id: str) -> builtins.list[CalendarEvent]: ...

    async def get_event(self, calendar_id: str, event_id: str) -> CalendarEvent | None: ...

    async def put_events(self, events: Sequence[CalendarEvent]) -> None:
        """Insert or replace occurrences by ``id`` (a replaced one keeps its ``seq``)."""
        ...

    async def delete_events(self, event_ids: Collection[str]) -> None: ...

    async def link_bot(self, event_ids: Collection[str], bot_id: str | None) -> None:
        """Set these occurrences' ``bot_id`` (one statement)."""
        ...

    async def link_bots(self, links: Mapping[str, str | None]) -> None:
        """Set each occurrence's ``bot_id`` (occurrence id → bot id; one statement)."""
        ...

    async def clear_dirty(self, event_ids: Collection[str]) -> None:
        """These occurrences' bots are reconciled (one statement)."""
        ...

    async def events_with_keys(
        self, workspace_id: str, keys: Collection[str]
    ) -> builtins.list[CalendarEvent]:
        """Every calendar's occurrences with one of these meeting keys."""
        ...

    async def events_of_bots(self, bot_ids: Collection[str]) -> builtins.list[CalendarEvent]: ...

    async def page_events(
        self, calendar_id: str, query: EventQuery
    ) -> builtins.list[CalendarEvent]: ...

"""The calendars of :class:`~meetbot.testing.memory_store.MemoryStore` (``tx.calendars``)."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from meetbot.control.calendars.models import Calendar, CalendarEvent
from meetbot.testing.memory_state import MemoryRepo
from meetbot.timefmt import utc

if TYPE_CHECKING:
    from meetbot.control.calendars.repo import EventQuery


@dataclass(frozen=True, slots=True)
class MemoryCalendarRepo(MemoryRepo):
    async def insert(self, calendar: Calendar) -> Calendar:
        self.check_write("calendars.insert")
        self.state.calendar_seq += 1
        stored = calendar.evolve(seq=self.state.calendar_seq)
        self.state.calendars[calendar.id] = stored
        return stored

    async def get(
        self, calendar_id: str, *, workspace_id: str | None = None, for_update: bool = False
    ) -> Calendar | None:
        found = self.state.calendars.get(calendar_id)
        if found is None or (workspace_id is not None and found.workspace_id != workspace_id):
            return None
        return found

    async def update(self, calendar: Calendar) -> None:
        self.check_write("calendars.update")
        old = self.state.calendars.get(calendar.id)
        if old is not None:
            self.state.calendars[calendar.id] = calendar.evolve(seq=old.seq)

    async def delete(self, calendar_id: str) -> None:
        self.check_write("calendars.delete")
        self.state.calendars.pop(calendar_id, None)
        gone = [e.id for e in self.state.calendar_events.values() if e.calendar_id == calendar_id]
        for event_id in gone:
            del self.state.calendar_events[event_id]

    async def list(
        self, workspace_id: str, before_seq: int | None = None, limit: int = 50
    ) -> builtins.list[Calendar]:
        found = [
            c
            for c in self.state.calendars.values()
            if c.workspace_id == workspace_id and (before_seq is None or (c.seq or 0) < before_seq)
        ]
        return sorted(found, key=lambda c: -(c.seq or 0))[:limit]

    async def due(self, now: datetime, limit: int) -> builtins.list[Calendar]:
        found = [
            c
            for c in self.state.calendars.values()
            if c.next_sync_at is not None and utc(c.next_sync_at) <= utc(now)
        ]
        return sorted(found, key=lambda c: utc(c.next_sync_at or now))[:limit]

    async def events(self, calendar_id: str) -> builtins.list[CalendarEvent]:
        return self._sorted(
            e for e in self.state.calendar_events.values() if e.calendar_id == calendar_id
        )

    async def get_event(self, calendar_id: str, event_id: str) -> CalendarEvent | None:
        found = self.state.calendar_events.get(event_id)
        return found if found is not None and found.calendar_id == calendar_id else None

    async def put_events(self, events: Sequence[CalendarEvent]) -> None:
        self.check_write("calendars.put_events")
        for event in events:
            old = self.state.calendar_events.get(event.id)
            if old is None:
                self.state.calendar_event_seq += 1
                seq = self.state.calendar_event_seq
            else:
                seq = old.seq or 0
            self.state.calendar_events[event.id] = event.evolve(seq=seq)

    async def delete_events(self, event_ids: Collection[str]) -> None:
        self.check_write("calendars.delete_events")
        for event_id in event_ids:
            self.state.calendar_events.pop(event_id, None)

    async def link_bot(self, event_ids: Collection[str], bot_id: str | None) -> None:
        self.check_write("calendars.link_bot")
        for event_id in event_ids:
            found = self.state.calendar_events.get(event_id)
            if found is not None:
                self.state.calendar_events[event_id] = found.evolve(bot_id=bot_id)

    async def link_bots(self, links: Mapping[str, str | None]) -> None:
        self.check_write("calendars.link_bots")
        for event_id, bot_id in links.items():
            found = self.state.calendar_events.get(event_id)
            if found is not None:
                self.state.calendar_events[event_id] = found.evolve(bot_id=bot_id)

    async def clear_dirty(self, event_ids: Collection[str]) -> None:
        self.check_write("calendars.clear_dirty")
        for event_id in event_ids:
            found = self.state.calendar_events.get(event_id)
            if found is not None:
                self.state.calendar_events[event_id] = found.evolve(dirty=False)

    async def events_with_keys(
        self, workspace_id: str, keys: Collection[str]
    ) -> builtins.list[CalendarEvent]:
        wanted = set(keys)
        return self._sorted(
            e
            for e in self.state.calendar_events.values()
            if e.workspace_id == workspace_id and e.meeting_key in wanted
        )

    async def events_of_bots(self, bot_ids: Collection[str]) -> builtins.list[CalendarEvent]:
        wanted = set(bot_ids)
        return self._sorted(e for e in self.state.calendar_events.values() if e.bot_id in wanted)

    async def page_events(
        self, calendar_id: str, query: EventQuery
    ) -> builtins.list[CalendarEvent]:
        def matches(e: CalendarEvent) -> bool:
            if e.calendar_id != calendar_id:
                return False
            if query.after_seq is not None and (e.seq or 0) <= query.after_seq:
                return False
            if query.start_from is not None and (e.start is None or e.start < query.start_from):
                return False
            if query.start_to is not None and (e.start is None or e.start >= query.start_to):
                return False
            return query.updated_after is None or e.updated_at > query.updated_after

        return self._sorted(e for e in self.state.calendar_events.values() if matches(e))[
            : query.limit
        ]

    @staticmethod
    def _sorted(events: Iterable[CalendarEvent]) -> builtins.list[CalendarEvent]:
        return sorted(events, key=lambda e: e.seq or 0)

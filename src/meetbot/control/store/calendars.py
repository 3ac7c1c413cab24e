"""The SQL :class:`~meetbot.control.calendars.repo.CalendarRepo`: calendars, occurrences."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from meetbot.control.calendars.models import (
    BotSettings,
    Calendar,
    CalendarEvent,
    CalendarKind,
    CalendarStatus,
)
from meetbot.control.calendars.repo import EventQuery
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import calendar_events as E
from meetbot.control.store.tables import calendars as C


def calendar_row(cal: Calendar) -> dict[str, Any]:
    return {
        "id": cal.id,
        "workspace_id": cal.workspace_id,
        "kind": cal.kind.value,
        "config": dict(cal.config),
        "record": cal.record if isinstance(cal.record, str) else list(cal.record),
        "bot_settings": cal.bot_settings.to_json(),
        "secrets_ciphertext": cal.secrets_ciphertext,
        "status": cal.status.value,
        "status_reason": cal.status_reason,
        "cursor": cal.cursor,
        "series_overrides": dict(cal.series_overrides),
        "last_synced_at": cal.last_synced_at,
        "next_sync_at": cal.next_sync_at,
        "created_at": cal.created_at,
        "updated_at": cal.updated_at,
    }


def calendar_from(row: sa.RowMapping) -> Calendar:
    record = row["record"]
    return Calendar(
        id=row["id"],
        workspace_id=row["workspace_id"],
        kind=CalendarKind(row["kind"]),
        config=row["config"],
        record=record if isinstance(record, str) else tuple(record),
        bot_settings=BotSettings.from_json(row["bot_settings"]),
        secrets_ciphertext=row["secrets_ciphertext"],
        status=CalendarStatus(row["status"]),
        status_reason=row["status_reason"],
        cursor=row["cursor"],
        series_overrides=row["series_overrides"],
        last_synced_at=row["last_synced_at"],
        next_sync_at=row["next_sync_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        seq=row["seq"],
    )


_EVENT_FIELDS = [
    "id",
    "calendar_id",
    "workspace_id",
    "ical_uid",
    "recurrence_id",
    "start",
    "end",
    "title",
    "meeting_url",
    "platform",
    "meeting_key",
    "is_deleted",
    "will_record",
    "rule",
    "record_override",
    "bot_id",
    "dirty",
    "updated_at",
]


def event_row(event: CalendarEvent) -> dict[str, Any]:
    row = {name: getattr(event, name) for name in _EVENT_FIELDS}
    row["data"] = dict(event.data)
    return row


def event_from(row: sa.RowMapping) -> CalendarEvent:
    return CalendarEvent(
        **{name: row[name] for name in _EVENT_FIELDS}, data=row["data"], seq=row["seq"]
    )


@dataclass(frozen=True, slots=True)
class SqlCalendarRepo(SqlRepo):
    async def insert(self, calendar: Calendar) -> Calendar:
        self.check_write("calendars.insert")
        result = await self.conn.execute(sa.insert(C).values(**calendar_row(calendar)))
        seq = result.inserted_primary_key
        return calendar.evolve(seq=seq[0] if seq else None)

    async def get(
        self, calendar_id: str, *, workspace_id: str | None = None, for_update: bool = False
    ) -> Calendar | None:
        stmt = sa.select(C).where(C.c.id == calendar_id)
        if workspace_id is not None:
            stmt = stmt.where(C.c.workspace_id == workspace_id)
        if for_update and self.is_postgres:
            self.check_write("calendars.get(for_update)")
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return calendar_from(row) if row else None

    async def update(self, calendar: Calendar) -> None:
        self.check_write("calendars.update")
        values = calendar_row(calendar)
        del values["id"], values["created_at"]
        await self.conn.execute(sa.update(C).where(C.c.id == calendar.id).values(**values))

    async def delete(self, calendar_id: str) -> None:
        self.check_write("calendars.delete")
        await self.conn.execute(sa.delete(E).where(E.c.calendar_id == calendar_id))
        await self.conn.execute(sa.delete(C).where(C.c.id == calendar_id))

    async def list(
        self, workspace_id: str, before_seq: int | None = None, limit: int = 50
    ) -> builtins.list[Calendar]:
        stmt = sa.select(C).where(C.c.workspace_id == workspace_id)
        if before_seq is not None:
            stmt = stmt.where(C.c.seq < before_seq)
        stmt = stmt.order_by(C.c.seq.desc()).limit(limit)
        return [calendar_from(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def due(self, now: datetime, limit: int) -> builtins.list[Calendar]:
        stmt = sa.select(C).where(C.c.next_sync_at <= now).order_by(C.c.next_sync_at).limit(limit)
        return [calendar_from(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def events(self, calendar_id: str) -> builtins.list[CalendarEvent]:
        stmt = sa.select(E).where(E.c.calendar_id == calendar_id).order_by(E.c.seq)
        return [event_from(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def get_event(self, calendar_id: str, event_id: str) -> CalendarEvent | None:
        stmt = sa.select(E).where(E.c.id == event_id, E.c.calendar_id == calendar_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return event_from(row) if row else None

    async def put_events(self, events: Sequence[CalendarEvent]) -> None:
        """Insert or replace occurrences (by ``id``); a replaced one keeps its ``seq``."""
        self.check_write("calendars.put_events")
        if not events:
            return
        ids = [e.id for e in events]
        present: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = await self.conn.execute(sa.select(E.c.id).where(E.c.id.in_(chunk)))
            present.update(found.scalars())
        new = [event_row(e) for e in events if e.id not in present]
        if new:
            await self.conn.execute(sa.insert(E), new)
        old = [{**event_row(e), "key_id": e.id} for e in events if e.id in present]
        if old:
            values: dict[str, Any] = {
                name: sa.bindparam(name) for name in (*_EVENT_FIELDS, "data") if name != "id"
            }
            stmt = sa.update(E).where(E.c.id == sa.bindparam("key_id")).values(**values)
            await self.conn.execute(stmt, old)

    async def delete_events(self, event_ids: Collection[str]) -> None:
        self.check_write("calendars.delete_events")
        ids = list(event_ids)
        for start in range(0, len(ids), 500):
            await self.conn.execute(sa.delete(E).where(E.c.id.in_(ids[start : start + 500])))

    async def link_bot(self, event_ids: Collection[str], bot_id: str | None) -> None:
        self.check_write("calendars.link_bot")
        ids = list(event_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await self.conn.execute(sa.update(E).where(E.c.id.in_(chunk)).values(bot_id=bot_id))

    async def link_bots(self, links: Mapping[str, str | None]) -> None:
        self.check_write("calendars.link_bots")
        if not links:
            return
        rows = [{"key_id": event_id, "new_bot_id": bot} for event_id, bot in links.items()]
        stmt = (
            sa.update(E)
            .where(E.c.id == sa.bindparam("key_id"))
            .values(bot_id=sa.bindparam("new_bot_id"))
        )
        await self.conn.execute(stmt, rows)

    async def clear_dirty(self, event_ids: Collection[str]) -> None:
        self.check_write("calendars.clear_dirty")
        ids = list(event_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await self.conn.execute(sa.update(E).where(E.c.id.in_(chunk)).values(dirty=False))

    async def events_with_keys(
        self, workspace_id: str, keys: Collection[str]
    ) -> builtins.list[CalendarEvent]:
        if not keys:
            return []
        stmt = (
            sa.select(E)
            .where(E.c.workspace_id == workspace_id, E.c.meeting_key.in_(list(keys)))
            .order_by(E.c.seq)
        )
        return [event_from(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def events_of_bots(self, bot_ids: Collection[str]) -> builtins.list[CalendarEvent]:
        if not bot_ids:
            return []
        stmt = sa.select(E).where(E.c.bot_id.in_(list(bot_ids))).order_by(E.c.seq)
        return [event_from(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def page_events(
        self, calendar_id: str, query: EventQuery
    ) -> builtins.list[CalendarEvent]:
        stmt = sa.select(E).where(E.c.calendar_id == calendar_id)
        if query.after_seq is not None:
            stmt = stmt.where(E.c.seq > query.after_seq)
        if query.start_from is not None:
            stmt = stmt.where(E.c.start >= query.start_from)
        if query.start_to is not None:
            stmt = stmt.where(E.c.start < query.start_to)
        if query.updated_after is not None:
            stmt = stmt.where(E.c.updated_at > query.updated_after)
        stmt = stmt.order_by(E.c.seq).limit(query.limit)
        return [event_from(r) for r in (await self.conn.execute(stmt)).mappings()]

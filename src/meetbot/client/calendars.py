"""``client.calendars``: connected calendars, their rules and occurrences
(``/api/v1/calendars/``, docs/calendars.md), for both clients."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from meetbot.client import calendar_endpoints as api
from meetbot.client import models
from meetbot.client.pagination import async_pages, pages
from meetbot.unset import UNSET, Unset

if TYPE_CHECKING:
    from meetbot.client.asynchronous import AsyncMeetbot
    from meetbot.client.sync import Meetbot

Record = str | builtins.list[str]
"""``all``, ``none``, or the rules' names (docs/calendars.md)."""


class Calendars:
    def __init__(self, client: Meetbot) -> None:
        self._c = client

    def create(
        self,
        kind: str,
        *,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        calendar_id: str | None = None,
        owner_email: str | None = None,
        record: Record | None = None,
        bot_name: str | None = None,
        join_offset_seconds: int | None = None,
        stop_options: Mapping[str, int] | None = None,
        transcription_model: str | None = None,
        recording: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> models.Calendar:
        """Connect a calendar (``ics``, ``caldav``, ``google``, ``microsoft``); its secrets
        are sealed by the server and never shown again."""
        fields = dict(
            url=url, username=username, password=password, refresh_token=refresh_token,
            client_id=client_id, client_secret=client_secret, calendar_id=calendar_id,
            owner_email=owner_email, record=record, bot_name=bot_name,
            join_offset_seconds=join_offset_seconds, stop_options=stop_options,
            transcription_model=transcription_model, recording=recording,
            webhook_url=webhook_url, metadata=metadata,
        )  # fmt: skip
        return self._c.send(api.create_calendar(api.calendar_body(kind, fields)))

    def list(self, *, page_size: int | None = None) -> Iterator[models.Calendar]:
        """The workspace's calendars, newest first."""
        return pages(lambda cursor: self._c.send(api.list_calendars(cursor, page_size)))

    def get(self, calendar_id: str) -> models.Calendar:
        return self._c.send(api.get_calendar(calendar_id))

    def update(
        self,
        calendar_id: str,
        *,
        record: Record | Unset = UNSET,
        bot_name: str | Unset | None = UNSET,
        join_offset_seconds: int | Unset | None = UNSET,
        stop_options: Mapping[str, int] | Unset | None = UNSET,
        transcription_model: str | Unset | None = UNSET,
        recording: Mapping[str, Any] | Unset | None = UNSET,
        webhook_url: str | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
    ) -> models.Calendar:
        """PATCH the rules or bot settings named, only those (``None`` restores a default)."""
        fields = dict(
            record=record, bot_name=bot_name, join_offset_seconds=join_offset_seconds,
            stop_options=stop_options, transcription_model=transcription_model,
            recording=recording, webhook_url=webhook_url, metadata=metadata,
        )  # fmt: skip
        return self._c.send(api.update_calendar(calendar_id, fields))

    def delete(self, calendar_id: str) -> None:
        """Disconnect the calendar."""
        self._c.send(api.delete_calendar(calendar_id))

    def sync(self, calendar_id: str) -> models.Calendar:
        """Ask for a sync now (202: it runs in the background; ``last_synced_at`` says when)."""
        return self._c.send(api.sync_calendar(calendar_id))

    def events(
        self,
        calendar_id: str,
        *,
        start: api.When | None = None,
        end: api.When | None = None,
        updated_after: api.When | None = None,
        page_size: int | None = None,
    ) -> Iterator[models.CalendarEvent]:
        """The calendar's occurrences (``start``/``end``: those starting in that window)."""

        def fetch(cursor: str | None) -> tuple[builtins.list[models.CalendarEvent], str | None]:
            return self._c.send(
                api.calendar_events(
                    calendar_id,
                    cursor,
                    start=start,
                    end=end,
                    updated_after=updated_after,
                    limit=page_size,
                )
            )

        return pages(fetch)

    def update_event(
        self,
        calendar_id: str,
        event_id: str,
        *,
        record: bool | Unset | None = UNSET,
        record_series: bool | Unset | None = UNSET,
    ) -> models.CalendarEvent:
        """Override the rules for one occurrence (``record``) or its whole series
        (``record_series``); ``None`` drops the override."""
        return self._c.send(api.update_calendar_event(calendar_id, event_id, record, record_series))


class AsyncCalendars:
    def __init__(self, client: AsyncMeetbot) -> None:
        self._c = client

    async def create(
        self,
        kind: str,
        *,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        calendar_id: str | None = None,
        owner_email: str | None = None,
        record: Record | None = None,
        bot_name: str | None = None,
        join_offset_seconds: int | None = None,
        stop_options: Mapping[str, int] | None = None,
        transcription_model: str | None = None,
        recording: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> models.Calendar:
        fields = dict(
            url=url, username=username, password=password, refresh_token=refresh_token,
            client_id=client_id, client_secret=client_secret, calendar_id=calendar_id,
            owner_email=owner_email, record=record, bot_name=bot_name,
            join_offset_seconds=join_offset_seconds, stop_options=stop_options,
            transcription_model=transcription_model, recording=recording,
            webhook_url=webhook_url, metadata=metadata,
        )  # fmt: skip
        return await self._c.send(api.create_calendar(api.calendar_body(kind, fields)))

    def list(self, *, page_size: int | None = None) -> AsyncIterator[models.Calendar]:
        async def fetch(cursor: str | None) -> tuple[builtins.list[models.Calendar], str | None]:
            return await self._c.send(api.list_calendars(cursor, page_size))

        return async_pages(fetch)

    async def get(self, calendar_id: str) -> models.Calendar:
        return await self._c.send(api.get_calendar(calendar_id))

    async def update(
        self,
        calendar_id: str,
        *,
        record: Record | Unset = UNSET,
        bot_name: str | Unset | None = UNSET,
        join_offset_seconds: int | Unset | None = UNSET,
        stop_options: Mapping[str, int] | Unset | None = UNSET,
        transcription_model: str | Unset | None = UNSET,
        recording: Mapping[str, Any] | Unset | None = UNSET,
        webhook_url: str | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
    ) -> models.Calendar:
        fields = dict(
            record=record, bot_name=bot_name, join_offset_seconds=join_offset_seconds,
            stop_options=stop_options, transcription_model=transcription_model,
            recording=recording, webhook_url=webhook_url, metadata=metadata,
        )  # fmt: skip
        return await self._c.send(api.update_calendar(calendar_id, fields))

    async def delete(self, calendar_id: str) -> None:
        await self._c.send(api.delete_calendar(calendar_id))

    async def sync(self, calendar_id: str) -> models.Calendar:
        return await self._c.send(api.sync_calendar(calendar_id))

    def events(
        self,
        calendar_id: str,
        *,
        start: api.When | None = None,
        end: api.When | None = None,
        updated_after: api.When | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[models.CalendarEvent]:
        async def fetch(
            cursor: str | None,
        ) -> tuple[builtins.list[models.CalendarEvent], str | None]:
            return await self._c.send(
                api.calendar_events(
                    calendar_id,
                    cursor,
                    start=start,
                    end=end,
                    updated_after=updated_after,
                    limit=page_size,
                )
            )

        return async_pages(fetch)

    async def update_event(
        self,
        calendar_id: str,
        event_id: str,
        *,
        record: bool | Unset | None = UNSET,
        record_series: bool | Unset | None = UNSET,
    ) -> models.CalendarEvent:
        call = api.update_calendar_event(calendar_id, event_id, record, record_series)
        return await self._c.send(call)

"""Calendar providers in memory: :class:`FakeCalendarSources` serves iCalendar text per URL
(as an ICS feed would, with an ETag), and can be told to fail, to crash mid-listing, or to
hold a listing until released (:attr:`FakeCalendarSources.hold`)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from typing import Any

from meetbot.control.calendars import occurrences
from meetbot.control.calendars.models import Calendar
from meetbot.control.calendars.source import (
    CalendarSource,
    Listing,
    SourceError,
    SourceMalformed,
    Window,
)


class FakeCalendarSources:
    def __init__(self) -> None:
        self.feeds: dict[str, str] = {}
        self.errors: dict[str, SourceError] = {}
        self.lists = 0
        """How many listings were made (all calendars)."""
        self.secrets_seen: list[Mapping[str, Any]] = []
        self.hold: asyncio.Event | None = None
        """When set to an event, a listing (its feed already read) waits for it to be set."""
        self.listing = asyncio.Event()
        """Set when a listing has read its feed (clear it to watch for the next one)."""

    def publish(self, url: str, text: str) -> None:
        self.feeds[url] = text

    def open(self, calendar: Calendar, secrets: Mapping[str, Any]) -> CalendarSource:
        self.secrets_seen.append(dict(secrets))
        return _FakeSource(self, str(calendar.config.get("url", "")))

    async def check_url(self, url: str) -> None:
        return None

    async def close(self) -> None:
        return None


class _FakeSource:
    def __init__(self, sources: FakeCalendarSources, url: str) -> None:
        self._sources = sources
        self._url = url

    async def list(self, cursor: str | None, window: Window) -> Listing:
        self._sources.lists += 1
        if self._url in self._sources.errors:
            raise self._sources.errors[self._url]
        text = self._sources.feeds.get(self._url)
        if text is None:
            raise SourceError("HTTP 404")
        self._sources.listing.set()
        if self._sources.hold is not None:
            await self._sources.hold.wait()
        etag = hashlib.sha256(f"{text}\n{window.end.date()}".encode()).hexdigest()
        if cursor == etag:
            return Listing(unchanged=True, cursor=cursor)
        try:
            calendar = occurrences.parse(text)
            found, skipped = occurrences.expand_all(calendar, window.start, window.end)
        except occurrences.MalformedCalendar as exc:
            raise SourceMalformed(str(exc)) from None
        return Listing(occurrences=tuple(found), complete=True, cursor=etag, skipped=tuple(skipped))

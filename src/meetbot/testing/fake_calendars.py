"""Calendar providers in memory: :class:`FakeCalendarSources` serves iCalendar text per URL
(as an ICS feed would, with an ETag), and can be told to fail or to crash mid-listing."""

from __future__ import annotations

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
        etag = hashlib.sha256(f"{text}\n{window.end.date()}".encode()).hexdigest()
        if cursor == etag:
            return Listing(unchanged=True, cursor=cursor)
        try:
            calendar = occurrences.parse(text)
            found, skipped = occurrences.expand_all(calendar, window.start, window.end)
        except occurrences.MalformedCalendar as exc:
            raise SourceMalformed(str(exc)) from None
        return Listing(occurrences=tuple(found), complete=True, cursor=etag, skipped=tuple(skipped))

"""The boundary every calendar provider is behind: one small Protocol with incremental listing.

A provider lists occurrences from a cursor (``None``: from scratch) and answers a
:class:`Listing`: the occurrences it saw, the UIDs it was told are gone, whether the listing is
*complete* (then an occurrence of the window that is absent is deleted: only then), and the
cursor to save **after** every change is applied. The drivers are chosen in
``control/server.py`` (:class:`CalendarSources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from meetbot.control.calendars.models import Calendar, Occurrence


class SourceError(Exception):
    """The calendar cannot be read; ``reason`` is what the calendar shows."""

    reason = "unreachable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SourceUnauthorized(SourceError):
    """401/403: a revoked token or a wrong password."""

    reason = "unauthorized"


class SourceUnreachable(SourceError):
    reason = "unreachable"


class SourceMalformed(SourceError):
    reason = "malformed"


class SourceRefused(SourceError):
    """The URL is not one the egress rules allow."""

    reason = "refused"


@dataclass(frozen=True, slots=True)
class Window:
    """The occurrences wanted: from ``start`` (a day back) to the horizon."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Listing:
    occurrences: tuple[Occurrence, ...] = ()
    removed_uids: tuple[str, ...] = ()
    complete: bool = True
    """Every occurrence of the window is in ``occurrences``: absence means deletion."""
    unchanged: bool = False
    """Nothing changed since ``cursor`` (ICS: 304): nothing to apply."""
    cursor: str | None = None
    skipped: tuple[str, ...] = ()
    """UIDs of events that could not be used (no start): the calendar shows them."""


class CalendarSource(Protocol):
    async def list(self, cursor: str | None, window: Window) -> Listing: ...


@dataclass(frozen=True, slots=True)
class Channel:
    """A push channel the provider will notify (Google ``events/watch``)."""

    id: str
    resource_id: str
    expires_at: datetime


@runtime_checkable
class Watchable(Protocol):
    """A source whose provider can push: it opens a channel to ``address``, and stops one
    (replaced, or its calendar deleted) so that the provider stops posting to it."""

    async def watch(self, address: str, channel_id: str, token: str) -> Channel: ...

    async def unwatch(self, channel_id: str, resource_id: str) -> None:
        """Stop the channel; one the provider no longer knows (expired) is stopped already."""
        ...


class CalendarSources(Protocol):
    """Opens the source of a calendar (its kind's driver) with its secrets in clear."""

    def open(self, calendar: Calendar, secrets: Mapping[str, Any]) -> CalendarSource: ...

    async def check_url(self, url: str) -> None:
        """Raise :class:`meetbot.errors.InvalidRequest` for a URL the egress rules refuse."""
        ...

    async def close(self) -> None: ...

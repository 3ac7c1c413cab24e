"""The calendar routes as :class:`~meetbot.client.endpoints.Call` values (see
:mod:`meetbot.client.endpoints`), for :mod:`meetbot.client.calendars`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meetbot.client import models
from meetbot.client.endpoints import (
    Call,
    When,
    _cursor,
    _given,
    _id,
    _nothing,
    _one,
    _page,
    _time,
    _wire,
)
from meetbot.unset import UNSET, Unset

__all__ = ["When"]

CALENDARS = "/api/v1/calendars/"


def calendar_body(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A connect's body: the kind and the fields given (``None``: the server's default)."""
    return {"kind": kind} | {k: _wire(v) for k, v in fields.items() if v is not None}


def create_calendar(body: dict[str, Any]) -> Call[models.Calendar]:
    return Call("POST", CALENDARS, _one(models.Calendar), json=body)


def list_calendars(
    cursor: str | None, limit: int | None = None
) -> Call[tuple[list[models.Calendar], str | None]]:
    return Call("GET", CALENDARS, _page(models.Calendar), params=_cursor(cursor, limit))


def get_calendar(calendar_id: str) -> Call[models.Calendar]:
    return Call("GET", f"{CALENDARS}{_id(calendar_id)}/", _one(models.Calendar))


def update_calendar(calendar_id: str, fields: dict[str, Any]) -> Call[models.Calendar]:
    path = f"{CALENDARS}{_id(calendar_id)}/"
    return Call("PATCH", path, _one(models.Calendar), json=_given(**fields))


def delete_calendar(calendar_id: str) -> Call[None]:
    return Call("DELETE", f"{CALENDARS}{_id(calendar_id)}/", _nothing)


def sync_calendar(calendar_id: str) -> Call[models.Calendar]:
    return Call("POST", f"{CALENDARS}{_id(calendar_id)}/sync/", _one(models.Calendar))


def calendar_events(
    calendar_id: str,
    cursor: str | None,
    *,
    start: When | None = None,
    end: When | None = None,
    updated_after: When | None = None,
    limit: int | None = None,
) -> Call[tuple[list[models.CalendarEvent], str | None]]:
    params = _cursor(cursor, limit)
    for name, value in (("from", start), ("to", end), ("updated_after", updated_after)):
        if value is not None:
            params[name] = _time(value)
    path = f"{CALENDARS}{_id(calendar_id)}/events/"
    return Call("GET", path, _page(models.CalendarEvent), params=params)


def update_calendar_event(
    calendar_id: str,
    event_id: str,
    record: bool | Unset | None = UNSET,
    record_series: bool | Unset | None = UNSET,
) -> Call[models.CalendarEvent]:
    path = f"{CALENDARS}{_id(calendar_id)}/events/{_id(event_id)}/"
    body = _given(record=record, record_series=record_series)
    return Call("PATCH", path, _one(models.CalendarEvent), json=body)

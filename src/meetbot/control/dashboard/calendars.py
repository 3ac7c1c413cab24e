"""The dashboard's calendars: the workspace's calendars, a calendar's page (its rules, its
upcoming occurrences with the decision and the rule that made it, its bot), the forms that
connect an ICS or CalDAV calendar and change the rules, and the buttons (sync now, record or
not one occurrence, disconnect).

Writes go through the API's use cases (:mod:`meetbot.control.service.calendars`); another
workspace's calendar is 404. Secrets typed into the connect form are sealed by the service and
never shown back (not even in a refused form)."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

import pydantic
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from meetbot import errors
from meetbot.control.api.calendars import ConnectCalendarIn, UpdateCalendarIn
from meetbot.control.calendars import rules
from meetbot.control.calendars.models import (
    CONDITIONS,
    BotSettings,
    Calendar,
    CalendarEvent,
    CalendarKind,
)
from meetbot.control.calendars.repo import EventQuery
from meetbot.control.dashboard.pages import Viewer, ViewerDep, checked_form, error_page, render
from meetbot.control.service import calendars
from meetbot.unset import UNSET

router = APIRouter(prefix="/dashboard/calendars")

PAGE_SIZE = 50
FORM_KINDS = (CalendarKind.ICS, CalendarKind.CALDAV)
"""Kinds connected from the form (Google and Microsoft need an OAuth client: the API)."""
SECRET_FIELDS = frozenset({"password", "csrf"})
NOTICES = {
    "synced": "A sync was asked for: it runs now.",
    "saved": "Saved: every occurrence is decided again by the next sync (now).",
    "connected": "Connected: its first sync runs now.",
    "recorded": "Saved: the occurrence's bot follows.",
}


def _problem(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ()))
    return f"{field}: {first.get('msg', 'invalid value')}."


def _record(fields: dict[str, str]) -> str | list[str]:
    """The ``record`` setting from the form: ``all``, ``none`` or the ticked conditions."""
    mode = fields.get("record", "all")
    if mode == "conditions":
        return [c for c in CONDITIONS if fields.get(f"cond_{c}")]
    return mode


def _start_key(event: CalendarEvent) -> float:
    return event.start.timestamp() if event.start else float("inf")


def _record_text(calendar: Calendar) -> str:
    record = calendar.record
    return record if isinstance(record, str) else "only if: " + ", ".join(record)


async def _list_page(
    request: Request,
    viewer: Viewer,
    *,
    form_error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    cursor = request.query_params.get("cursor")
    try:
        before = viewer.cursors.decode("calendars", viewer.workspace_id, cursor) if cursor else None
        found, next_seq = await calendars.list_calendars(
            viewer.services, viewer.workspace_id, before, PAGE_SIZE
        )
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    next_url = None
    if next_seq is not None:
        cursor_next = viewer.cursors.encode("calendars", viewer.workspace_id, next_seq)
        next_url = "/dashboard/calendars/?" + urlencode({"cursor": cursor_next})
    kept = {k: v for k, v in (values or {}).items() if k not in SECRET_FIELDS}
    context = {
        "viewer": viewer,
        "title": "Calendars",
        "calendars": found,
        "next_url": next_url,
        "kinds": [k.value for k in FORM_KINDS],
        "conditions": CONDITIONS,
        "form_error": form_error,
        "values": kept,
        "record_mode": kept.get("record", "all"),
        "record_conditions": [c for c in CONDITIONS if kept.get(f"cond_{c}")],
        "disconnected": request.query_params.get("done") == "disconnected",
    }
    return render("calendars.html", context, status=400 if form_error else 200)


@router.get("/")
async def list_calendars(request: Request, viewer: ViewerDep) -> Response:
    return await _list_page(request, viewer)


@router.post("/")
async def connect_calendar(request: Request, viewer: ViewerDep) -> Response:
    """Connect an ICS feed or a CalDAV calendar (the same use case as ``POST /calendars/``)."""
    fields = await checked_form(request, viewer)
    body: dict[str, Any] = {"kind": fields.get("kind", ""), "record": _record(fields)}
    for name in ("url", "username", "password", "owner_email", "bot_name"):
        if fields.get(name, "").strip():
            body[name] = fields[name] if name == "password" else fields[name].strip()
    svc = viewer.services
    try:
        parsed = ConnectCalendarIn.model_validate(body)
        if parsed.kind not in FORM_KINDS:
            raise errors.InvalidRequest("kind: ics or caldav here (others through the API).")
        if not parsed.url:
            raise errors.InvalidRequest("url: required for this kind.")
        config = {
            k: getattr(parsed, k)
            for k in ("url", "username", "owner_email")
            if getattr(parsed, k) is not None
        }
        secrets = {"password": parsed.password.get_secret_value()} if parsed.password else {}
        settings = BotSettings()
        if parsed.bot_name:
            settings = dataclasses.replace(settings, bot_name=parsed.bot_name)
        spec = calendars.CalendarSpec(
            kind=parsed.kind,
            config=config,
            secrets=secrets,
            record=rules.parse_record(parsed.record),
            bot_settings=settings,
        )
        calendar = await calendars.connect(svc, viewer.workspace_id, spec)
    except pydantic.ValidationError as exc:
        return await _list_page(request, viewer, form_error=_problem(exc), values=fields)
    except errors.MeetbotError as exc:
        return await _list_page(request, viewer, form_error=exc.detail, values=fields)
    return RedirectResponse(f"/dashboard/calendars/{calendar.id}/?done=connected", status_code=303)


async def _calendar_page(
    request: Request, viewer: Viewer, calendar_id: str, error: str | None = None
) -> Response:
    """The page; ``error`` is what a form's use case refused (never taken from the URL)."""
    svc = viewer.services
    cursor = request.query_params.get("cursor")
    kind = f"calendar_events:{calendar_id}"
    try:
        calendar = await calendars.get(svc, viewer.workspace_id, calendar_id)
        query = EventQuery(
            after_seq=viewer.cursors.decode(kind, viewer.workspace_id, cursor) if cursor else None,
            start_from=svc.clock.now(),
            limit=PAGE_SIZE,
        )
        events, next_seq = await calendars.list_events(svc, viewer.workspace_id, calendar.id, query)
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    next_url = None
    if next_seq is not None:
        cursor_next = viewer.cursors.encode(kind, viewer.workspace_id, next_seq)
        next_url = f"/dashboard/calendars/{calendar.id}/?" + urlencode({"cursor": cursor_next})
    upcoming = sorted((e for e in events if not e.is_deleted), key=_start_key)
    record = calendar.record
    context = {
        "viewer": viewer,
        "title": "Calendar",
        "calendar": calendar,
        "shown_url": calendar.config.get("url"),
        "record_text": _record_text(calendar),
        "record_mode": record if isinstance(record, str) else "conditions",
        "record_conditions": () if isinstance(record, str) else record,
        "conditions": CONDITIONS,
        "events": upcoming,
        "next_url": next_url,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("done") or ""),
    }
    return render("calendar.html", context, status=400 if error else 200)


@router.get("/{calendar_id}/")
async def show_calendar(request: Request, calendar_id: str, viewer: ViewerDep) -> Response:
    return await _calendar_page(request, viewer, calendar_id)


async def _failed(request: Request, viewer: Viewer, calendar_id: str, exc: Exception) -> Response:
    if isinstance(exc, errors.NotFound):
        return error_page(viewer, exc)
    detail = exc.detail if isinstance(exc, errors.MeetbotError) else str(exc)
    return await _calendar_page(request, viewer, calendar_id, error=detail)


def _done(calendar_id: str, done: str) -> Response:
    return RedirectResponse(f"/dashboard/calendars/{calendar_id}/?done={done}", status_code=303)


@router.post("/{calendar_id}/sync")
async def sync_now(request: Request, calendar_id: str, viewer: ViewerDep) -> Response:
    await checked_form(request, viewer)
    try:
        await calendars.request_sync(viewer.services, viewer.workspace_id, calendar_id)
    except errors.MeetbotError as exc:
        return await _failed(request, viewer, calendar_id, exc)
    return _done(calendar_id, "synced")


@router.post("/{calendar_id}/update")
async def update_rules(request: Request, calendar_id: str, viewer: ViewerDep) -> Response:
    """The PATCH of the calendar's ``record`` rules and its bots' name and join offset."""
    fields = await checked_form(request, viewer)
    body: dict[str, Any] = {"record": _record(fields)}
    if fields.get("bot_name", "").strip():
        body["bot_name"] = fields["bot_name"].strip()
    offset = fields.get("join_offset_seconds", "").strip()
    svc = viewer.services
    try:
        if offset:
            try:
                body["join_offset_seconds"] = int(offset)
            except ValueError:
                raise errors.InvalidRequest("join_offset_seconds: a whole number.") from None
        parsed = UpdateCalendarIn.model_validate(body)
        current = await calendars.get(svc, viewer.workspace_id, calendar_id)
        changes: dict[str, Any] = {}
        if parsed.bot_name is not None:
            changes["bot_name"] = parsed.bot_name
        if parsed.join_offset_seconds is not None:
            changes["join_offset_seconds"] = parsed.join_offset_seconds
        patch = calendars.CalendarPatch(
            record=rules.parse_record(parsed.record) if parsed.record is not None else UNSET,
            bot_settings=dataclasses.replace(current.bot_settings, **changes),
        )
        await calendars.update(svc, viewer.workspace_id, calendar_id, patch)
    except pydantic.ValidationError as exc:
        return await _failed(request, viewer, calendar_id, ValueError(_problem(exc)))
    except errors.MeetbotError as exc:
        return await _failed(request, viewer, calendar_id, exc)
    return _done(calendar_id, "saved")


_OVERRIDES: dict[str, bool | None] = {"record": True, "skip": False, "rules": None}


@router.post("/{calendar_id}/events/{event_id}/record")
async def record_event(
    request: Request, calendar_id: str, event_id: str, viewer: ViewerDep
) -> Response:
    """Override the rules for one occurrence: ``record``, ``skip``, or back to the ``rules``."""
    fields = await checked_form(request, viewer)
    choice = fields.get("record", "")
    try:
        if choice not in _OVERRIDES:
            raise errors.InvalidRequest("record: record, skip or rules.")
        await calendars.update_event(
            viewer.services,
            viewer.workspace_id,
            calendar_id,
            event_id,
            record=_OVERRIDES[choice],
        )
    except errors.MeetbotError as exc:
        return await _failed(request, viewer, calendar_id, exc)
    return _done(calendar_id, "recorded")


@router.post("/{calendar_id}/disconnect")
async def disconnect(request: Request, calendar_id: str, viewer: ViewerDep) -> Response:
    await checked_form(request, viewer)
    try:
        await calendars.delete(viewer.services, viewer.workspace_id, calendar_id)
    except errors.MeetbotError as exc:
        return await _failed(request, viewer, calendar_id, exc)
    return RedirectResponse("/dashboard/calendars/?done=disconnected", status_code=303)

"""``/api/v1/calendars/``: connect calendars, their rules, their occurrences (issue 15).

Thin handlers: parse, call one use case of :mod:`meetbot.control.service.calendars`, render.
Secrets are taken, sealed by the service, and never shown again.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, StrictInt, StrictStr

from meetbot import errors
from meetbot.control.api.deps import Cursors, ServicesDep, WorkspaceId
from meetbot.control.api.schemas import (
    ErrorOut,
    LenientUtcDatetime,
    RecordingIn,
    StopOptionsIn,
    stop_options_domain,
)
from meetbot.control.calendars import rules
from meetbot.control.calendars.models import BotSettings, Calendar, CalendarEvent, CalendarKind
from meetbot.control.calendars.repo import EventQuery
from meetbot.control.service import Services, calendar_sync, calendars
from meetbot.control.webhooks.targets import TargetPolicy, validate_webhook_url
from meetbot.timefmt import iso
from meetbot.transcription.models import validate_model
from meetbot.unset import UNSET

router = APIRouter(prefix="/api/v1/calendars", tags=["calendars"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid request (`code` says which rule)"},
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "No such calendar in this workspace"},
}
Record = Literal["all", "none"] | list[StrictStr]
Url = Annotated[StrictStr, Field(min_length=1, max_length=4096)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=8192)]


class BotSettingsIn(BaseModel):
    """Settings of the calendar's bots (all optional)."""

    bot_name: StrictStr | None = Field(None, min_length=1, max_length=100)
    join_offset_seconds: StrictInt | None = Field(None, ge=0, le=3600)
    stop_options: StopOptionsIn | None = None
    transcription_model: StrictStr | None = None
    recording: RecordingIn | None = None
    webhook_url: Url | None = None
    metadata: dict[str, str] | None = None


class ConnectCalendarIn(BotSettingsIn):
    model_config = ConfigDict(extra="forbid")

    kind: CalendarKind
    url: Url | None = None
    username: StrictStr | None = None
    password: Secret | None = None
    refresh_token: Secret | None = None
    client_id: StrictStr | None = None
    client_secret: Secret | None = None
    calendar_id: StrictStr | None = None
    owner_email: StrictStr | None = Field(
        None, description="The calendar owner's address: `external`, `host`, ... read it"
    )
    record: Record = "all"


class UpdateCalendarIn(BotSettingsIn):
    model_config = ConfigDict(extra="forbid")

    record: Record | None = None


class UpdateEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record: StrictBool | None = None
    record_series: StrictBool | None = None


async def _settings(
    svc: Services, body: BotSettingsIn, base: BotSettings | None = None
) -> BotSettings:
    base = base or BotSettings()
    given = body.model_fields_set
    out: dict[str, Any] = {}
    if "webhook_url" in given and body.webhook_url:
        await validate_webhook_url(body.webhook_url, TargetPolicy.from_settings(svc.settings))
    if "transcription_model" in given and body.transcription_model:
        validate_model(body.transcription_model)
    for name in ("bot_name", "join_offset_seconds", "transcription_model", "webhook_url"):
        if name in given:
            out[name] = getattr(body, name)
    if "bot_name" in out and out["bot_name"] is None:
        out["bot_name"] = BotSettings().bot_name
    if "join_offset_seconds" in out and out["join_offset_seconds"] is None:
        out["join_offset_seconds"] = 0
    if "stop_options" in given:
        chosen = body.stop_options
        out["stop_options"] = (
            dataclasses.asdict(stop_options_domain(chosen, None)) if chosen else None
        )
    if "recording" in given:
        out["recording"] = body.recording.to_domain().as_dict() if body.recording else None
    if "metadata" in given:
        out["metadata"] = dict(body.metadata or {})
    return dataclasses.replace(base, **out)


def calendar_view(calendar: Calendar) -> dict[str, Any]:
    shown = ("url", "username", "client_id", "calendar_id", "owner_email")
    config = {k: calendar.config[k] for k in shown if k in calendar.config}
    settings = calendar.bot_settings
    return {
        "id": calendar.id,
        "kind": calendar.kind.value,
        **config,
        "status": calendar.status.value,
        "status_reason": calendar.status_reason,
        "record": calendar.record if isinstance(calendar.record, str) else list(calendar.record),
        "bot_name": settings.bot_name,
        "join_offset_seconds": settings.join_offset_seconds,
        "stop_options": settings.stop_options,
        "transcription_model": settings.transcription_model,
        "recording": settings.recording,
        "webhook_url": settings.webhook_url,
        "metadata": dict(settings.metadata),
        "last_synced_at": iso(calendar.last_synced_at) if calendar.last_synced_at else None,
        "next_sync_at": iso(calendar.next_sync_at) if calendar.next_sync_at else None,
        "created_at": iso(calendar.created_at),
    }


def event_view(event: CalendarEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "calendar_id": event.calendar_id,
        "ical_uid": event.shown_uid,
        "start": iso(event.start) if event.start else None,
        "end": iso(event.end) if event.end else None,
        "title": event.title,
        "meeting_url": event.meeting_url,
        "platform": event.platform,
        "is_deleted": event.is_deleted,
        "will_record": event.will_record,
        "will_record_rule": event.rule,
        "record_override": event.record_override,
        "bot_id": event.bot_id,
        "updated_at": iso(event.updated_at),
    }


@router.post("/", status_code=201, responses=_ERRORS, summary="Connect a calendar")
async def connect(body: ConnectCalendarIn, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    config = {
        k: getattr(body, k)
        for k in ("url", "username", "client_id", "calendar_id", "owner_email")
        if getattr(body, k) is not None
    }
    secrets = {
        k: getattr(body, k).get_secret_value()
        for k in ("password", "refresh_token", "client_secret")
        if getattr(body, k) is not None
    }
    if body.kind in (CalendarKind.ICS, CalendarKind.CALDAV) and not body.url:
        raise errors.InvalidRequest("url: required for this kind.")
    if body.kind in (CalendarKind.GOOGLE, CalendarKind.MICROSOFT):
        missing = [
            k for k in ("refresh_token", "client_id", "client_secret") if not getattr(body, k)
        ]
        if missing:
            raise errors.InvalidRequest(f"{missing[0]}: required for this kind.")
    spec = calendars.CalendarSpec(
        kind=body.kind,
        config=config,
        secrets=secrets,
        record=rules.parse_record(body.record),
        bot_settings=await _settings(svc, body),
    )
    calendar = await calendars.connect(svc, workspace_id, spec)
    return JSONResponse(calendar_view(calendar), status_code=201)


@router.post(
    "/push/google/",
    status_code=200,
    responses={404: {"model": ErrorOut, "description": "Not a channel of this server"}},
    summary="Google's push notifications (no API key: the channel's token authenticates)",
)
async def push_google(
    svc: ServicesDep,
    channel_id: Annotated[str, Header(alias="X-Goog-Channel-ID", max_length=200)],
    channel_token: Annotated[str, Header(alias="X-Goog-Channel-Token", max_length=200)] = "",
    resource_state: Annotated[str, Header(alias="X-Goog-Resource-State", max_length=50)] = "",
) -> Response:
    """``sync`` (the channel opened), ``exists``, ``not_exists``: all mean "sync now"."""
    if not await calendar_sync.push_received(svc, channel_id, channel_token):
        raise errors.NotFound("No such channel.")
    return Response(status_code=200)


@router.post(
    "/push/microsoft/",
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "The validationToken, echoed",
        },
        202: {"description": "A notification accepted: its calendar syncs now"},
        404: {"model": ErrorOut, "description": "Not a subscription of this server"},
    },
    summary="Microsoft Graph's notifications and its validation (no API key: clientState)",
)
async def push_microsoft(
    request: Request,
    svc: ServicesDep,
    validation_token: Annotated[str | None, Query(alias="validationToken", max_length=4096)] = None,
) -> Response:
    """Graph validates the URL first: the ``validationToken`` is echoed as plain text. Then
    each notification (changes, and lifecycle ones: ``reauthorizationRequired``,
    ``subscriptionRemoved``, ``missed``) carries the ``clientState`` given at subscription:
    its calendar syncs now (a sync also renews an expiring subscription; after
    ``subscriptionRemoved`` or ``reauthorizationRequired`` it makes a new one)."""
    if validation_token is not None:
        return PlainTextResponse(validation_token)
    try:
        body = await request.json()
        notes = body.get("value", []) if isinstance(body, dict) else []
    except ValueError:
        notes = []
    accepted = 0
    for note in notes if isinstance(notes, list) else []:
        state = str(note.get("clientState") or "") if isinstance(note, dict) else ""
        channel_id, _, token = state.partition(" ")
        renew = isinstance(note, dict) and note.get("lifecycleEvent") in _RENEW
        if channel_id and await calendar_sync.push_received(svc, channel_id, token, renew=renew):
            accepted += 1
    if not accepted:
        raise errors.NotFound("No such subscription.")
    return Response(status_code=202)


_RENEW = ("subscriptionRemoved", "reauthorizationRequired")
"""Graph's lifecycle notifications after which the subscription is made again."""


@router.get("/", responses=_ERRORS, summary="List calendars, newest first")
async def list_calendars(
    svc: ServicesDep,
    workspace_id: WorkspaceId,
    cursors: Cursors,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    before = cursors.decode("calendars", workspace_id, cursor) if cursor else None
    page, next_seq = await calendars.list_calendars(svc, workspace_id, before, limit)
    nxt = cursors.encode("calendars", workspace_id, next_seq) if next_seq is not None else None
    return JSONResponse({"results": [calendar_view(c) for c in page], "next": nxt})


@router.get("/{calendar_id}/", responses=_ERRORS, summary="Retrieve a calendar")
async def get_calendar(calendar_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    return JSONResponse(calendar_view(await calendars.get(svc, workspace_id, calendar_id)))


@router.patch("/{calendar_id}/", responses=_ERRORS, summary="Change its rules or bot settings")
async def update_calendar(
    calendar_id: str, body: UpdateCalendarIn, svc: ServicesDep, workspace_id: WorkspaceId
) -> Response:
    current = await calendars.get(svc, workspace_id, calendar_id)
    patch = calendars.CalendarPatch(
        record=rules.parse_record(body.record) if body.record is not None else UNSET,
        bot_settings=await _settings(svc, body, current.bot_settings),
    )
    calendar = await calendars.update(svc, workspace_id, calendar_id, patch)
    return JSONResponse(calendar_view(calendar))


@router.delete("/{calendar_id}/", status_code=204, responses=_ERRORS, summary="Disconnect")
async def delete_calendar(
    calendar_id: str, svc: ServicesDep, workspace_id: WorkspaceId
) -> Response:
    await calendars.delete(svc, workspace_id, calendar_id)
    return Response(status_code=204)


@router.post("/{calendar_id}/sync/", status_code=202, responses=_ERRORS, summary="Sync now")
async def sync_calendar(calendar_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    calendar = await calendars.request_sync(svc, workspace_id, calendar_id)
    return JSONResponse(calendar_view(calendar), status_code=202)


@router.get("/{calendar_id}/events/", responses=_ERRORS, summary="The calendar's occurrences")
async def list_events(
    calendar_id: str,
    svc: ServicesDep,
    workspace_id: WorkspaceId,
    cursors: Cursors,
    start_from: Annotated[LenientUtcDatetime | None, Query(alias="from")] = None,
    start_to: Annotated[LenientUtcDatetime | None, Query(alias="to")] = None,
    updated_after: LenientUtcDatetime | None = None,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    kind = f"calendar_events:{calendar_id}"
    query = EventQuery(
        after_seq=cursors.decode(kind, workspace_id, cursor) if cursor else None,
        start_from=start_from,
        start_to=start_to,
        updated_after=updated_after,
        limit=limit,
    )
    page, next_seq = await calendars.list_events(svc, workspace_id, calendar_id, query)
    nxt = cursors.encode(kind, workspace_id, next_seq) if next_seq is not None else None
    return JSONResponse({"results": [event_view(e) for e in page], "next": nxt})


@router.patch("/{calendar_id}/events/{event_id}/", responses=_ERRORS, summary="Override the rules")
async def update_event(
    calendar_id: str,
    event_id: str,
    body: UpdateEventIn,
    svc: ServicesDep,
    workspace_id: WorkspaceId,
) -> Response:
    given = body.model_fields_set
    event = await calendars.update_event(
        svc,
        workspace_id,
        calendar_id,
        event_id,
        record=body.record if "record" in given else UNSET,
        record_series=body.record_series if "record_series" in given else UNSET,
    )
    return JSONResponse(event_view(event))

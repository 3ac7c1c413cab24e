"""``/api/v1/bot/``: thin handlers — parse, call one service function, serialise."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from meetbot import errors
from meetbot.contract.lifecycle import Status
from meetbot.contract.meeting_urls import check_service, parse_joinable_url, parse_meeting_url
from meetbot.contract.models import Bot, MeetingRef, RecordingOptions
from meetbot.control.api.deps import Cursors, ServicesDep, WorkspaceId
from meetbot.control.api.representation import BotOut, bot_view
from meetbot.control.api.schemas import (
    BotPage,
    CreateBotIn,
    ErrorOut,
    LenientUtcDatetime,
    UpdateBotIn,
)
from meetbot.control.calendars.meeting_key import is_calendar_key
from meetbot.control.ports import BotQuery
from meetbot.control.realtime_endpoints import validate_endpoints
from meetbot.control.service import Services, bots, calendars, camera, credentials
from meetbot.control.webhooks import signing
from meetbot.control.webhooks.targets import TargetPolicy, validate_webhook_url
from meetbot.transcription.models import validate_model

router = APIRouter(prefix="/api/v1/bot", tags=["bots"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid request (`code` says which rule)"},
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "No such bot in this workspace"},
    429: {"model": ErrorOut, "description": "Rate limited; obey `Retry-After`"},
}


async def _check_webhook_url(svc: Services, url: str) -> None:
    await validate_webhook_url(url, TargetPolicy.from_settings(svc.settings))


def _meeting(svc: Services, url: str) -> MeetingRef:
    return parse_joinable_url(url, self_hosted=svc.settings.self_hosted_meeting_host_list)


async def spec_from_body(svc: Services, workspace_id: str, body: CreateBotIn) -> bots.BotSpec:
    """The create request as the use case takes it (the dashboard's form uses it too)."""
    model = body.transcription_model or svc.settings.default_transcription_model
    own = body.credentials.to_mapping() if body.credentials else {}
    await credentials.require_transcription_key(svc, workspace_id, validate_model(model), own=own)
    if body.webhook_url:
        await _check_webhook_url(svc, body.webhook_url)
    meeting = _meeting(svc, body.meeting_url)
    check_service(meeting, body.service)
    image = await camera.read_image(svc, body.bot_image) if body.bot_image else None
    endpoints = await validate_endpoints(
        [(e.type, e.url, e.events) for e in body.realtime_endpoints or ()],
        TargetPolicy.from_settings(svc.settings),
    )
    return bots.BotSpec(
        meeting=meeting,
        bot_name=body.bot_name,
        join_at=body.join_at,
        expected_duration=body.expected_duration,
        metadata=body.metadata or {},
        stop_options=body.stop_options_domain(),
        transcription_model=model,
        deduplication_key=body.deduplication_key,
        webhook_url=body.webhook_url,
        recording=body.recording.to_domain() if body.recording else RecordingOptions(),
        credentials=body.credentials.to_mapping() if body.credentials else None,
        entry_message=body.chat.entry_message if body.chat else None,
        bot_image=image,
        realtime_endpoints=endpoints,
    )


@router.post(
    "/",
    status_code=201,
    response_model=BotOut,
    responses={
        **_ERRORS,
        400: {
            "model": ErrorOut,
            "description": "Invalid request (`code` says which rule, e.g. "
            "`invalid_transcription_model`, `missing_transcription_key`)",
        },
        409: {
            "model": ErrorOut,
            "description": "duplicate_bot, idempotency_key_reused, or schedule_full (a scheduled"
            " bot's window cannot be reserved: nothing was stored)",
        },
        507: {"model": ErrorOut, "description": "No warm ad-hoc bot idle: retry in 30 s"},
    },
    summary="Create a bot",
)
async def create_bot(
    request: Request,
    body: CreateBotIn,
    svc: ServicesDep,
    workspace_id: WorkspaceId,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    idempotency = None
    if idempotency_key:  # the request is only hashed; the first answer is kept for repeats
        raw = await request.json()
        idempotency = bots.IdempotentRequest(idempotency_key, raw, _first_answer)
    spec = await spec_from_body(svc, workspace_id, body)
    result = await bots.create_bot(svc, workspace_id, spec, idempotency=idempotency)
    if isinstance(result, bots.Replayed):
        answer = result.answer
        return JSONResponse(json.loads(answer.body), status_code=answer.status_code)
    return JSONResponse(bot_view(result.bot, include_secret=True), status_code=201)


def _first_answer(bot: Bot) -> bots.Answer:
    """A create's answer as a repeat gets it: the bot as created, its webhook secret too."""
    return bots.Answer(201, json.dumps(bot_view(bot, include_secret=True)).encode())


@router.get("/", response_model=BotPage, responses=_ERRORS, summary="List bots, newest first")
async def list_bots(
    request: Request,
    svc: ServicesDep,
    workspace_id: WorkspaceId,
    cursors: Cursors,
    status: Status | None = None,
    join_at_after: LenientUtcDatetime | None = None,
    join_at_before: LenientUtcDatetime | None = None,
    meeting_url: Annotated[str | None, Query(max_length=4096)] = None,
    cursor: Annotated[
        str | None, Query(description="`next` of the previous page, as is (opaque)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Also filters by metadata: ``?metadata__<key>=<value>``."""
    metadata = {
        k.removeprefix("metadata__"): v
        for k, v in request.query_params.items()
        if k.startswith("metadata__") and len(k) > len("metadata__")
    }
    if meeting_url:
        with contextlib.suppress(errors.InvalidMeetingUrl):
            meeting_url = parse_meeting_url(meeting_url).url
    query = BotQuery(
        status=status,
        join_at_after=join_at_after,
        join_at_before=join_at_before,
        meeting_url=meeting_url,
        metadata=metadata,
        before_seq=cursors.decode("bots", workspace_id, cursor) if cursor else None,
        limit=limit,
    )
    page, next_seq = await bots.list_bots(svc, workspace_id, query)
    return JSONResponse(
        {
            "results": [bot_view(b) for b in page],
            "next": cursors.encode("bots", workspace_id, next_seq)
            if next_seq is not None
            else None,
        }
    )


@router.get("/{bot_id}/", response_model=BotOut, responses=_ERRORS, summary="Retrieve a bot")
async def get_bot(bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    bot = await bots.get_bot(svc, workspace_id, bot_id)
    view = bot_view(bot)
    if is_calendar_key(bot.deduplication_key):  # a calendar's bot: the events that want it
        view["calendar_events"] = await calendars.calendar_events_of(svc, bot)
    return JSONResponse(view)


@router.patch(
    "/{bot_id}/",
    response_model=BotOut,
    responses={
        **_ERRORS,
        409: {
            "model": ErrorOut,
            "description": "duplicate_bot, or schedule_full (the new window is booked)",
        },
        507: {"model": ErrorOut, "description": "join now: pool empty"},
    },
    summary="Update a bot until it starts joining (metadata at any time)",
)
async def update_bot(
    bot_id: str, body: UpdateBotIn, svc: ServicesDep, workspace_id: WorkspaceId
) -> Response:
    """Scheduled bots are editable up until they start joining the meeting: any field while
    the bot is `scheduled` or `booting` (a `booting` bot enters the meeting under the new
    name, at the new URL, even on another platform); `metadata` at any time.

    - `join_at` more than the scheduled threshold ahead: accepted (a `booting` bot goes back
      to `scheduled` and frees its runner); nearer → 400 `update_bot_failed` "Not enough time
      to launch new bot"; `join_at: null` on a `scheduled` bot: it joins now (507 rules).
    - From `joining` on → 400 `update_bot_failed` "Only non-dispatched bots can be updated".
    - The answer (and `GET`) show the new values at once; `status_changes` do not change.
    """
    # A bot given its first webhook_url gets a signing secret: shown in this response only.
    offered = signing.new_secret() if body.webhook_url else None
    bot = await bots.update_bot(
        svc, workspace_id, bot_id, body.to_patch(), new_webhook_secret=offered
    )
    new_secret = offered is not None and bot.webhook_secret == offered
    return JSONResponse(bot_view(bot, include_secret=new_secret))


@router.delete(
    "/{bot_id}/",
    status_code=204,
    responses={**_ERRORS, 405: {"model": ErrorOut, "description": "Dispatched: use leave_call"}},
    summary="Delete a bot that is not dispatched yet",
)
async def delete_bot(bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    """204 while `scheduled`; once dispatched (`booting` on) 405 `method_not_allowed`: use
    `POST /api/v1/bot/{id}/leave_call/`."""
    await bots.delete_bot(svc, workspace_id, bot_id)
    return Response(status_code=204)


@router.post(
    "/{bot_id}/leave_call/",
    response_model=BotOut,
    responses=_ERRORS,
    summary="Remove a dispatched bot from its call (or cancel it before it joins)",
)
async def leave_call(bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    """On a `booting` bot it cancels it: the bot never joins and ends `not_admitted` /
    `manually_stopped` (as while `joining`); in the call: `leaving`, then `finished` /
    `manually_stopped`. Still `scheduled` → 400 `bot_not_started`; already `leaving` or ended →
    400 `bot_completed` "Cannot send a command to a bot which has completed(is shutting/has
    shut down/has errored)."."""
    return JSONResponse(bot_view(await bots.leave_call(svc, workspace_id, bot_id)))

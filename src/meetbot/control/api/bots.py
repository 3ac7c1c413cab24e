"""``/api/v1/bot/``: thin handlers — parse, call one service function, serialise."""

from __future__ import annotations

import base64
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from meetbot import errors
from meetbot.contract.lifecycle import Status
from meetbot.contract.meeting_urls import parse_meeting_url
from meetbot.contract.models import MeetingRef, RecordingOptions
from meetbot.control.api.deps import AppState, WorkspaceId
from meetbot.control.api.representation import bot_view
from meetbot.control.api.schemas import (
    BotOut,
    BotPage,
    CreateBotIn,
    ErrorOut,
    LenientUtcDatetime,
    UpdateBotIn,
    stop_options_domain,
)
from meetbot.control.ports import BotQuery
from meetbot.control.service import Services, bots
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
    return parse_meeting_url(url, self_hosted=svc.settings.self_hosted_meeting_host_list)


async def _spec(svc: Services, body: CreateBotIn) -> bots.BotSpec:
    model = body.transcription_model or svc.settings.default_transcription_model
    validate_model(model)
    if body.webhook_url:
        await _check_webhook_url(svc, body.webhook_url)
    return bots.BotSpec(
        meeting=_meeting(svc, body.meeting_url),
        bot_name=body.bot_name,
        join_at=body.join_at,
        metadata=body.metadata or {},
        stop_options=body.stop_options_domain(),
        transcription_model=model,
        deduplication_key=body.deduplication_key,
        webhook_url=body.webhook_url,
        recording=body.recording.to_domain() if body.recording else RecordingOptions(),
        credentials=body.credentials.to_mapping() if body.credentials else None,
    )


@router.post(
    "/",
    status_code=201,
    response_model=BotOut,
    responses={
        **_ERRORS,
        409: {"model": ErrorOut, "description": "duplicate_bot or idempotency_key_reused"},
        507: {"model": ErrorOut, "description": "No warm ad-hoc bot idle: retry in 30 s"},
    },
    summary="Create a bot",
)
async def create_bot(
    request: Request,
    body: CreateBotIn,
    svc: AppState,
    workspace_id: WorkspaceId,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    raw = await request.json() if idempotency_key else None  # only hashed for the key
    created = await bots.create_bot(
        svc, workspace_id, await _spec(svc, body), idempotency_key=idempotency_key, raw_body=raw
    )
    return JSONResponse(created.body, status_code=created.status_code)


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"b{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("b"):
            raise ValueError(raw)
        return int(raw[1:])
    except ValueError as exc:
        raise errors.InvalidRequest("cursor: not a cursor returned by this API.") from exc


@router.get("/", response_model=BotPage, responses=_ERRORS, summary="List bots, newest first")
async def list_bots(
    request: Request,
    svc: AppState,
    workspace_id: WorkspaceId,
    status: Status | None = None,
    join_at_after: LenientUtcDatetime | None = None,
    join_at_before: LenientUtcDatetime | None = None,
    meeting_url: Annotated[str | None, Query(max_length=4096)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
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
        before_seq=_decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    page, next_seq = await bots.list_bots(svc, workspace_id, query)
    return JSONResponse(
        {
            "results": [bot_view(b) for b in page],
            "next": _encode_cursor(next_seq) if next_seq is not None else None,
        }
    )


@router.get("/{bot_id}/", response_model=BotOut, responses=_ERRORS, summary="Retrieve a bot")
async def get_bot(bot_id: str, svc: AppState, workspace_id: WorkspaceId) -> Response:
    return JSONResponse(bot_view(await bots.get_bot(svc, workspace_id, bot_id)))


@router.patch(
    "/{bot_id}/",
    response_model=BotOut,
    responses={**_ERRORS, 507: {"model": ErrorOut, "description": "join now: pool empty"}},
    summary="Update a scheduled bot (metadata at any time)",
)
async def update_bot(
    bot_id: str, body: UpdateBotIn, svc: AppState, workspace_id: WorkspaceId
) -> Response:
    given = body.given()
    changes: dict[str, Any] = {}
    for name, value in given.items():
        if name == "meeting_url":
            if value is None:
                raise errors.InvalidRequest("meeting_url: must not be null.")
            changes["meeting"] = _meeting(svc, value)
        elif name == "stop_options":
            changes["stop_options"] = stop_options_domain(value, None)
        elif name == "recording":
            changes["recording"] = value.to_domain() if value else RecordingOptions()
        elif name == "transcription_model":
            model = value or svc.settings.default_transcription_model
            validate_model(model)
            changes[name] = model
        elif name == "webhook_url" and value:
            await _check_webhook_url(svc, value)
            changes[name] = value
        elif name == "bot_name" and value is None:
            raise errors.InvalidRequest("bot_name: must not be null.")
        elif name == "metadata":
            changes[name] = value or {}
        elif name == "credentials":
            changes[name] = value.to_mapping() if value else None
        else:
            changes[name] = value
    bot = await bots.update_bot(svc, workspace_id, bot_id, changes)
    return JSONResponse(bot_view(bot))


@router.delete(
    "/{bot_id}/",
    status_code=204,
    responses={**_ERRORS, 405: {"model": ErrorOut, "description": "Dispatched: use leave_call"}},
    summary="Delete a bot that is not dispatched yet",
)
async def delete_bot(bot_id: str, svc: AppState, workspace_id: WorkspaceId) -> Response:
    await bots.delete_bot(svc, workspace_id, bot_id)
    return Response(status_code=204)


@router.post(
    "/{bot_id}/leave_call/",
    response_model=BotOut,
    responses=_ERRORS,
    summary="Remove a dispatched bot from its call",
)
async def leave_call(bot_id: str, svc: AppState, workspace_id: WorkspaceId) -> Response:
    return JSONResponse(bot_view(await bots.leave_call(svc, workspace_id, bot_id)))

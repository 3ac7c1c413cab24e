"""``/internal/bots/{id}/...``: runners report here with their per-bot token."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from meetbot.contract.reports import Commands, JoinAnswer, JoinRequest, ReportBatch
from meetbot.contract.uploads import UploadRequest, UploadTarget
from meetbot.control.api.deps import RunnerToken, ServicesDep
from meetbot.control.service import camera, output_audio, runners, uploads

router = APIRouter(prefix="/internal/bots", tags=["internal"], include_in_schema=False)


@router.post("/{bot_id}/events", response_model=Commands, response_model_exclude_none=True)
async def post_events(
    bot_id: str, batch: ReportBatch, svc: ServicesDep, token: RunnerToken
) -> Commands:
    return await runners.handle_reports(svc, bot_id, token, batch)


@router.post("/{bot_id}/join", response_model=JoinAnswer)
async def start_joining(
    bot_id: str, request: JoinRequest, svc: ServicesDep, token: RunnerToken
) -> JoinAnswer:
    """The runner is about to navigate: the bot's values as they stand (see ``reports``)."""
    return await runners.start_joining(svc, bot_id, token, request)


@router.get("/{bot_id}/commands", response_model=Commands, response_model_exclude_none=True)
async def get_commands(
    bot_id: str,
    svc: ServicesDep,
    token: RunnerToken,
    wait: Annotated[float, Query(ge=0, le=30)] = 0,
) -> Commands:
    """Long poll: answers at once if a command is pending, else after ``wait`` seconds.

    The token is checked before anything is kept for the poll. A poll that waits out its
    time reads twice (at its start and its end), not three times: the read between the first
    one and the wait is made only when a command was announced in between."""
    seen = svc.commands.notices
    commands = await runners.heartbeat_commands(svc, bot_id, token)
    if commands.commands or not wait:
        return commands
    with svc.commands.waiting(bot_id) as pending:
        if svc.commands.notices != seen:  # one queued since the read?
            commands = await runners.heartbeat_commands(svc, bot_id, token)
            if commands.commands:
                return commands
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await pending.wait()
    return await runners.heartbeat_commands(svc, bot_id, token)


@router.get("/{bot_id}/camera")
async def get_camera_picture(
    bot_id: str, svc: ServicesDep, token: RunnerToken, key: Annotated[str, Query(max_length=500)]
) -> Response:
    """The picture ``key`` (``Commands.camera``, ``Assignment.bot_image``) for the bot's runner."""
    data = await camera.runner_picture(svc, bot_id, token, key)
    kind = "jpeg" if key.endswith(".jpeg") else "png"
    return Response(data, media_type=f"image/{kind}")


@router.get("/{bot_id}/output_audio")
async def get_output_audio_clip(
    bot_id: str, svc: ServicesDep, token: RunnerToken, key: Annotated[str, Query(max_length=500)]
) -> Response:
    """The clip ``key`` (``Commands.output_audio``): 48 kHz mono s16le PCM, for the runner."""
    data = await output_audio.runner_clip(svc, bot_id, token, key)
    return Response(data, media_type="application/octet-stream")


@router.post("/{bot_id}/uploads", response_model=UploadTarget)
async def upload_target(
    bot_id: str, request: UploadRequest, svc: ServicesDep, token: RunnerToken
) -> UploadTarget:
    """Where to PUT one of the bot's objects: a presigned URL for that key, or ``objects/``."""
    return await uploads.upload_target(svc, bot_id, token, request)


@router.put("/{bot_id}/objects/{key:path}", status_code=204)
async def put_object(
    bot_id: str, key: str, request: Request, svc: ServicesDep, token: RunnerToken
) -> Response:
    """Local storage: the runner's object, through the control plane (body capped by
    ``BodyLimit`` at ``MAX_UPLOAD_BYTES``)."""
    await runners.authenticate(svc, bot_id, token)  # before the body is read
    body = await request.body()
    await uploads.store_object(svc, bot_id, token, key, body, request.headers.get("content-type"))
    return Response(status_code=204)

"""``POST /api/v1/bot/{id}/pause_recording/`` and ``.../resume_recording/`` (issue 16)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from meetbot.control.api.deps import ServicesDep, WorkspaceId
from meetbot.control.api.representation import BotOut, bot_view
from meetbot.control.api.schemas import ErrorOut
from meetbot.control.service import recording_pause

router = APIRouter(prefix="/api/v1/bot", tags=["bots"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "`bot_not_recording` (not in the call), `bot_not_started`, `bot_completed`",
    },
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "No such bot in this workspace"},
}


@router.post(
    "/{bot_id}/pause_recording/",
    response_model=BotOut,
    responses=_ERRORS,
    summary="Stop recording and transcribing for a while; the bot stays in the call",
)
async def pause_recording(bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    """The bot becomes `recording` / `paused`; its runner writes silence from then on and the
    `recording.paused` event says from which offset. Paused already: answered as it is."""
    bot = await recording_pause.pause_recording(svc, workspace_id, bot_id)
    return JSONResponse(bot_view(bot))


@router.post(
    "/{bot_id}/resume_recording/",
    response_model=BotOut,
    responses=_ERRORS,
    summary="Record again after pause_recording",
)
async def resume_recording(bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    """`recording` / `paused` → `recording`; `recording.resumed` follows from the runner. Not
    paused: answered as it is."""
    bot = await recording_pause.resume_recording(svc, workspace_id, bot_id)
    return JSONResponse(bot_view(bot))

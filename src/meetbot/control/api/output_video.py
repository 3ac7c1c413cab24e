"""``POST /api/v1/bot/{id}/output_video/``: a new picture on the bot's tile (issue 16 §4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from meetbot.control.api.deps import ServicesDep, WorkspaceId
from meetbot.control.api.representation import BotOut, bot_view
from meetbot.control.api.schemas import ErrorOut, OutputVideoIn
from meetbot.control.service import camera

router = APIRouter(prefix="/api/v1/bot", tags=["bots"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "`invalid_bot_image`, `invalid_bot_image_url`, `bot_not_started`,"
        " `bot_completed`",
    },
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "No such bot in this workspace"},
    409: {"model": ErrorOut, "description": "`bot_not_in_call`: the bot is not recording"},
}


@router.post(
    "/{bot_id}/output_video/",
    response_model=BotOut,
    responses=_ERRORS,
    summary="Show another picture as the bot's camera during the call",
)
async def output_video(
    bot_id: str, body: OutputVideoIn, svc: ServicesDep, workspace_id: WorkspaceId
) -> Response:
    """The image follows `bot_image`'s rules; the bot's runner shows it within a second or
    two (its long poll is woken). Only a bot in the call (`recording`) takes one."""
    image = await camera.read_image(svc, body.bot_image)
    bot = await camera.output_video(svc, workspace_id, bot_id, image)
    return JSONResponse(bot_view(bot))

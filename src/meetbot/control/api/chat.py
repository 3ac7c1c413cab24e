"""``POST /api/v1/bot/{id}/send_chat_message/`` and ``GET /api/v1/bot/{id}/chat/`` (issue 16)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from meetbot.control.api.deps import ServicesDep, WorkspaceId
from meetbot.control.api.schemas import ErrorOut
from meetbot.control.service import chat

router = APIRouter(prefix="/api/v1/bot", tags=["chat"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "`unsupported_for_platform` (the platform's adapter has no chat, or sends"
        " to everyone only and `to` names a participant) or an invalid body",
    },
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "No such bot in this workspace"},
}


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: StrictStr = Field(min_length=1, max_length=chat.MAX_MESSAGE)
    to: StrictStr = Field("everyone", min_length=1, max_length=200)
    """``everyone``, or a participant ``id`` (as in ``participant.joined``)."""


class ChatPage(BaseModel):
    results: list[dict[str, Any]]


@router.post("/{bot_id}/send_chat_message/", responses=_ERRORS, status_code=202)
async def send_chat_message(
    bot_id: str, body: ChatMessageIn, svc: ServicesDep, workspace_id: WorkspaceId
) -> dict[str, str]:
    """Send a message in the meeting's chat, to everyone or to one participant: 202 with its
    `id`; the runner sends it (once admitted) and the `chat.message` event with `from_bot`
    and this `id` says it was sent."""
    made = await chat.send_chat_message(svc, workspace_id, bot_id, body.message, body.to)
    return {"id": made, "status": "queued"}


@router.get("/{bot_id}/chat/", response_model=ChatPage, responses=_ERRORS)
async def list_chat(bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> ChatPage:
    """The meeting's chat as the bot read it, oldest first (each also a `chat.message` event)."""
    return ChatPage(results=await chat.list_chat(svc, workspace_id, bot_id))

"""``POST`` and ``DELETE /api/v1/bot/{id}/output_audio/``: the bot speaks (issue 16 §2)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from meetbot import errors
from meetbot.control.api.deps import ServicesDep, WorkspaceId
from meetbot.control.api.schemas import ErrorOut
from meetbot.control.output_audio import DEFAULT_VOICE, MAX_FILE_BYTES, MAX_TEXT, InvalidAudio
from meetbot.control.service import output_audio as service

router = APIRouter(prefix="/api/v1/bot", tags=["bots"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "`unsupported_for_platform` (the adapter cannot unmute), `invalid_audio`,"
        " `invalid_voice`, `invalid_request`, `bot_not_started`, `bot_completed`",
    },
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "No such bot in this workspace"},
    409: {"model": ErrorOut, "description": "`bot_not_in_call`: the bot is not recording"},
    413: {"model": ErrorOut, "description": "`request_too_large`: a file over 10 MB"},
}


class OutputAudioIn(BaseModel):
    """The JSON body: a text to say (``voice``: an espeak-ng language code) or an audio file
    as base64 (``b64_data``)."""

    model_config = ConfigDict(extra="forbid")
    text: StrictStr | None = Field(None, min_length=1, max_length=MAX_TEXT)
    voice: StrictStr = Field(DEFAULT_VOICE, min_length=1, max_length=100)
    b64_data: StrictStr | None = Field(None, max_length=(MAX_FILE_BYTES + 2) // 3 * 4 + 4096)
    interrupt: StrictBool = False


class QueuedOut(BaseModel):
    id: str
    status: str = "queued"
    duration_s: float


@router.post(
    "/{bot_id}/output_audio/",
    response_model=QueuedOut,
    responses=_ERRORS,
    status_code=202,
    summary="Say an audio file or a text in the meeting",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": OutputAudioIn.model_json_schema()},
                **{
                    f"audio/{kind}": {"schema": {"type": "string", "format": "binary"}}
                    for kind in ("wav", "mpeg", "ogg", "webm")
                },
            },
        }
    },
)
async def output_audio(
    bot_id: str,
    request: Request,
    svc: ServicesDep,
    workspace_id: WorkspaceId,
    interrupt: Annotated[bool, Query()] = False,
) -> QueuedOut:
    """The body is an audio file (WAV, MP3, Ogg, WebM; `?interrupt=true` to cut in) or JSON
    `{"text", "voice", "interrupt"}` (or `{"b64_data", "interrupt"}`). 202 with the clip's
    `id`: the bot unmutes, says it after what is queued (or at once with `interrupt`), mutes
    again; `output_audio.started` / `.finished` say when."""
    await service.check_bot(svc, workspace_id, bot_id)  # before decoding anything
    body = await request.body()
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
        spec = _json(body)
        interrupt = spec.interrupt
        if spec.text is not None:
            pcm = await service.decode_text(spec.text, spec.voice)
        else:
            pcm = await service.decode_file(_b64(spec.b64_data or ""))
    else:
        pcm = await service.decode_file(body)
    queued = await service.output_audio(svc, workspace_id, bot_id, pcm, interrupt=interrupt)
    return QueuedOut(id=queued.id, duration_s=round(queued.duration_s, 3))


@router.delete(
    "/{bot_id}/output_audio/", status_code=204, responses=_ERRORS, summary="Stop speaking"
)
async def stop_output_audio(bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId) -> Response:
    """Stop what the bot says and drop what is queued; the bot mutes."""
    await service.stop_output_audio(svc, workspace_id, bot_id)
    return Response(status_code=204)


def _json(body: bytes) -> OutputAudioIn:
    try:
        spec = OutputAudioIn.model_validate_json(body)
    except ValidationError as exc:
        raise errors.InvalidRequest(f"Invalid body: {exc.errors()[0]['msg']}") from None
    if (spec.text is None) == (spec.b64_data is None):
        raise errors.InvalidRequest("Give either `text` or `b64_data`.")
    return spec


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAudio("b64_data is not base64.") from None

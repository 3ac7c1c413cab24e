"""A bot's media: recording link, transcript, participants, data deletion; signed ``/media``.

The server sets ``app.state.storage`` (a :class:`meetbot.ports.Storage`) and
``app.state.media_secret`` (the bytes that sign local ``/media`` links).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from meetbot import errors
from meetbot.contract.lifecycle import ENDED
from meetbot.contract.models import Bot
from meetbot.contract.reports import DebugArtifact
from meetbot.control.api.deps import ServicesDep, WorkspaceId
from meetbot.control.api.schemas import RecordingOut
from meetbot.control.media.artifacts import delete_bot_data, load_recording_meta, load_transcript
from meetbot.control.media.participants import OBSERVATION_TYPES, participants
from meetbot.control.service import Services
from meetbot.ports import Storage
from meetbot.storage import LocalStorage, guess_content_type, resolve_media_file
from meetbot.timefmt import iso
from meetbot.transcription.formats import CONTENT_TYPES, render

router = APIRouter(tags=["media"])


@dataclass(frozen=True, slots=True)
class Media:
    storage: Storage
    secret: bytes


async def get_media(request: Request) -> Media:
    storage: Storage = request.app.state.storage
    secret: bytes = request.app.state.media_secret
    return Media(storage, secret)


MediaState = Annotated[Media, Depends(get_media)]


async def _bot(svc: Services, workspace_id: str, bot_id: str) -> Bot:
    async with svc.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id)
    if bot is None:
        raise errors.NotFound("No bot with this id.")
    return bot


@router.get(
    "/api/v1/bot/{bot_id}/recording/",
    response_model=RecordingOut,
    summary="The bot's recording, and its video if asked for (signed links)",
)
async def get_recording(
    bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId, media: MediaState
) -> dict[str, Any]:
    await _bot(svc, workspace_id, bot_id)
    info = await load_recording_meta(media.storage, bot_id)
    if info is None:
        raise errors.NotReady("The recording is not ready (or the bot recorded no audio).")
    ttl = svc.settings.signed_url_ttl
    video = None
    if info.video is not None:
        video = {
            "format": info.video.format,
            "content_type": info.video.content_type,
            "duration_s": round(info.video.duration_s, 3),
            "size_bytes": info.video.size_bytes,
            "width": info.video.width,
            "height": info.video.height,
            "url": media.storage.signed_url(info.video.key, ttl),
            "url_expires_in": ttl,
        }
    return {
        "format": info.format,
        "content_type": info.content_type,
        "duration_s": round(info.duration_s, 3),
        "size_bytes": info.size_bytes,
        "url": media.storage.signed_url(info.key, ttl),
        "url_expires_in": ttl,
        "video": video,
    }


@router.get("/api/v1/bot/{bot_id}/transcript/", summary="The transcript (growing in the call)")
async def get_transcript(
    bot_id: str,
    svc: ServicesDep,
    workspace_id: WorkspaceId,
    media: MediaState,
    fmt: Annotated[Literal["json", "txt", "srt", "vtt"], Query(alias="format")] = "json",
) -> Response:
    bot = await _bot(svc, workspace_id, bot_id)
    doc = await load_transcript(media.storage, bot_id)
    if doc is None and bot.status in ENDED:
        raise errors.NotReady("This bot has no transcript.")
    segments = doc.segments if doc else ()
    if fmt == "json":
        body = {
            "segments": render(segments, "json"),
            "final": bool(doc and doc.final),
            "live_lag_seconds": round(doc.live_lag, 1) if doc and not doc.final else None,
        }
        return Response(_json(body), media_type=CONTENT_TYPES["json"])
    text = render(segments, fmt)
    assert isinstance(text, str)
    return Response(text, media_type=CONTENT_TYPES[fmt])


@router.get("/api/v1/bot/{bot_id}/participants/", summary="Who was in the call")
async def get_participants(
    bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId
) -> dict[str, Any]:
    await _bot(svc, workspace_id, bot_id)
    async with svc.store.transaction(write=False) as tx:
        observed = await tx.observations.list(bot_id, OBSERVATION_TYPES)
    return {"results": [p.view() for p in participants(observed)]}


@router.get(
    "/api/v1/bot/{bot_id}/debug_artifacts/",
    summary="Screenshots and page HTML saved when the bot met an unexpected page",
)
async def get_debug_artifacts(
    bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId, media: MediaState
) -> dict[str, Any]:
    await _bot(svc, workspace_id, bot_id)
    async with svc.store.transaction(write=False) as tx:
        observed = await tx.observations.list(bot_id, ["debug_artifact"])
    ttl = svc.settings.signed_url_ttl
    return {
        "results": [
            {
                "kind": a.kind,
                "reason": a.reason,
                "at": iso(a.at),
                "url": media.storage.signed_url(a.key, ttl),
                "url_expires_in": ttl,
            }
            for a in observed
            if isinstance(a, DebugArtifact)
        ]
    }


@router.post("/api/v1/bot/{bot_id}/delete_data/", summary="Delete the recording and transcript")
async def delete_data(
    bot_id: str, svc: ServicesDep, workspace_id: WorkspaceId, media: MediaState
) -> dict[str, Any]:
    await delete_bot_data(svc, media.storage, workspace_id, bot_id)
    return {"id": bot_id, "deleted": True}


DOWNLOAD_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
}
"""On every stored file served from the API's origin: a download (``Content-Disposition:
attachment``, set from ``filename``), never a page that runs there (a debug artifact is the HTML
of whatever page the bot met)."""


@router.get("/media/{key:path}", include_in_schema=False)
async def get_media_file(
    key: str,
    media: MediaState,
    expires: Annotated[str, Query()] = "",
    signature: Annotated[str, Query()] = "",
) -> FileResponse:
    if not isinstance(media.storage, LocalStorage):
        raise errors.NotFound("Media is served by the storage backend.")
    path = resolve_media_file(
        media.storage.root, media.secret, key, expires, signature, time.time()
    )
    return FileResponse(
        path,
        media_type=guess_content_type(key),
        headers=DOWNLOAD_HEADERS,
        filename=key.rsplit("/", 1)[-1],
    )


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()

"""``/api/v1/bot/{id}/stream`` (a WebSocket) and ``/api/v1/bot/{id}/stream_token/``.

The WebSocket authenticates before it is accepted: the API key in ``Authorization`` (as every
route), or ``?token=`` from ``stream_token``. A refusal is the usual ``{code, detail}`` body
with its HTTP status (the WebSocket denial response), so a client sees the same errors as on
any route. Once accepted it sends one JSON text frame per event of the bot (see
:mod:`meetbot.control.service.stream`) and closes (1000) after the bot's terminal status.
Binary frames the client sends are the bot's voice (:mod:`.voice_in`). With ``?audio=mixed``
the binary frames sent are the live copy of the call's audio where the bot's runner sends it
to this replica (:mod:`.live_audio`), else its stored chunks
(:class:`~meetbot.control.service.stream.AudioFeed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect, WebSocketState

from meetbot import errors
from meetbot.control.api import voice_in
from meetbot.control.api.deps import Cursors, ServicesDep, WorkspaceId, workspace_of_key
from meetbot.control.api.live_audio import hub_of
from meetbot.control.api.text_guard import refuse_in_path_and_query
from meetbot.control.cursors import CursorCodec
from meetbot.control.service import Services
from meetbot.control.service.stream import (
    AudioFeed,
    BotStream,
    Pulse,
    check_audio,
    issue_token,
    workspace_of_token,
)
from meetbot.ports import Storage
from meetbot.timefmt import iso

router = APIRouter(prefix="/api/v1/bot", tags=["stream"])
log = logging.getLogger("meetbot.api.stream")

DENIAL_EXTENSION = "websocket.http.response"


class StreamTokenOut(BaseModel):
    token: str
    expires_at: str


@router.post("/{bot_id}/stream_token/", response_model=StreamTokenOut)
async def stream_token(
    bot_id: str, svc: ServicesDep, cursors: Cursors, workspace_id: WorkspaceId
) -> StreamTokenOut:
    """A short-lived token for ``GET /api/v1/bot/{id}/stream?token=...`` (browsers cannot set
    the ``Authorization`` header of a WebSocket). It opens this bot's stream only."""
    made = await issue_token(svc, cursors, workspace_id, bot_id)
    return StreamTokenOut(token=made.token, expires_at=iso(made.expires_at))


@router.websocket("/{bot_id}/stream")
async def stream(
    websocket: WebSocket,
    bot_id: str,
    token: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
    audio: Annotated[str | None, Query(max_length=20)] = None,
) -> None:
    """The bot's events as JSON text frames, in order, each with its ``cursor``."""
    svc: Services = websocket.app.state.services
    cursors: CursorCodec = websocket.app.state.cursors
    pulse: Pulse = websocket.app.state.stream_pulse
    try:
        refuse_in_path_and_query(websocket)
        storage: Storage | None = getattr(websocket.app.state, "storage", None)
        check_audio(audio, storage)
        if token is not None:
            workspace_id = await workspace_of_token(svc, cursors, bot_id, token)
        else:
            workspace_id = await workspace_of_key(websocket, svc, post=False)
        opened = await BotStream.open(svc, cursors, pulse, workspace_id, bot_id, after)
        inbound = await voice_in.Inbound.open(websocket, svc, workspace_id, bot_id)
        feed = None
        if audio is not None and storage is not None:
            feed = await AudioFeed.open(svc, storage, pulse, bot_id, audio)
    except errors.MeetbotError as exc:
        await _deny(websocket, exc)
        return
    await websocket.accept()
    lock = asyncio.Lock()  # one frame at a time from the two senders
    sender = asyncio.create_task(_send(websocket, opened, lock), name=f"stream:{bot_id}")
    audio_sender = (
        asyncio.create_task(_send_audio(websocket, feed, lock), name=f"stream-audio:{bot_id}")
        if feed is not None
        else None
    )
    try:
        while not sender.done():
            receiving = asyncio.ensure_future(websocket.receive())
            await asyncio.wait({receiving, sender}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                break
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                break
            await voice_in.received(websocket, inbound, message, lock)  # streamed-in voice
    finally:
        for task in (audio_sender, sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await task


async def _send(websocket: WebSocket, opened: BotStream, lock: asyncio.Lock) -> None:
    try:
        while True:
            for frame in await opened.next_frames():
                async with lock:
                    await websocket.send_json(frame.payload())
            if opened.ended:
                async with lock:
                    await websocket.close(1000)
                return
    except (WebSocketDisconnect, RuntimeError):  # the client went away mid-send
        return
    except errors.MeetbotError as exc:  # e.g. the database is unavailable
        log.warning("bot %s: stream ends: %s", opened.bot_id, exc.detail)
        if websocket.application_state is WebSocketState.CONNECTED:
            await websocket.close(1011, exc.code)


async def _send_audio(websocket: WebSocket, feed: AudioFeed, lock: asyncio.Lock) -> None:
    with contextlib.ExitStack() as stack:
        if feed.mode == "mixed":  # the live copy, where the runner sends it to this replica
            feed.live = stack.enter_context(hub_of(websocket).subscribe(feed.bot_id))
        try:
            while True:
                for pcm in await feed.next_pcm():
                    async with lock:
                        await websocket.send_bytes(pcm)
        except (WebSocketDisconnect, RuntimeError):
            return
        except (errors.MeetbotError, OSError, KeyError) as exc:  # storage or database trouble
            log.warning("bot %s: audio on the stream stops: %r", feed.bot_id, exc)


async def _deny(websocket: WebSocket, exc: errors.MeetbotError) -> None:
    """Refuse the handshake with the error's status and ``{code, detail}`` body."""
    response = JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
    if DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:  # a server without denial responses: close before accepting (HTTP 403)
        await websocket.close(1008, exc.code)

"""Streamed-in voice (issue 16 §2, :mod:`meetbot.contract.voice_in`) at the control plane.

- ``GET /internal/bots/{id}/voice``: the runner's voice socket (a WebSocket, its per-bot
  token in ``Authorization: Bearer``). It gets, as binary frames, the PCM that clients send
  on the bot's stream, relayed through this process's :class:`VoiceRelay`.
- :class:`Inbound`: what the stream route (:mod:`.stream`) does with a binary frame a client
  sends: checked and relayed at once. A frame that cannot be played is answered with one
  text frame ``{"type": "stream.error", "code", "detail"}`` (once per kind of refusal in a
  row, not once per frame): ``invalid_audio`` (not whole 16-bit samples, empty, over 1 s),
  ``unsupported_for_platform`` (meetbot's adapter cannot unmute the bot there),
  ``bot_not_in_call`` (no runner is in the call to play it, on this replica). The stream
  goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from meetbot import errors
from meetbot.contract.platforms import info
from meetbot.contract.voice_in import check_frame
from meetbot.control.api.auth_failures import (
    RUNNER,
    AuthFailures,
    runner_failure_key,
    runner_keys,
)
from meetbot.control.api.deps import client_address
from meetbot.control.service import Services, runners
from meetbot.control.service.stream import bot_of
from meetbot.control.voice_relay import VoiceRelay

router = APIRouter(prefix="/internal/bots", tags=["internal"], include_in_schema=False)
log = logging.getLogger("meetbot.api.voice_in")

STREAM_ERROR = "stream.error"


def relay_of(websocket: WebSocket) -> VoiceRelay:
    relay: VoiceRelay = websocket.app.state.voice_relay  # app.py: one per process
    return relay


async def accept_runner(websocket: WebSocket, bot_id: str) -> bool:
    """Accept a runner's socket of ``bot_id`` (its per-bot token in ``Authorization:
    Bearer``), or refuse it as a route refuses (the status and ``{code, detail}``)."""
    svc: Services = websocket.app.state.services
    failures: AuthFailures = websocket.app.state.auth_failures
    try:
        for key in runner_keys(client_address(websocket), bot_id):
            failures.check(RUNNER, key)
        scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthorized("Missing runner token.")
        await runners.authenticate(svc, bot_id, token.strip())
    except errors.MeetbotError as exc:  # the HTTP status and {code, detail}, as on any route
        if isinstance(exc, errors.Unauthorized):  # counted, as a route's 401 is
            failures.failed(RUNNER, runner_failure_key(client_address(websocket), bot_id, exc))
        response = JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(response)
        else:
            await websocket.close(1008, exc.code)
        return False
    await websocket.accept()
    return True


@router.websocket("/{bot_id}/voice")
async def voice_socket(websocket: WebSocket, bot_id: str) -> None:
    """The runner's voice socket: the streamed-in PCM of its bot, frame by frame."""
    if not await accept_runner(websocket, bot_id):
        return
    with relay_of(websocket).runner(bot_id) as queue:
        sender = asyncio.create_task(_forward(websocket, queue), name=f"voice:{bot_id}")
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # the runner sends nothing; its pings are answered below us
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def _forward(websocket: WebSocket, queue: asyncio.Queue[bytes]) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.send_bytes(await queue.get())


@dataclass(eq=False)
class Inbound:
    """Binary frames a client sends on one bot's stream, on their way to its runner."""

    relay: VoiceRelay
    bot_id: str
    platform_title: str
    can_speak: bool
    refused: str | None = None
    """The code of the last refusal answered (the next one of the same code is silent)."""
    frames: int = 0

    @classmethod
    async def open(
        cls, websocket: WebSocket, svc: Services, workspace_id: str, bot_id: str
    ) -> Inbound:
        bot = await bot_of(svc, workspace_id, bot_id)
        row = info(bot.meeting.platform)
        return cls(relay_of(websocket), bot_id, row.title, row.voice)

    def take(self, frame: bytes) -> dict[str, Any] | None:
        """Relay ``frame``; the error frame to answer, if any."""
        why = check_frame(frame)
        if why is not None:
            return self._refuse(
                "invalid_audio", f"Streamed-in audio is 16 kHz mono s16le PCM: {why}."
            )
        if not self.can_speak:
            return self._refuse(
                "unsupported_for_platform",
                f"{self.platform_title}: meetbot's adapter cannot unmute the bot on this platform.",
            )
        if not self.relay.send(self.bot_id, frame):
            return self._refuse(
                "bot_not_in_call",
                "No runner of this bot is in the call (on this server) to play the audio.",
            )
        self.frames += 1
        self.refused = None
        return None

    def _refuse(self, code: str, detail: str) -> dict[str, Any] | None:
        if code == self.refused:
            return None
        self.refused = code
        return {"type": STREAM_ERROR, "code": code, "detail": detail}


async def received(
    websocket: WebSocket, inbound: Inbound, message: Mapping[str, Any], lock: asyncio.Lock
) -> None:
    """A message the client sent on its stream: binary frames are voice; text is ignored."""
    frame = message.get("bytes")
    if frame is None:
        return
    answer = inbound.take(frame)
    if answer is not None:
        async with lock:
            await websocket.send_json(answer)

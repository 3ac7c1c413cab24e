"""``GET /internal/bots/{id}/live``: the runner's live socket (:mod:`meetbot.contract.live_audio`).

A WebSocket the runner opens with its per-bot token (as its voice socket,
:func:`~.voice_in.accept_runner`) and sends the live copy of its mixed audio on, one binary
:func:`~meetbot.contract.live_audio.live_frame` per piece; each is published at once to this
process's :class:`~meetbot.control.live_audio.LiveAudioHub`. A frame that is not one is
dropped (counted in the log, once).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from meetbot.contract.live_audio import parse_live_frame
from meetbot.control.api.voice_in import accept_runner
from meetbot.control.live_audio import LiveAudioHub

router = APIRouter(prefix="/internal/bots", tags=["internal"], include_in_schema=False)
log = logging.getLogger("meetbot.api.live_audio")


def hub_of(websocket: WebSocket) -> LiveAudioHub:
    hub: LiveAudioHub = websocket.app.state.live_audio  # app.py: one per process
    return hub


@router.websocket("/{bot_id}/live")
async def live_socket(websocket: WebSocket, bot_id: str) -> None:
    """The runner's live socket: the live copy of its bot's mixed audio, piece by piece."""
    if not await accept_runner(websocket, bot_id):
        return
    hub = hub_of(websocket)
    invalid = 0
    with hub.runner(bot_id):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            frame = message.get("bytes")
            piece = parse_live_frame(frame) if frame is not None else None
            if piece is None:
                invalid += 1
                if invalid == 1:
                    log.warning("bot %s: a live audio frame that is not one (dropped)", bot_id)
                continue
            hub.publish(bot_id, *piece)

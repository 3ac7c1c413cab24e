"""Each request's log context: its request id (``X-Request-Id``, taken from the request when
it is sane, else made; echoed on the answer) and the bot it is about (a bot id in the path).
Every log line written while the request is handled carries them (:mod:`meetbot.logs`); the
workspace is added by the authentication (``deps.get_workspace``)."""

from __future__ import annotations

import re
import uuid
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetbot import logs

HEADER: Final = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_BOT_IN_PATH = re.compile(
    r"/bots?/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)


def request_id_from(scope: Scope) -> str:
    """The client's ``X-Request-Id`` if it is sane (≤128 characters of ``[A-Za-z0-9._:-]``),
    else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def bot_in_path(path: str) -> str | None:
    match = _BOT_IN_PATH.search(path)
    return match.group(1).lower() if match else None


class RequestContext:
    """Pure ASGI: binds the request id and the bot id for the request's log lines and echoes
    ``X-Request-Id`` on the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        header = (HEADER.encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        with logs.bound(request_id=request_id, bot_id=bot_in_path(scope["path"])):
            await self.app(scope, receive, send_with_id)

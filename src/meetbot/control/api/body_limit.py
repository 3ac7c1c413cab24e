"""Request bodies are capped: a larger one is answered 413 ``request_too_large`` unread.

A declared ``Content-Length`` over the cap is refused before the application runs (no key
check, no byte of the body read). A body without one (``Transfer-Encoding: chunked``) is
counted as the application reads it: the chunk that crosses the cap is never handed on, and
whatever the application answered is replaced by the 413. Either way the server holds at most
the cap (plus one chunk) of any request in memory.
"""

from __future__ import annotations

import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetbot.contract.uploads import MAX_UPLOAD_BYTES

CODE = "request_too_large"


class _TooLarge(Exception):
    """Raised into the application's ``receive`` when a streamed body crosses the cap."""


def _response(limit: int) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "code": CODE,
            "detail": f"The request body is larger than {limit} bytes (MEETBOT_MAX_BODY_BYTES).",
        }
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


IMAGE_BODY_BYTES = 3 * 1024 * 1024
"""The body limit of ``output_video``, which carries a bot's picture (2 MB as base64)."""

AUDIO_BODY_BYTES = 10 * 1024 * 1024
"""The body limit of ``output_audio``, which carries an audio file."""


class BodyLimit:
    """ASGI middleware: at most ``limit`` bytes of request body reach the application."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        """For a runner's media upload (``PUT /internal/bots/{id}/objects/...``)."""

    def _limit_for(self, scope: Scope) -> int:
        """A runner's media upload (``PUT /internal/bots/{id}/objects/...``): ``upload_limit``;
        ``output_video`` carries a picture: up to :data:`IMAGE_BODY_BYTES` (a create keeps
        ``MEETBOT_MAX_BODY_BYTES``: a larger ``bot_image`` comes by URL); else ``limit``."""
        path = str(scope.get("path", ""))
        method = scope.get("method")
        parts = path.split("/", 5)  # "", internal, bots, id, objects, key
        is_upload = len(parts) == 6 and parts[1:3] == ["internal", "bots"] and parts[4] == "objects"
        if is_upload and method == "PUT":
            return self.upload_limit
        if method == "POST" and path.rstrip("/").endswith("/output_video"):
            return max(self.limit, IMAGE_BODY_BYTES)
        if method == "POST" and path.rstrip("/").endswith("/output_audio"):
            return max(self.limit, AUDIO_BODY_BYTES)
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            for message in _response(limit):
                await send(message)
            return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the application's answer to a body it never got whole
            started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counted_receive, guarded_send)
        if exceeded and not started:
            for message in _response(limit):
                await send(message)

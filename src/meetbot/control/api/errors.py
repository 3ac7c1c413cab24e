"""Every error is ``{"code", "detail"}`` JSON: validation → 400, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from meetbot.control.api.auth_failures import API, RUNNER, runner_failure_key
from meetbot.errors import MeetbotError, Unauthorized

log = logging.getLogger("meetbot.control.api")

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def validation_detail(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return "Malformed JSON body.", None
    field = _field(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "missing":
        message = "This field is required"
    if not field:
        return f"Invalid request body: {message}.", None
    return f"{field}: {message}.", field


def install(app: FastAPI) -> None:
    @app.exception_handler(MeetbotError)
    async def _meetbot(request: Request, exc: MeetbotError) -> JSONResponse:
        if isinstance(exc, Unauthorized):
            address = request.client.host if request.client else "unknown"
            if request.url.path.startswith("/internal/"):
                bot_id = request.path_params.get("bot_id")
                key = runner_failure_key(address, bot_id, exc)
                request.app.state.auth_failures.failed(RUNNER, key)
            else:
                request.app.state.auth_failures.failed(API, address)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail, field = validation_detail(exc)
        body: dict[str, Any] = {"code": "invalid_request", "detail": detail}
        if field:
            body["field"] = field
        return JSONResponse(body, status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such route."
        return JSONResponse(
            {"code": code, "detail": detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {"code": "internal_error", "detail": "An unexpected error occurred; it was logged."},
            status_code=500,
        )

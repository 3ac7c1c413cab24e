"""The FastAPI application: routers, error mapping, and the background workers' lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from meetbot import __version__
from meetbot.control.api import (
    bots,
    capacity,
    chat,
    internal,
    output_audio,
    recording_pause,
    stream,
    voice_in,
)
from meetbot.control.api import errors as api_errors
from meetbot.control.api import health as health_api
from meetbot.control.api import live_audio as live_audio_api
from meetbot.control.api import metrics as metrics_api
from meetbot.control.api.auth_failures import AuthFailures
from meetbot.control.api.body_limit import BodyLimit
from meetbot.control.api.deps import RateLimiter
from meetbot.control.api.key_cache import KeyCache
from meetbot.control.api.load_shedder import LoadShedder
from meetbot.control.api.request_context import RequestContext
from meetbot.control.api.slashes import OptionalTrailingSlash
from meetbot.control.api.text_guard import refuse_unstorable_text
from meetbot.control.cursors import CursorCodec
from meetbot.control.live_audio import LiveAudioHub
from meetbot.control.metrics import Metrics
from meetbot.control.service import Services
from meetbot.control.service.reactions import Subscribers
from meetbot.control.service.stream import Pulse
from meetbot.control.voice_relay import VoiceRelay

Daemon = Callable[[], Awaitable[None]]

_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_ERROR_SCHEMA = {
    "title": "ErrorOut",
    "type": "object",
    "required": ["code", "detail"],
    "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
}
# Documented on every operation of the public API (validation errors are 400, never 422).
_COMMON_ERRORS = {
    "400": "Invalid request: `code` says which rule, `field` which field",
    "401": "Missing or invalid API key",
    "413": "The request body is over `MEETBOT_MAX_BODY_BYTES` (`request_too_large`)",
    "404": "No such resource in this workspace",
    "429": "Rate limited: obey `Retry-After`",
    "503": "The database is unavailable, busy, full or read-only, or the server is overloaded"
    " (`service_unavailable`): retry after `Retry-After`",
}
_MEDIA_ERRORS = {"400": "Invalid key", "403": "Expired or invalid signature", "404": "Not found"}

DESCRIPTION = """\
Send a headless-browser bot into a meeting; it waits in the waiting room, records, transcribes,
leaves by stop timers or on command, and reports every step through signed webhooks.

Authenticate with `Authorization: Token <api key>` (`Bearer` works too).

Status codes: **200/201** success; **400** invalid request (`code` says which rule);
**401** missing or invalid key; **404** no such bot (or not in your workspace);
**405** the bot is dispatched (use `leave_call`); **409** duplicate bot, reused
Idempotency-Key, or `schedule_full` (a scheduled bot's window cannot be reserved: scheduled bots
never get 507); **413** body over `MEETBOT_MAX_BODY_BYTES` (`request_too_large`); **429** rate
limited, or too many failed authentications from your address (obey `Retry-After`);
**502/503/504** retry the same request (with the same `Idempotency-Key`, the retry is safe;
meetbot answers 503 `service_unavailable` itself while its database is unreachable, locked, full
or read-only, and "Our servers have dropped the request due to high load -- please retry." when
requests come faster than it can answer them in time); **507** no warm ad-hoc bot idle — retry
in 30 seconds (`Retry-After: 30`).
Pagination cursors are opaque: pass `next` back as is (else 400 `invalid_cursor`).
"""


def create_app(
    services: Services,
    *,
    routers: Sequence[object] = (),
    startup: Sequence[Daemon] = (),
    shutdown: Sequence[Daemon] = (),
    secret: bytes | None = None,
    metrics: Metrics | None = None,
    live_audio: LiveAudioHub | None = None,
) -> FastAPI:
    """Build the app. ``startup``/``shutdown`` run in the lifespan (workers, launcher).

    ``secret`` (the server's) keys the pagination cursors; without it they die with the app.
    ``metrics``: what ``/metrics`` shows (a fresh registry when none is given).
    ``live_audio``: where runners' live audio goes (a fresh hub when none is given)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for start in startup:
            await start()
        try:
            yield
        finally:
            for stop in shutdown:
                await stop()

    app = FastAPI(
        title="meetbot",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        dependencies=[Depends(refuse_unstorable_text)],
    )
    app.state.services = services
    app.state.metrics = metrics = metrics or Metrics()
    app.state.cursors = CursorCodec(secret) if secret else CursorCodec.ephemeral()
    app.state.key_cache = KeyCache()
    app.state.auth_failures = AuthFailures(services.settings.auth_failures_per_minute)
    app.state.create_limiter = RateLimiter(services.settings.rate_limit_create_per_minute)
    app.state.read_limiter = RateLimiter(services.settings.rate_limit_read_per_minute)
    api_errors.install(app)
    app.include_router(bots.router)
    app.include_router(capacity.router)
    app.include_router(internal.router)
    app.include_router(health_api.router)
    app.include_router(metrics_api.router)
    app.include_router(stream.router)
    app.include_router(recording_pause.router)
    app.include_router(chat.router)
    app.include_router(output_audio.router)
    app.include_router(voice_in.router)
    app.state.voice_relay = VoiceRelay()  # streamed-in voice: client stream -> runner
    app.include_router(live_audio_api.router)
    app.state.live_audio = live_audio or LiveAudioHub()  # runner -> streams, live transcripts
    app.state.stream_pulse = Pulse()
    if isinstance(services.reactions, Subscribers):  # dispatch and join lateness
        lead = timedelta(seconds=services.settings.dispatch_lead)
        services.reactions.on_bot_dispatched.append(lambda bot: metrics.bot_dispatched(bot, lead))
        services.reactions.on_bot_joining.append(metrics.bot_joining)
    if isinstance(services.reactions, Subscribers):  # streams wake when events commit
        services.reactions.on_events_committed.append(app.state.stream_pulse.wake)
    for router in routers:
        app.include_router(router)  # type: ignore[arg-type]
    app.add_middleware(OptionalTrailingSlash, router=app.router)
    app.add_middleware(BodyLimit, limit=services.settings.max_body_bytes)
    app.add_middleware(  # outermost: an overloaded server refuses before anything else runs
        LoadShedder,
        max_in_flight=services.settings.max_requests_in_flight,
        max_queue_wait=services.settings.max_queue_wait_ms / 1000,
    )
    app.add_middleware(metrics_api.RequestMetrics, metrics=metrics)  # sheds counted too
    app.add_middleware(RequestContext)  # X-Request-Id and the log context, on every answer
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's description, with this API's error contract on every operation."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path, operations in schema.get("paths", {}).items():
        extra = _COMMON_ERRORS if path.startswith("/api/") else _MEDIA_ERRORS
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for code, description in extra.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorOut", _ERROR_SCHEMA)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema

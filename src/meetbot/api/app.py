"""The FastAPI application: routers, error mapping, and the background workers' lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meetbot import __version__
from meetbot.api import bots, internal
from meetbot.api import errors as api_errors
from meetbot.api.deps import KeyCache, RateLimiter
from meetbot.api.slashes import OptionalTrailingSlash
from meetbot.service import Services

Daemon = Callable[[], Awaitable[None]]

DESCRIPTION = """\
Send a headless-browser bot into a meeting; it waits in the waiting room, records, transcribes,
leaves by stop timers or on command, and reports every step through signed webhooks.

Authenticate with `Authorization: Token <api key>` (`Bearer` works too).

Status codes: **200/201** success; **400** invalid request (`code` says which rule);
**401** missing or invalid key; **404** no such bot (or not in your workspace);
**405** the bot is dispatched (use `leave_call`); **409** duplicate bot or reused
Idempotency-Key; **429** rate limited (obey `Retry-After`); **502/503/504** retry the same
request (with the same `Idempotency-Key`, the retry is safe); **507** no warm ad-hoc bot idle —
retry in 30 seconds (`Retry-After: 30`).
"""


def create_app(
    services: Services,
    *,
    routers: Sequence[object] = (),
    startup: Sequence[Daemon] = (),
    shutdown: Sequence[Daemon] = (),
) -> FastAPI:
    """Build the app. ``startup``/``shutdown`` run in the lifespan (workers, launcher)."""

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
    )
    app.state.services = services
    app.state.key_cache = KeyCache()
    app.state.create_limiter = RateLimiter(services.settings.rate_limit_create_per_minute)
    app.state.read_limiter = RateLimiter(services.settings.rate_limit_read_per_minute)
    api_errors.install(app)
    app.include_router(bots.router)
    app.include_router(internal.router)
    for router in routers:
        app.include_router(router)  # type: ignore[arg-type]
    app.add_middleware(OptionalTrailingSlash, router=app.router)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app

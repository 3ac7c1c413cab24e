"""FastAPI dependency aliases: the services, the caller's workspace, rate limits."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from meetbot import errors, logs
from meetbot.control.api.auth_failures import API, RUNNER, AuthFailures, runner_keys
from meetbot.control.api.key_cache import KeyCache
from meetbot.control.cursors import CursorCodec
from meetbot.control.service import Services
from meetbot.control.service.keys import hash_key

# Dependencies are ``async def`` though they do not await: FastAPI runs a plain ``def``
# dependency in a worker thread, a thread round trip per request for a dict lookup.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_cursors(request: Request) -> CursorCodec:
    cursors: CursorCodec = request.app.state.cursors
    return cursors


Cursors = Annotated[CursorCodec, Depends(get_cursors)]


class RateLimiter:
    """Per-workspace token buckets (in process). ``per_minute`` 0 means off."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, workspace_id: str) -> None:
        if not self.per_minute:
            return
        now = time.monotonic()
        rate = self.per_minute / 60.0
        tokens, last = self._buckets.get(workspace_id, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * rate)
        if tokens < 1:
            retry = max(1, int((1 - tokens) / rate) + 1)
            raise errors.RateLimited(
                f"Rate limit of {self.per_minute} requests per minute exceeded.",
                headers={"Retry-After": str(retry)},
            )
        self._buckets[workspace_id] = (tokens - 1, now)


def _credentials(request: HTTPConnection) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not key.strip():
        raise errors.Unauthorized(
            "Missing or malformed Authorization header: use 'Token <api key>'."
        )
    return key.strip()


def client_address(request: HTTPConnection) -> str:
    return request.client.host if request.client else "unknown"


async def get_workspace(request: Request, services: ServicesDep) -> str:
    return await workspace_of_key(request, services, post=request.method == "POST")


async def workspace_of_key(request: HTTPConnection, services: Services, *, post: bool) -> str:
    """The workspace of the API key in ``Authorization`` (an HTTP request or a WebSocket)."""
    key_hash = hash_key(_credentials(request))
    cache: KeyCache = request.app.state.key_cache

    async def load() -> str | None:
        async with services.store.transaction(write=False) as tx:
            return await tx.keys.workspace_for(key_hash)

    workspace_id = cache.fresh(key_hash, load)
    if workspace_id is None:
        failures: AuthFailures = request.app.state.auth_failures
        failures.check(API, client_address(request))
        workspace_id = await cache.read(key_hash, load)
        if workspace_id is None:
            raise errors.Unauthorized("Invalid API key.")
    limiter: RateLimiter = (
        request.app.state.create_limiter if post else request.app.state.read_limiter
    )
    limiter.check(workspace_id)
    logs.workspace_id.set(workspace_id)  # on this request's log lines from here on
    return workspace_id


WorkspaceId = Annotated[str, Depends(get_workspace)]


async def runner_token(request: Request) -> str:
    failures: AuthFailures = request.app.state.auth_failures
    for key in runner_keys(client_address(request), request.path_params.get("bot_id")):
        failures.check(RUNNER, key)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise errors.Unauthorized("Missing runner token.")
    return token.strip()


RunnerToken = Annotated[str, Depends(runner_token)]

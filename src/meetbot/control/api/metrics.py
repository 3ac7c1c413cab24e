"""``GET /metrics`` (Prometheus text) and the middleware that counts and times every request.

``/metrics`` is open by default, as Prometheus scrapes expect (keep the port on the cluster's
network); with ``MEETBOT_METRICS_TOKEN`` set it wants ``Authorization: Bearer <token>`` (401
``unauthorized`` otherwise). What it shows: :mod:`meetbot.control.metrics`.
"""

from __future__ import annotations

import hmac
import time
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetbot import errors
from meetbot.control.api.deps import ServicesDep
from meetbot.control.metrics import CONTENT_TYPE, Metrics

router = APIRouter(tags=["operations"])
UNMATCHED = "unmatched"
"""The route label of a request no route matched (404s of unknown paths: one series)."""


def _check_token(request: Request, services: ServicesDep) -> None:
    token = services.settings.metrics_token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
        raise errors.Unauthorized(
            "GET /metrics wants Authorization: Bearer <MEETBOT_METRICS_TOKEN>."
        )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, services: ServicesDep) -> Response:
    _check_token(request, services)
    registry: Metrics = request.app.state.metrics
    lead = timedelta(seconds=services.settings.dispatch_lead)
    body = await registry.collect(services.store, services.launcher, services.clock.now(), lead)
    return Response(body, media_type=CONTENT_TYPE)


class RequestMetrics:
    """Pure ASGI: counts and times each HTTP request by method, route template (``/api/v1/bot/
    {bot_id}/``, never the raw path) and status code; a few microseconds a request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe_request(
                scope["method"], template, status, time.perf_counter() - started
            )

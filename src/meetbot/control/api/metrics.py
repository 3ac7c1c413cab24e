"""``GET /metrics``: Prometheus text (:mod:`meetbot.control.metrics`). Counts only, no ids."""

from __future__ import annotations

from fastapi import APIRouter, Response

from meetbot.control.api.deps import ServicesDep
from meetbot.control.metrics import CONTENT_TYPE, render
from meetbot.control.service.metrics import snapshot

router = APIRouter(tags=["metrics"], include_in_schema=False)


@router.get("/metrics")
async def metrics(svc: ServicesDep) -> Response:
    body = render(await snapshot(svc), svc.lateness)
    return Response(content=body, media_type=CONTENT_TYPE)

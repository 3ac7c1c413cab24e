"""``GET /healthz`` (the process answers: no I/O) and ``GET /readyz`` (the database and media
storage are reachable; 503 ``service_unavailable`` naming the one that is not). Kubernetes
probes them: liveness on ``/healthz``, readiness on ``/readyz``. Both are open (no key)."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from meetbot.control.api.deps import ServicesDep
from meetbot.ports import Storage

router = APIRouter(tags=["operations"])
log = logging.getLogger("meetbot.control.api.health")
CHECK_TIMEOUT: Final = 2.0
"""Seconds each readiness check may take before it counts as failed."""
PROBE_KEY: Final = "readyz/probe"
"""The storage key whose existence is asked (it need not exist: the question must be answered)."""


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _database(services: ServicesDep) -> None:
    async with services.store.transaction(write=False) as tx:
        await tx.stats.ping()


async def _storage(storage: Storage | None) -> None:
    if storage is not None:
        await storage.exists(PROBE_KEY)


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    storage: Storage | None = getattr(request.app.state, "storage", None)
    failed: list[str] = []
    for name, check in (("database", _database(services)), ("storage", _storage(storage))):
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT)
        except Exception as exc:  # any failure means not ready; the reason goes to the log
            log.warning("readyz: %s unreachable: %s", name, exc)
            failed.append(name)
    if failed:
        return JSONResponse(
            {
                "code": "service_unavailable",
                "detail": f"Not ready: {' and '.join(failed)} unreachable.",
                "failed": failed,
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "checks": {"database": "ok", "storage": "ok"}})

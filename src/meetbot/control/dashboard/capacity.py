"""The dashboard's capacity: warm browsers (where the launcher reports them) and the reserved
windows of the next day, from the same use case as ``GET /api/v1/capacity/``."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol, runtime_checkable

from fastapi import APIRouter, Response

from meetbot import errors
from meetbot.control.capacity import plus
from meetbot.control.dashboard.pages import ViewerDep, error_page, render
from meetbot.control.launchers.warm_pool import PoolState
from meetbot.control.service import capacity

router = APIRouter(prefix="/dashboard/capacity")

RANGE = timedelta(hours=24)
STEP = timedelta(hours=1)


@runtime_checkable
class ReportsPool(Protocol):
    """A launcher that can say what its warm pool holds (the local launcher)."""

    def state(self) -> PoolState: ...


@router.get("/")
async def show_capacity(viewer: ViewerDep) -> Response:
    svc = viewer.services
    start = svc.clock.now().replace(minute=0, second=0, microsecond=0)
    try:
        total, steps = await capacity.timeline(svc, start, plus(start, RANGE), STEP)
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    launcher = svc.launcher
    pool = launcher.state() if isinstance(launcher, ReportsPool) else None
    context = {
        "viewer": viewer,
        "title": "Capacity",
        "total": total,
        "steps": steps,
        "pool": pool,
    }
    return render("capacity.html", context)

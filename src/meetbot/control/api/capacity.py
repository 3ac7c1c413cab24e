"""``/api/v1/capacity/``: what is booked, step by step (capacity, reservations, running bots)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from meetbot.control.api.deps import ServicesDep, get_workspace
from meetbot.control.api.schemas import ErrorOut, LenientUtcDatetime
from meetbot.control.capacity import Step, plus
from meetbot.control.service import capacity
from meetbot.timefmt import iso

router = APIRouter(prefix="/api/v1/capacity", tags=["capacity"])

DEFAULT_RANGE = timedelta(hours=24)


class CapacityStepOut(BaseModel):
    start: str
    end: str
    capacity: int = Field(description="Bots that can run at once")
    reserved: int = Field(description="Scheduled bots whose reserved window overlaps the step")
    running: int = Field(description="Running bots expected to hold a place during the step")
    booked: int = Field(description="The most places held at one instant of the step")
    available: int = Field(description="capacity - booked (never below 0)")


class CapacityOut(BaseModel):
    """Counts over every workspace of this server (no bot of another workspace is named)."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    step: int = Field(description="minutes")
    capacity: int
    steps: list[CapacityStepOut]


def _step_view(step: Step) -> dict[str, Any]:
    return {
        "start": iso(step.window.start),
        "end": iso(step.window.end),
        "capacity": step.capacity,
        "reserved": step.reserved,
        "running": step.running,
        "booked": step.booked,
        "available": step.available,
    }


@router.get(
    "/",
    response_model=CapacityOut,
    responses={400: {"model": ErrorOut, "description": "to before from, or too many steps"}},
    summary="Booked capacity over time",
    dependencies=[Depends(get_workspace)],  # authenticated; the counts span every workspace
)
async def get_capacity(
    svc: ServicesDep,
    start: Annotated[
        LenientUtcDatetime | None, Query(alias="from", description="ISO 8601; default now")
    ] = None,
    end: Annotated[
        LenientUtcDatetime | None, Query(alias="to", description="ISO 8601; default from + 24 h")
    ] = None,
    step: Annotated[int, Query(ge=1, le=1440, description="minutes")] = 5,
) -> Response:
    """Per step of ``[from, to)``: the capacity, the scheduled bots whose reservation overlaps
    it, the running bots, the most places held at once, and what is left. At most 2016 steps."""
    start = start or svc.clock.now()
    end = end or plus(start, DEFAULT_RANGE)
    total, steps = await capacity.timeline(svc, start, end, timedelta(minutes=step))
    return JSONResponse(
        {
            "from": iso(start),
            "to": iso(end),
            "step": step,
            "capacity": total,
            "steps": [_step_view(s) for s in steps],
        }
    )

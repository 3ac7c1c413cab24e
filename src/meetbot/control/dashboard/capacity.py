"""The dashboard's capacity: warm browsers (where the launcher reports them), a fleet's agents
(``MEETBOT_LAUNCHER=fleet``) and the reserved windows of the next day, from the same use case
as ``GET /api/v1/capacity/``.

Agents serve every workspace of the server: a workspace sees their names, states and counts,
and among their bots only its own (another workspace's bot ids are never shown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from fastapi import APIRouter, Response

from meetbot import errors
from meetbot.control.capacity import plus
from meetbot.control.dashboard.pages import Viewer, ViewerDep, error_page, render
from meetbot.control.launchers.warm_pool import PoolState
from meetbot.control.service import agents, capacity

router = APIRouter(prefix="/dashboard/capacity")

RANGE = timedelta(hours=24)
STEP = timedelta(hours=1)


@runtime_checkable
class ReportsPool(Protocol):
    """A launcher that can say what its warm pool holds (the local launcher)."""

    def state(self) -> PoolState: ...


@dataclass(frozen=True, slots=True)
class AgentRow:
    """An agent as a workspace may see it: no id, no token, only its own bots."""

    name: str
    state: str
    slots: int
    busy: int
    warm_idle: int
    last_seen_at: datetime | None
    bots: tuple[str, ...]
    """The viewer's bots on this agent (ids of other workspaces' bots are left out)."""
    others: int
    """How many bots of other workspaces it runs (a count, nothing more)."""


async def agent_rows(viewer: Viewer) -> list[AgentRow] | None:
    """The fleet's agents, or None when the launcher is not a fleet."""
    svc = viewer.services
    if svc.settings.launcher != "fleet":
        return None
    views = await agents.list_agents(svc.store, svc.clock, svc.settings.agent_timeout)
    wanted = {b for v in views for b in v.agent.bots}
    own: set[str] = set()
    async with svc.store.transaction(write=False) as tx:
        for bot_id in sorted(wanted):
            if await tx.bots.get(bot_id, workspace_id=viewer.workspace_id) is not None:
                own.add(bot_id)
    rows = []
    for view in views:
        agent = view.agent
        mine = tuple(b for b in agent.bots if b in own)
        rows.append(
            AgentRow(
                name=agent.name,
                state=view.state,
                slots=agent.slots,
                busy=agent.busy,
                warm_idle=agent.warm_idle,
                last_seen_at=agent.last_seen_at,
                bots=mine,
                others=len(agent.bots) - len(mine),
            )
        )
    return rows


@router.get("/")
async def show_capacity(viewer: ViewerDep) -> Response:
    svc = viewer.services
    start = svc.clock.now().replace(minute=0, second=0, microsecond=0)
    try:
        total, steps = await capacity.timeline(svc, start, plus(start, RANGE), STEP)
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    fleet = await agent_rows(viewer)
    launcher = svc.launcher
    pool = launcher.state() if isinstance(launcher, ReportsPool) else None
    context = {
        "viewer": viewer,
        "title": "Capacity",
        "total": total,
        "steps": steps,
        "pool": pool,
        "agents": fleet,
    }
    return render("capacity.html", context)

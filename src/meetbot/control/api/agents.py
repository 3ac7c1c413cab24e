"""``/internal/agents/*``: fleet agents (``meetbot agent``) report and take bots here, with their
agent token (the contract: :mod:`meetbot.contract.agent_protocol`)."""

from __future__ import annotations

from fastapi import APIRouter

from meetbot.contract import agent_protocol as wire
from meetbot.control.api.deps import RunnerToken, ServicesDep
from meetbot.control.service import agents

router = APIRouter(tags=["internal"], include_in_schema=False)


@router.post(wire.HEARTBEAT_PATH, response_model=wire.HeartbeatAnswer)
async def heartbeat(
    beat: wire.Heartbeat, svc: ServicesDep, token: RunnerToken
) -> wire.HeartbeatAnswer:
    return await agents.heartbeat(svc, token, beat)


@router.post(wire.POLL_PATH, response_model=wire.PollAnswer)
async def poll(request: wire.PollRequest, svc: ServicesDep, token: RunnerToken) -> wire.PollAnswer:
    """Long poll: answers at once when hand-offs are queued, else when one is (``wait``)."""
    return await agents.poll(svc, token, request)

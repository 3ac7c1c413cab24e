"""The agent protocol in process: ``meetbot serve``'s own agent (``MEETBOT_LAUNCHER=local``,
:class:`meetbot.control.launchers.local.LocalLauncher`) calls the use cases behind
``/internal/agents/heartbeat`` and ``/poll`` directly, with the same wire values and the same
token check, instead of over loopback HTTP.

Errors are the agent's: 401 (``errors.Unauthorized``) is :class:`AgentRevoked`; anything else
(the database down, a timeout) is :class:`ControlUnreachable`, which the agent retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from meetbot import errors
from meetbot.agent.control_client import AgentRevoked, ControlUnreachable
from meetbot.contract import agent_protocol as wire
from meetbot.control.service import agents
from meetbot.control.service.core import Services

_T = TypeVar("_T")


class InProcessChannel:
    def __init__(self, svc: Services, token: str, *, name: str) -> None:
        self.svc = svc
        self.token = token
        self.name = name

    async def register(self) -> None:
        await agents.ensure_agent(self.svc.store, self.svc.clock, name=self.name, token=self.token)

    async def heartbeat(self, beat: wire.Heartbeat, timeout: float = 10.0) -> wire.HeartbeatAnswer:
        return await _call(agents.heartbeat(self.svc, self.token, beat), timeout)

    async def poll(self, request: wire.PollRequest) -> wire.PollAnswer:
        return await _call(agents.poll(self.svc, self.token, request), request.wait + 10.0)


async def _call(call: Awaitable[_T], timeout: float) -> _T:
    try:
        async with asyncio.timeout(timeout):
            return await call
    except errors.Unauthorized as exc:
        raise AgentRevoked(f"the local agent's token is revoked or unknown: {exc}") from exc
    except Exception as exc:  # the database down, a timeout: the agent retries
        raise ControlUnreachable(f"{type(exc).__name__}: {exc}") from exc

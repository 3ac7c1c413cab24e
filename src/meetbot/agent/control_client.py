"""The agent's HTTP client to the control plane: heartbeat and long poll, with failover.

Every request goes to the current URL of ``servers`` (``--server URL[,URL...]``); a connection
error, a timeout or a 5xx moves it (and every later request) to the next URL and it is retried
there at once, each URL once per call. 401 means the agent's token is revoked or unknown:
:class:`AgentRevoked`, and the agent stops asking for bots.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from meetbot.contract.agent_protocol import (
    HEARTBEAT_PATH,
    POLL_PATH,
    Heartbeat,
    HeartbeatAnswer,
    PollAnswer,
    PollRequest,
)

log = logging.getLogger(__name__)

_Answer = TypeVar("_Answer", bound=BaseModel)


class AgentRevoked(RuntimeError):
    """The control plane answered 401: this agent's token is revoked or unknown."""


class ControlUnreachable(RuntimeError):
    """No control-plane URL answered this request."""


class ControlChannel(Protocol):
    """How an agent reaches the control plane: :class:`ControlClient` over HTTP, or the
    in-process channel of ``MEETBOT_LAUNCHER=local``'s agent
    (:class:`meetbot.control.service.local_agent.InProcessChannel`). Both raise
    :class:`AgentRevoked` (401) and :class:`ControlUnreachable`."""

    async def heartbeat(self, beat: Heartbeat, timeout: float = 10.0) -> HeartbeatAnswer: ...

    async def poll(self, request: PollRequest) -> PollAnswer: ...


class ControlClient:
    def __init__(self, client: httpx.AsyncClient, servers: Sequence[str], token: str) -> None:
        if not servers:
            raise ValueError("at least one control-plane URL is needed")
        self._client = client
        self.servers = [s.rstrip("/") for s in servers]
        self._current = 0
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    @property
    def server(self) -> str:
        """The URL requests go to now."""
        return self.servers[self._current]

    async def heartbeat(self, beat: Heartbeat, timeout: float = 10.0) -> HeartbeatAnswer:
        return await self._call(HEARTBEAT_PATH, beat, HeartbeatAnswer, timeout)

    async def poll(self, request: PollRequest) -> PollAnswer:
        return await self._call(POLL_PATH, request, PollAnswer, request.wait + 10.0)

    async def _call(
        self, path: str, body: BaseModel, answer: type[_Answer], timeout: float
    ) -> _Answer:
        content = body.model_dump_json()
        why = "no server"
        for _ in self.servers:
            url = f"{self.server}{path}"
            try:
                response = await self._client.post(
                    url, content=content, headers=self._headers, timeout=timeout
                )
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 401:
                    raise AgentRevoked(f"{url} answered 401: the agent token is revoked or unknown")
                if response.status_code == 200:
                    try:
                        return answer.model_validate_json(response.content)
                    except ValidationError as exc:
                        why = f"unreadable answer: {exc}"
                elif response.status_code < 500:
                    raise ControlUnreachable(
                        f"{url} answered {response.status_code}: {response.text[:300]}"
                    )
                else:
                    why = f"HTTP {response.status_code}"
            self._fail_over(why)
        raise ControlUnreachable(why)

    def _fail_over(self, why: str) -> None:
        failed = self.server
        self._current = (self._current + 1) % len(self.servers)
        if len(self.servers) > 1:
            log.warning("control plane %s failed (%s); now %s", failed, why, self.server)
        else:
            log.warning("control plane %s failed (%s)", failed, why)

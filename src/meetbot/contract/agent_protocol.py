"""The contract between a runner host's agent (``meetbot agent``) and the control plane.

The agent only connects out: every exchange is an HTTP request from the agent to one of the
control-plane replicas it was given (``--server URL[,URL...]``; on a connection error or a 5xx
it tries the next), with ``Authorization: Bearer <agent token>`` (``meetbot agents create``).
A revoked or unknown token gets 401 and the agent stops asking for bots.

``POST /internal/agents/heartbeat`` — :class:`Heartbeat` in, :class:`HeartbeatAnswer` out.
  Sent every ``heartbeat_interval`` seconds (the answer says how often). It is the agent's
  capacity and health: an agent whose last heartbeat is older than ``MEETBOT_AGENT_TIMEOUT``
  is ``lost`` and gets no bots; its undelivered hand-offs and its bots that have not started
  joining are dispatched again. It also carries the runners that ended (``exited``), until a
  heartbeat with them is answered.

``POST /internal/agents/poll`` — :class:`PollRequest` in, :class:`PollAnswer` out.
  A long poll (``wait`` seconds at most): the control plane answers as soon as hand-offs are
  queued for this agent. Each hand-off is answered until the agent acknowledges it
  (``ack`` in the next poll or heartbeat), so a lost answer loses nothing; the agent starts a
  bot at most once per ``bot_id`` + ``token`` (a second delivery of the same one is ignored).

The warm-browser count is exact across replicas without the agent knowing of claims in
flight: the control plane counts ``claims`` (every hand-off queued for the agent, ever) and the
agent reports ``received`` (how many hand-offs it has taken, ever) beside its ``warm_idle``;
the browsers offered are ``warm_idle - (claims - received)``, and a claim is one conditional
``UPDATE`` of the agent's row, so two creates never get the same browser.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

HEARTBEAT_PATH: Final = "/internal/agents/heartbeat"
POLL_PATH: Final = "/internal/agents/poll"

AgentState = Literal["live", "draining", "lost", "revoked"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RunnerExit(_Message):
    """A runner process with a bot ended on the agent's host (crashed, killed, or done)."""

    bot_id: str = Field(max_length=200)
    token_sha: str = Field(min_length=32, max_length=64)
    """The first 32 hex digits of the SHA-256 of the runner's token: the control plane fails
    the bot only if that runner is still the bot's (a bot handed to another runner since is
    left alone)."""
    returncode: int


class Heartbeat(_Message):
    name: str = Field(max_length=200)
    slots: int = Field(ge=0, le=10_000)
    """How many bots this agent runs at most (``--slots``)."""
    warm_idle: int = Field(ge=0, le=10_000)
    """Warm browsers that no bot has, as the agent sees them."""
    received: int = Field(ge=0)
    """Hand-offs taken from polls since the agent's ``incarnation`` began."""
    incarnation: str = Field(max_length=64)
    """A random id per agent process start: a restarted agent counts ``received`` from 0."""
    busy: int = Field(ge=0, le=10_000)
    """Runners with a bot (starting, in a call, leaving)."""
    bots: list[str] = Field(default_factory=list, max_length=10_000)
    """The ids of the bots whose runners are alive on this host (adopted ones included)."""
    draining: bool = False
    """SIGTERM received: take no new bots."""
    ack: list[str] = Field(default_factory=list, max_length=10_000)
    """Hand-off ids the agent has taken (see :class:`Handoff`)."""
    exited: list[RunnerExit] = Field(default_factory=list, max_length=10_000)
    """Runners that ended since the last heartbeat the control plane answered: a bot its
    runner left unfinished ends ``failed``/``bot_process_lost`` now, not after the runner
    heartbeat timeout."""
    version: str = ""


class HeartbeatAnswer(_Message):
    agent_id: str
    heartbeat_interval: float
    """Seconds until the next heartbeat."""
    timeout: float
    """``MEETBOT_AGENT_TIMEOUT``: silent this long, the agent is ``lost``."""


class PollRequest(_Message):
    wait: float = Field(default=25.0, ge=0, le=60)
    ack: list[str] = Field(default_factory=list, max_length=10_000)
    agent_id: str | None = Field(default=None, max_length=200)
    """The ``agent_id`` of the heartbeat's answer: which of the agents sharing a token polls
    (absent: the token's first agent)."""


class Handoff(_Message):
    id: str
    """The hand-off's id (acknowledged by the agent)."""
    bot_id: str
    warm: bool
    """``True``: give it a warm browser; ``False``: a reservation, start a cold runner."""
    assignment: dict[str, Any]
    """The runner's :class:`meetbot.contract.assignment.Assignment` as JSON (token and
    credentials included: the agent never logs it)."""


class PollAnswer(_Message):
    handoffs: list[Handoff] = Field(default_factory=list)

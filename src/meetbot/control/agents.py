"""A fleet's agents as the control plane keeps them: immutable values and the pure rules on them.

An agent (``meetbot agent`` on a runner host) is a row: its capacity and health as its last
heartbeat said (``slots``, ``warm_idle``, ``busy``, ``received``, ``bots``, ``draining``), the
hand-offs the control plane has queued for it (``claims``, counted since its ``incarnation``
began) and ``last_seen_at``. The warm browsers it offers are
``warm_idle - (claims - received)`` (see :mod:`meetbot.contract.agent_protocol`); the room it
has for one more bot is ``slots - busy - (claims - received)``.

One token may serve several agents (a Kubernetes Deployment's pods share the Secret that holds
it): the token's row (made by ``meetbot agents create``) is taken by the first agent that
heartbeats with it, and each other agent name heartbeating with the same token gets a row of
its own, its ``token_hash`` being :func:`instance_hash` (the token's hash, ``/``, the name).
Revoking any of them revokes the token: all of them. Rows of such agents that have been lost for
:data:`LOST_INSTANCE_TTL` with no bot are removed (pods come and go with every rollout).

A :class:`HandoffRow` is one bot handed to one agent: claimed (no bot yet: the claim's
transaction may still roll back or leave it unused), queued (``bot_id`` and the sealed
assignment set: answered to the agent's polls), acknowledged (``acked_at``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

AgentState = Literal["live", "draining", "lost", "revoked"]

LOST_INSTANCE_TTL = timedelta(hours=1)
"""How long the row of a lost agent that shares another's token (and runs no bot) is kept."""


def instance_hash(token_hash: str, name: str) -> str:
    """The ``token_hash`` of the agent named ``name`` that shares the token of ``token_hash``."""
    return f"{token_family(token_hash)}/{name}"


def token_family(token_hash: str) -> str:
    """The hash of the token itself, for the token's row and for the rows sharing it."""
    return token_hash.partition("/")[0]


def shares_token(agent_hash: str) -> bool:
    """Whether the row is one of the extra agents of a shared token (not the token's row)."""
    return "/" in agent_hash


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    token_hash: str
    created_at: datetime
    slots: int = 0
    warm_idle: int = 0
    busy: int = 0
    received: int = 0
    claims: int = 0
    incarnation: str = ""
    draining: bool = False
    bots: tuple[str, ...] = ()
    version: str = ""
    last_seen_at: datetime | None = None
    revoked_at: datetime | None = None

    def evolve(self, **changes: Any) -> Agent:
        return dataclasses.replace(self, **changes)

    @property
    def in_flight(self) -> int:
        """Hand-offs queued for the agent that it has not taken yet."""
        return max(self.claims - self.received, 0)

    @property
    def offered(self) -> int:
        """Warm browsers free for a claim (exact across replicas)."""
        return min(self.warm_idle - self.in_flight, self.room)

    @property
    def room(self) -> int:
        """Bots it can still take."""
        return self.slots - self.busy - self.in_flight

    def state(self, now: datetime, timeout: float) -> AgentState:
        if self.revoked_at is not None:
            return "revoked"
        if not is_alive(self.last_seen_at, now, timeout):
            return "lost"
        return "draining" if self.draining else "live"


def is_alive(last_seen_at: datetime | None, now: datetime, timeout: float) -> bool:
    return last_seen_at is not None and last_seen_at >= live_since(now, timeout)


def live_since(now: datetime, timeout: float) -> datetime:
    """An agent last seen before this moment is ``lost``."""
    return now - timedelta(seconds=timeout)


@dataclass(frozen=True, slots=True)
class HeartbeatRow:
    """What a heartbeat writes on the agent's row
    (:class:`~meetbot.contract.agent_protocol.Heartbeat`)."""

    name: str
    slots: int
    warm_idle: int
    busy: int
    received: int
    incarnation: str
    draining: bool
    bots: tuple[str, ...]
    version: str


@dataclass(frozen=True, slots=True)
class HandoffRow:
    id: str
    agent_id: str
    warm: bool
    created_at: datetime
    bot_id: str | None = None
    assignment: str | None = None
    """The runner's assignment JSON, sealed (:meth:`meetbot.crypto.SecretBox.seal_json`)."""
    acked_at: datetime | None = None


HANDOFF_CONTEXT = "agent-handoff"
"""The sealing context of a stored assignment."""


class FleetCapacity:
    """:class:`meetbot.control.ports.BotCapacity` of a fleet: ``MEETBOT_FLEET_MAX_SLOTS`` when
    set (an autoscaler adds agents), else the live agents' slots as last read
    (:func:`meetbot.control.service.agents.refresh_capacity`)."""

    def __init__(self, max_slots: int | None) -> None:
        self.max_slots = max_slots
        self.live_slots = 0

    def total(self) -> int:
        return self.max_slots if self.max_slots is not None else self.live_slots


def spread_claims(agents: Sequence[Agent], count: int) -> list[tuple[str, bool]]:
    """Up to ``count`` claims over usable ``agents``, one at a time as :meth:`AgentRepo.claim`
    would make them: a warm browser while any agent offers one (the agent offering most),
    else room for a cold start (the agent with most room); ties go to the smaller id. Returns
    ``(agent id, warm)`` per claim, fewer than ``count`` when the agents are full (pure)."""
    pool = {a.id: a for a in agents}
    picks: list[tuple[str, bool]] = []
    for _ in range(count):
        free = [a for a in pool.values() if a.room > 0]
        warm = [a for a in free if a.offered > 0]
        if warm:
            best = min(warm, key=lambda a: (-a.offered, a.id))
        elif free:
            best = min(free, key=lambda a: (-a.room, a.id))
        else:
            break
        pool[best.id] = best.evolve(claims=best.claims + 1)
        picks.append((best.id, bool(warm)))
    return picks

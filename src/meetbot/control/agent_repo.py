"""The fleet's repository (its SQL driver: ``control/store/agents.py``; in memory:
``meetbot.testing.memory_agents``), part of :class:`meetbot.control.ports.Tx`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from meetbot.control.agents import Agent, HandoffRow, HeartbeatRow


class AgentRepo(Protocol):
    """A fleet's agents and the hand-offs queued for them (:mod:`meetbot.control.agents`)."""

    async def add(self, agent: Agent) -> None: ...

    async def get(self, agent_id: str) -> Agent | None: ...

    async def by_token(self, token_hash: str) -> Agent | None: ...

    async def list_agents(self) -> list[Agent]:
        """Every agent, oldest first (revoked ones too)."""
        ...

    async def revoke(self, agent_id: str, at: datetime) -> Agent | None:
        """Revoke the agent's token (once): the agent and every agent sharing its token; the
        agent as it now is, or ``None`` if there is none."""
        ...

    async def prune(self, lost_before: datetime) -> int:
        """Remove the rows of agents sharing another's token (:func:`~meetbot.control.agents.
        shares_token`) not seen since ``lost_before``, busy with no bot and with no hand-off
        waiting; how many."""
        ...

    async def heartbeat(self, agent_id: str, beat: HeartbeatRow, at: datetime) -> None:
        """Write what a heartbeat says; a new ``incarnation`` resets ``claims`` to the
        hand-offs not yet acknowledged."""
        ...

    async def claim(
        self, handoff_id: str, *, warm: bool, live_since: datetime, at: datetime
    ) -> HandoffRow | None:
        """One conditional update: a usable agent (not revoked, seen since ``live_since``, not
        draining) that offers a warm browser (``warm``) or has room counts one more claim and
        a hand-off row with this id records it; ``None`` when no agent can."""
        ...

    async def claim_many(
        self, handoff_ids: Sequence[str], *, live_since: datetime, at: datetime
    ) -> list[HandoffRow]:
        """Up to one claim per id, warm browsers first, then room (as :meth:`claim` would make
        them one after another: :func:`~meetbot.control.agents.spread_claims`), in a fixed
        number of statements; fewer rows than ids when the usable agents are full."""
        ...

    async def queue_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        """:meth:`queue` for several ``(hand-off id, bot id, sealed assignment)``."""
        ...

    async def queue(self, handoff_id: str, bot_id: str, assignment: str) -> None:
        """Give the claimed hand-off its bot (``bots.agent_id`` follows); the bot's earlier
        hand-offs not yet taken are void."""
        ...

    async def release(self, handoff_id: str) -> bool:
        """Undo a claim that got no bot; ``False`` if there is none (rolled back, or used)."""
        ...

    async def pending(self, agent_id: str, limit: int = 100) -> list[HandoffRow]:
        """Queued hand-offs the agent has not acknowledged, oldest first."""
        ...

    async def ack(self, agent_id: str, handoff_ids: Collection[str], at: datetime) -> int: ...

    async def stranded(
        self, live_since: datetime, limit: int = 100, *, bot_id: str | None = None
    ) -> list[str]:
        """``booting`` bots last handed to an agent that is revoked or not seen since
        ``live_since``, or that is draining and has not taken the hand-off: they must be
        handed to another (only ``bot_id``, if given), earliest ``join_at`` first."""
        ...

    async def total_slots(self, live_since: datetime) -> int:
        """The slots of every usable agent."""
        ...

    async def of_bot(self, bot_id: str) -> Agent | None:
        """The agent the bot was last handed to."""
        ...

    async def with_pending(self) -> set[str]:
        """The agents that have queued hand-offs not yet acknowledged."""
        ...

    async def purge_handoffs(self, before: datetime) -> int:
        """Delete hand-offs acknowledged before ``before``; return how many."""
        ...

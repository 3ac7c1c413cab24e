"""The fleet's agents in :class:`~meetbot.testing.memory_store.MemoryStore` (``tx.agents``),
with the semantics of :class:`meetbot.control.store.agents.SqlAgentRepo`."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from meetbot.contract.lifecycle import Status
from meetbot.control.agents import (
    Agent,
    HandoffRow,
    HeartbeatRow,
    shares_token,
    spread_claims,
    token_family,
)
from meetbot.errors import Conflict
from meetbot.testing.memory_state import MemoryRepo
from meetbot.timefmt import utc


@dataclass(slots=True)
class MemoryAgentData:
    agents: dict[str, Agent] = field(default_factory=dict)
    handoffs: dict[str, HandoffRow] = field(default_factory=dict)
    bot_agent: dict[str, str] = field(default_factory=dict)

    def copy(self) -> MemoryAgentData:
        return MemoryAgentData(dict(self.agents), dict(self.handoffs), dict(self.bot_agent))


def _usable(agent: Agent, live_since: datetime) -> bool:
    return (
        agent.revoked_at is None
        and agent.last_seen_at is not None
        and agent.last_seen_at >= utc(live_since)
        and not agent.draining
    )


@dataclass(frozen=True, slots=True)
class MemoryAgentRepo(MemoryRepo):
    @property
    def _data(self) -> MemoryAgentData:
        return self.state.agents

    async def add(self, agent: Agent) -> None:
        self.check_write("agents.add")
        if agent.id in self._data.agents or any(
            a.token_hash == agent.token_hash for a in self._data.agents.values()
        ):
            raise Conflict(f"Agent {agent.id} (or its token) already exists.")
        self._data.agents[agent.id] = replace(agent, created_at=utc(agent.created_at))

    async def get(self, agent_id: str) -> Agent | None:
        return self._data.agents.get(agent_id)

    async def by_token(self, token_hash: str) -> Agent | None:
        return next((a for a in self._data.agents.values() if a.token_hash == token_hash), None)

    async def list_agents(self) -> builtins.list[Agent]:
        return sorted(self._data.agents.values(), key=lambda a: (a.created_at, a.id))

    async def revoke(self, agent_id: str, at: datetime) -> Agent | None:
        self.check_write("agents.revoke")
        agent = self._data.agents.get(agent_id)
        if agent is None:
            return None
        family = token_family(agent.token_hash)
        for other in list(self._data.agents.values()):
            if other.revoked_at is None and token_family(other.token_hash) == family:
                self._data.agents[other.id] = other.evolve(revoked_at=utc(at))
        return self._data.agents[agent_id]

    async def prune(self, lost_before: datetime) -> int:
        self.check_write("agents.prune")
        waiting = {h.agent_id for h in self._data.handoffs.values() if h.acked_at is None}
        gone = [
            a.id
            for a in self._data.agents.values()
            if shares_token(a.token_hash)
            and a.last_seen_at is not None
            and a.last_seen_at < utc(lost_before)
            and a.busy == 0
            and a.id not in waiting
        ]
        for agent_id in gone:
            del self._data.agents[agent_id]
        return len(gone)

    async def heartbeat(self, agent_id: str, beat: HeartbeatRow, at: datetime) -> None:
        self.check_write("agents.heartbeat")
        agent = self._data.agents.get(agent_id)
        if agent is None:
            return
        claims = agent.claims
        if agent.incarnation != beat.incarnation:
            claims = sum(
                1
                for h in self._data.handoffs.values()
                if h.agent_id == agent_id and h.acked_at is None
            )
        self._data.agents[agent_id] = agent.evolve(
            name=beat.name,
            slots=beat.slots,
            warm_idle=beat.warm_idle,
            busy=beat.busy,
            received=beat.received,
            incarnation=beat.incarnation,
            draining=beat.draining,
            bots=beat.bots,
            version=beat.version,
            last_seen_at=utc(at),
            claims=claims,
        )

    async def claim(
        self, handoff_id: str, *, warm: bool, live_since: datetime, at: datetime
    ) -> HandoffRow | None:
        self.check_write("agents.claim")
        free = [
            a
            for a in self._data.agents.values()
            if _usable(a, live_since) and a.room > 0 and (not warm or a.offered > 0)
        ]
        if not free:
            return None
        best = min(free, key=lambda a: (-(a.offered if warm else a.room), a.id))
        self._data.agents[best.id] = best.evolve(claims=best.claims + 1)
        row = HandoffRow(handoff_id, best.id, warm, utc(at))
        self._data.handoffs[handoff_id] = row
        return row

    async def claim_many(
        self, handoff_ids: Sequence[str], *, live_since: datetime, at: datetime
    ) -> builtins.list[HandoffRow]:
        self.check_write("agents.claim_many")
        usable = [a for a in self._data.agents.values() if _usable(a, live_since)]
        rows = []
        for handoff_id, (agent_id, warm) in zip(
            handoff_ids, spread_claims(usable, len(handoff_ids)), strict=False
        ):
            agent = self._data.agents[agent_id]
            self._data.agents[agent_id] = agent.evolve(claims=agent.claims + 1)
            row = HandoffRow(handoff_id, agent_id, warm, utc(at))
            self._data.handoffs[handoff_id] = row
            rows.append(row)
        return rows

    async def queue_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        for handoff_id, bot_id, assignment in items:
            await self.queue(handoff_id, bot_id, assignment)

    def _unclaim(self, agent_id: str) -> None:
        agent = self._data.agents.get(agent_id)
        if agent is not None and agent.claims > 0:
            self._data.agents[agent_id] = agent.evolve(claims=agent.claims - 1)

    async def queue(self, handoff_id: str, bot_id: str, assignment: str) -> None:
        self.check_write("agents.queue")
        for old in list(self._data.handoffs.values()):
            if old.bot_id == bot_id and old.acked_at is None and old.id != handoff_id:
                del self._data.handoffs[old.id]
                self._unclaim(old.agent_id)
        row = self._data.handoffs.get(handoff_id)
        if row is not None:
            self._data.handoffs[handoff_id] = replace(row, bot_id=bot_id, assignment=assignment)
            self._data.bot_agent[bot_id] = row.agent_id

    async def release(self, handoff_id: str) -> bool:
        self.check_write("agents.release")
        row = self._data.handoffs.get(handoff_id)
        if row is None or row.bot_id is not None:
            return False
        del self._data.handoffs[handoff_id]
        self._unclaim(row.agent_id)
        return True

    async def pending(self, agent_id: str, limit: int = 100) -> builtins.list[HandoffRow]:
        rows = [
            h
            for h in self._data.handoffs.values()
            if h.agent_id == agent_id and h.acked_at is None and h.bot_id is not None
        ]
        return sorted(rows, key=lambda h: (h.created_at, h.id))[:limit]

    async def ack(self, agent_id: str, handoff_ids: Collection[str], at: datetime) -> int:
        self.check_write("agents.ack")
        done = 0
        for handoff_id in handoff_ids:
            row = self._data.handoffs.get(handoff_id)
            if row is not None and row.agent_id == agent_id and row.acked_at is None:
                self._data.handoffs[handoff_id] = replace(row, acked_at=utc(at))
                done += 1
        return done

    async def stranded(
        self, live_since: datetime, limit: int = 100, *, bot_id: str | None = None
    ) -> builtins.list[str]:
        found = []
        for owned, agent_id in self._data.bot_agent.items():
            bot = self.state.bots.get(owned)
            agent = self._data.agents.get(agent_id)
            if bot is None or agent is None or bot.status is not Status.BOOTING:
                continue
            if bot_id is not None and owned != bot_id:
                continue
            alive = agent.last_seen_at is not None and agent.last_seen_at >= utc(live_since)
            untaken = any(
                h.bot_id == owned and h.agent_id == agent_id and h.acked_at is None
                for h in self._data.handoffs.values()
            )
            if agent.revoked_at is None and alive and not (agent.draining and untaken):
                continue
            found.append(bot)
        found.sort(key=lambda b: (b.join_at is None, b.join_at or b.created_at, b.id))
        return [b.id for b in found[:limit]]

    async def total_slots(self, live_since: datetime) -> int:
        return sum(a.slots for a in self._data.agents.values() if _usable(a, live_since))

    async def of_bot(self, bot_id: str) -> Agent | None:
        agent_id = self._data.bot_agent.get(bot_id)
        return self._data.agents.get(agent_id) if agent_id else None

    async def purge_handoffs(self, before: datetime) -> int:
        self.check_write("agents.purge_handoffs")
        old = [
            h.id
            for h in self._data.handoffs.values()
            if h.acked_at is not None and h.acked_at < utc(before)
        ]
        for handoff_id in old:
            del self._data.handoffs[handoff_id]
        return len(old)

    async def with_pending(self) -> set[str]:
        return {
            h.agent_id
            for h in self._data.handoffs.values()
            if h.acked_at is None and h.bot_id is not None
        }

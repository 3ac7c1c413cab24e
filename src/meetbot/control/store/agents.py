"""The SQL :class:`~meetbot.control.agent_repo.AgentRepo`: agents' rows and their hand-offs.

A claim is one conditional ``UPDATE`` of an agent's row (``claims = claims + 1`` where it still
offers a warm browser, or has room) plus the hand-off row it is recorded by, in the caller's
transaction. On PostgreSQL two replicas racing for the last browser of one agent serialise on
its row: the second one's ``WHERE`` is evaluated again on the row the first committed and
matches nothing, so it tries the next agent (:data:`CLAIM_TRIES`). The dispatcher's batch claims
with :meth:`SqlAgentRepo.claim_many` instead: the usable agents' rows locked, the claims spread
over them in Python (:func:`~meetbot.control.agents.spread_claims`), written together.
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from meetbot.control.agents import Agent, HandoffRow, HeartbeatRow, spread_claims, token_family
from meetbot.control.store.agent_tables import agent_handoffs, agents
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import bots

A = agents
H = agent_handoffs
CLAIM_TRIES = 5

_in_flight = sa.case((A.c.claims > A.c.received, A.c.claims - A.c.received), else_=0)
_room = A.c.slots - A.c.busy - _in_flight
_offered = A.c.warm_idle - _in_flight


def _agent(row: Any) -> Agent:
    return Agent(
        id=row.id,
        name=row.name,
        token_hash=row.token_hash,
        created_at=row.created_at,
        slots=row.slots,
        warm_idle=row.warm_idle,
        busy=row.busy,
        received=row.received,
        claims=row.claims,
        incarnation=row.incarnation,
        draining=bool(row.draining),
        bots=tuple(row.bots or ()),
        version=row.version,
        last_seen_at=row.last_seen_at,
        revoked_at=row.revoked_at,
    )


def _handoff(row: Any) -> HandoffRow:
    return HandoffRow(
        id=row.id,
        agent_id=row.agent_id,
        warm=bool(row.warm),
        created_at=row.created_at,
        bot_id=row.bot_id,
        assignment=row.assignment,
        acked_at=row.acked_at,
    )


def _usable(live_since: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(A.c.revoked_at.is_(None), A.c.last_seen_at >= live_since, sa.not_(A.c.draining))


@dataclass(frozen=True, slots=True)
class SqlAgentRepo(SqlRepo):
    async def add(self, agent: Agent) -> None:
        self.check_write("agents.add")
        await self.conn.execute(
            sa.insert(A).values(
                id=agent.id,
                name=agent.name,
                token_hash=agent.token_hash,
                slots=agent.slots,
                warm_idle=agent.warm_idle,
                busy=agent.busy,
                received=agent.received,
                claims=agent.claims,
                incarnation=agent.incarnation,
                draining=agent.draining,
                bots=list(agent.bots),
                version=agent.version,
                created_at=agent.created_at,
                last_seen_at=agent.last_seen_at,
                revoked_at=agent.revoked_at,
            )
        )

    async def get(self, agent_id: str) -> Agent | None:
        row = (await self.conn.execute(sa.select(A).where(A.c.id == agent_id))).first()
        return _agent(row) if row else None

    async def by_token(self, token_hash: str) -> Agent | None:
        row = (await self.conn.execute(sa.select(A).where(A.c.token_hash == token_hash))).first()
        return _agent(row) if row else None

    async def list_agents(self) -> builtins.list[Agent]:
        rows = await self.conn.execute(sa.select(A).order_by(A.c.created_at, A.c.id))
        return [_agent(row) for row in rows]

    async def revoke(self, agent_id: str, at: datetime) -> Agent | None:
        self.check_write("agents.revoke")
        agent = await self.get(agent_id)
        if agent is None:
            return None
        family = token_family(agent.token_hash)
        await self.conn.execute(
            sa.update(A)
            .where(
                sa.or_(A.c.token_hash == family, A.c.token_hash.startswith(family + "/")),
                A.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return await self.get(agent_id)

    async def prune(self, lost_before: datetime) -> int:
        self.check_write("agents.prune")
        waiting = sa.exists().where(H.c.agent_id == A.c.id, H.c.acked_at.is_(None))
        result = await self.conn.execute(
            sa.delete(A).where(
                A.c.token_hash.contains("/"),
                A.c.last_seen_at < lost_before,
                A.c.busy == 0,
                ~waiting,
            )
        )
        return int(result.rowcount or 0)

    async def heartbeat(self, agent_id: str, beat: HeartbeatRow, at: datetime) -> None:
        self.check_write("agents.heartbeat")
        values: dict[str, Any] = {
            "name": beat.name,
            "slots": beat.slots,
            "warm_idle": beat.warm_idle,
            "busy": beat.busy,
            "received": beat.received,
            "draining": beat.draining,
            "bots": list(beat.bots),
            "version": beat.version,
            "last_seen_at": at,
        }
        # A new incarnation counts ``received`` from 0: the hand-offs it will be answered are
        # the ones queued and not yet acknowledged.
        unacked = (
            sa.select(sa.func.count())
            .select_from(H)
            .where(H.c.agent_id == agent_id, H.c.acked_at.is_(None))
            .scalar_subquery()
        )
        values["claims"] = sa.case((A.c.incarnation == beat.incarnation, A.c.claims), else_=unacked)
        values["incarnation"] = beat.incarnation
        await self.conn.execute(sa.update(A).where(A.c.id == agent_id).values(**values))

    async def claim(
        self, handoff_id: str, *, warm: bool, live_since: datetime, at: datetime
    ) -> HandoffRow | None:
        self.check_write("agents.claim")
        free = _offered if warm else _room
        for _ in range(CLAIM_TRIES):
            pick = (
                sa.select(A.c.id)
                .where(_usable(live_since), free > 0, _room > 0)
                .order_by(free.desc(), A.c.id)
                .limit(1)
            )
            agent_id = (await self.conn.execute(pick)).scalar_one_or_none()
            if agent_id is None:
                return None
            claimed = (
                await self.conn.execute(
                    sa.update(A)
                    .where(A.c.id == agent_id, _usable(live_since), free > 0, _room > 0)
                    .values(claims=A.c.claims + 1)
                    .returning(A.c.id)
                )
            ).first()
            if claimed is None:
                continue  # another replica took it first: look again
            row = HandoffRow(handoff_id, agent_id, warm, at)
            await self.conn.execute(
                sa.insert(H).values(
                    id=row.id, agent_id=row.agent_id, warm=row.warm, created_at=row.created_at
                )
            )
            return row
        return None

    async def claim_many(
        self, handoff_ids: Sequence[str], *, live_since: datetime, at: datetime
    ) -> builtins.list[HandoffRow]:
        self.check_write("agents.claim_many")
        if not handoff_ids:
            return []
        # The usable agents' rows locked (in id order) for the rest of the transaction: the
        # spread computed from them stays true until COMMIT. Three statements for any count
        # (the update and the insert are each one executemany).
        found = await self.conn.execute(
            sa.select(A).where(_usable(live_since), _room > 0).order_by(A.c.id).with_for_update()
        )
        picks = spread_claims([_agent(row) for row in found], len(handoff_ids))
        if not picks:
            return []
        per_agent = Counter(agent_id for agent_id, _ in picks)
        await self.conn.execute(
            sa.update(A)
            .where(A.c.id == sa.bindparam("agent"))
            .values(claims=A.c.claims + sa.bindparam("count")),
            [{"agent": agent_id, "count": n} for agent_id, n in per_agent.items()],
        )
        rows = [
            HandoffRow(handoff_id, agent_id, warm, at)
            for handoff_id, (agent_id, warm) in zip(handoff_ids, picks, strict=False)
        ]
        await self.conn.execute(
            sa.insert(H),
            [
                {"id": r.id, "agent_id": r.agent_id, "warm": r.warm, "created_at": r.created_at}
                for r in rows
            ],
        )
        return rows

    async def queue_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        self.check_write("agents.queue_many")
        if not items:
            return
        ids = [handoff_id for handoff_id, _, _ in items]
        stale = (
            await self.conn.execute(
                sa.delete(H)
                .where(
                    H.c.bot_id.in_([bot_id for _, bot_id, _ in items]),
                    H.c.acked_at.is_(None),
                    H.c.id.not_in(ids),
                )
                .returning(H.c.agent_id)
            )
        ).all()
        for (agent_id,) in stale:  # rare: a bot handed out again
            await self.conn.execute(
                sa.update(A).where(A.c.id == agent_id, A.c.claims > 0).values(claims=A.c.claims - 1)
            )
        await self.conn.execute(
            sa.update(H)
            .where(H.c.id == sa.bindparam("handoff"))
            .values(bot_id=sa.bindparam("bot"), assignment=sa.bindparam("sealed")),
            [{"handoff": h, "bot": b, "sealed": s} for h, b, s in items],
        )
        await self.conn.execute(
            sa.update(bots)
            .where(bots.c.id == H.c.bot_id, H.c.id.in_(ids))
            .values(agent_id=H.c.agent_id)
        )

    async def queue(self, handoff_id: str, bot_id: str, assignment: str) -> None:
        self.check_write("agents.queue")
        # A bot handed out again: its earlier hand-offs not taken yet are void.
        stale = (
            await self.conn.execute(
                sa.delete(H)
                .where(H.c.bot_id == bot_id, H.c.acked_at.is_(None), H.c.id != handoff_id)
                .returning(H.c.agent_id)
            )
        ).all()
        for (agent_id,) in stale:
            await self.conn.execute(
                sa.update(A).where(A.c.id == agent_id, A.c.claims > 0).values(claims=A.c.claims - 1)
            )
        row = (
            await self.conn.execute(
                sa.update(H)
                .where(H.c.id == handoff_id)
                .values(bot_id=bot_id, assignment=assignment)
                .returning(H.c.agent_id)
            )
        ).first()
        if row is not None:
            await self.conn.execute(
                sa.update(bots).where(bots.c.id == bot_id).values(agent_id=row.agent_id)
            )

    async def release(self, handoff_id: str) -> bool:
        self.check_write("agents.release")
        row = (
            await self.conn.execute(
                sa.delete(H)
                .where(H.c.id == handoff_id, H.c.bot_id.is_(None))
                .returning(H.c.agent_id)
            )
        ).first()
        if row is None:
            return False
        await self.conn.execute(
            sa.update(A).where(A.c.id == row.agent_id, A.c.claims > 0).values(claims=A.c.claims - 1)
        )
        return True

    async def pending(self, agent_id: str, limit: int = 100) -> builtins.list[HandoffRow]:
        rows = await self.conn.execute(
            sa.select(H)
            .where(H.c.agent_id == agent_id, H.c.acked_at.is_(None), H.c.bot_id.is_not(None))
            .order_by(H.c.created_at, H.c.id)
            .limit(limit)
        )
        return [_handoff(row) for row in rows]

    async def ack(self, agent_id: str, handoff_ids: Collection[str], at: datetime) -> int:
        self.check_write("agents.ack")
        if not handoff_ids:
            return 0
        result = await self.conn.execute(
            sa.update(H)
            .where(H.c.agent_id == agent_id, H.c.id.in_(list(handoff_ids)), H.c.acked_at.is_(None))
            .values(acked_at=at)
        )
        return int(result.rowcount)

    async def stranded(
        self, live_since: datetime, limit: int = 100, *, bot_id: str | None = None
    ) -> builtins.list[str]:
        gone = sa.or_(
            A.c.revoked_at.is_not(None), A.c.last_seen_at.is_(None), A.c.last_seen_at < live_since
        )
        untaken = sa.exists().where(
            H.c.bot_id == bots.c.id, H.c.agent_id == A.c.id, H.c.acked_at.is_(None)
        )
        query = (
            sa.select(bots.c.id)
            .join(A, A.c.id == bots.c.agent_id)
            .where(bots.c.status == "booting", sa.or_(gone, sa.and_(A.c.draining, untaken)))
            .order_by(bots.c.join_at, bots.c.id)
            .limit(limit)
        )
        if bot_id is not None:
            query = query.where(bots.c.id == bot_id)
        return [row.id for row in await self.conn.execute(query)]

    async def total_slots(self, live_since: datetime) -> int:
        total = await self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(A.c.slots), 0)).where(_usable(live_since))
        )
        return int(total.scalar_one())

    async def of_bot(self, bot_id: str) -> Agent | None:
        row = (
            await self.conn.execute(
                sa.select(A).join(bots, bots.c.agent_id == A.c.id).where(bots.c.id == bot_id)
            )
        ).first()
        return _agent(row) if row else None

    async def purge_handoffs(self, before: datetime) -> int:
        self.check_write("agents.purge_handoffs")
        result = await self.conn.execute(
            sa.delete(H).where(H.c.acked_at.is_not(None), H.c.acked_at < before)
        )
        return int(result.rowcount)

    async def with_pending(self) -> set[str]:
        rows = await self.conn.execute(
            sa.select(H.c.agent_id)
            .where(H.c.acked_at.is_(None), H.c.bot_id.is_not(None))
            .distinct()
        )
        return {row.agent_id for row in rows}

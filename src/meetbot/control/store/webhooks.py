"""The SQL :class:`~meetbot.control.webhooks.ports.WebhookRepo`: endpoints and the delivery queue.

Claiming (see :meth:`SqlWebhookRepo.claim`) picks due rows that have no earlier open row of
their ordering key, so per (target, bot) only the oldest undelivered delivery is ever eligible,
whatever state the ``next_attempt_at`` hints are in. On PostgreSQL the claim is ``FOR UPDATE
SKIP LOCKED``, so several workers (or replicas) share the queue; SQLite has a single writer.
A lease ends by itself: a worker killed mid-delivery leaves a ``delivering`` row whose
``next_attempt_at`` (= ``lease_until``) passes, and the next claim takes it again.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.webhook_rows import (
    FINAL,
    RECORD_ATTEMPT,
    attempt_row,
    claimed_from_row,
    delivery_from_row,
    delivery_values,
    endpoint_from_row,
    endpoint_values,
    record_params,
)
from meetbot.control.store.webhook_tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from meetbot.control.webhooks.models import (
    OPEN_STATUSES,
    Attempt,
    AttemptRecord,
    ClaimedDelivery,
    Delivery,
    DeliveryStatus,
    WebhookEndpoint,
)

E = webhook_endpoints
D = webhook_deliveries
A = webhook_attempts
_OPEN = sorted(OPEN_STATUSES)
# Built once: every emitted event looks up its workspace's endpoints.
_ENABLED_ENDPOINTS = (
    sa.select(E)
    .where(E.c.workspace_id == sa.bindparam("workspace_id"), E.c.enabled.is_(True))
    .order_by(E.c.seq)
)


def _earliest_open() -> sa.ColumnElement[bool]:
    """For a row of ``D``: no open delivery of the same ordering key comes before it."""
    p = D.alias("p")
    earlier = sa.select(sa.literal(1)).where(
        p.c.order_key == D.c.order_key, p.c.status.in_(_OPEN), p.c.seq < D.c.seq
    )
    return ~earlier.exists()


NO_EARLIER_OPEN = _earliest_open()
CUSTOM_PLANS = sa.text("SET LOCAL plan_cache_mode = force_custom_plan")
"""PostgreSQL, for the queue's scans: psycopg prepares a statement after its fifth run and the
server then keeps a *generic* plan when it costs about what the custom ones did. The queue
starts empty, so the claim's generic plan was costed on an empty table and stayed: with a
backlog of 10,000, each claim took seconds and a drain crawled at a few deliveries a second.
Planned with its parameters each time (about a millisecond), a claim stays in milliseconds.
Only these statements: forcing custom plans on every connection slowed creates at 200/s on
PostgreSQL (p99 0.95 s against 0.29 s, bench/api_create.py)."""


@dataclass(frozen=True, slots=True)
class SqlWebhookRepo(SqlRepo):
    # --- endpoints -------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.check_write("webhooks.add_endpoint")
        values = endpoint_values(endpoint) | {
            "id": endpoint.id,
            "workspace_id": endpoint.workspace_id,
            "created_at": endpoint.created_at,
        }
        stmt = sa.insert(E).values(**values).returning(E.c.seq)
        seq = (await self.conn.execute(stmt)).scalar_one()
        return endpoint.evolve(seq=seq)

    async def get_endpoint(
        self, endpoint_id: str, *, workspace_id: str | None = None
    ) -> WebhookEndpoint | None:
        stmt = sa.select(E).where(E.c.id == endpoint_id)
        if workspace_id is not None:
            stmt = stmt.where(E.c.workspace_id == workspace_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else endpoint_from_row(row)

    async def list_endpoints(
        self, workspace_id: str, *, before_seq: int | None, limit: int
    ) -> list[WebhookEndpoint]:
        stmt = sa.select(E).where(E.c.workspace_id == workspace_id)
        if before_seq is not None:
            stmt = stmt.where(E.c.seq < before_seq)
        stmt = stmt.order_by(E.c.seq.desc()).limit(max(limit, 0))
        return [endpoint_from_row(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def enabled_endpoints(self, workspace_id: str) -> list[WebhookEndpoint]:
        rows = await self.conn.execute(_ENABLED_ENDPOINTS, {"workspace_id": workspace_id})
        return [endpoint_from_row(r) for r in rows.mappings()]

    async def update_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self.check_write("webhooks.update_endpoint")
        stmt = sa.update(E).where(E.c.id == endpoint.id).values(**endpoint_values(endpoint))
        await self.conn.execute(stmt)

    async def delete_endpoint(self, endpoint_id: str) -> None:
        self.check_write("webhooks.delete_endpoint")
        ids = sa.select(D.c.id).where(D.c.endpoint_id == endpoint_id)
        await self.conn.execute(sa.delete(A).where(A.c.delivery_id.in_(ids)))
        await self.conn.execute(sa.delete(D).where(D.c.endpoint_id == endpoint_id))
        await self.conn.execute(sa.delete(E).where(E.c.id == endpoint_id))

    # --- the queue -------------------------------------------------------------------------

    async def add_deliveries(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        self.check_write("webhooks.add_deliveries")
        if not deliveries:
            return
        keys = {d.order_key for d in deliveries}
        busy_stmt = (
            sa.select(D.c.order_key)
            .where(D.c.order_key.in_(keys), D.c.status.in_(_OPEN))
            .distinct()
        )
        busy = set((await self.conn.execute(busy_stmt)).scalars())
        rows = []
        for d in deliveries:
            rows.append(delivery_values(d, None if d.order_key in busy else now))
            busy.add(d.order_key)
        await self.conn.execute(sa.insert(D), rows)

    async def claim(
        self, now: datetime, lease_until: datetime, limit: int, token: str, *, run: int = 1
    ) -> list[ClaimedDelivery]:
        self.check_write("webhooks.claim")
        if self.is_postgres:
            await self.conn.execute(CUSTOM_PLANS)
        head_stmt = (
            self._claimable()
            .where(
                D.c.status.in_(_OPEN),
                D.c.next_attempt_at <= now,
                sa.or_(D.c.endpoint_id.is_(None), E.c.enabled.is_(True)),
                NO_EARLIER_OPEN,
            )
            .order_by(D.c.next_attempt_at, D.c.seq)
            .limit(max(limit, 0))
        )
        if self.is_postgres:
            head_stmt = head_stmt.with_for_update(skip_locked=True, of=D)
        heads = list((await self.conn.execute(head_stmt)).mappings())
        if not heads:
            return []
        followers = await self._followers(heads, now, run) if run > 1 else {}
        rows = [r for head in heads for r in (head, *followers.get(head["order_key"], ()))]
        await self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_([r["id"] for r in rows]))
            .values(
                status=DeliveryStatus.DELIVERING.value,
                claim_token=token,
                lease_until=lease_until,
                next_attempt_at=lease_until,
            )
        )
        return [claimed_from_row(row, token, lease_until, now) for row in rows]

    @staticmethod
    def _claimable() -> sa.Select[Any]:
        """Delivery rows with what sending needs of their endpoint."""
        return sa.select(
            D,
            E.c.url.label("endpoint_url"),
            E.c.secret.label("endpoint_secret"),
            E.c.previous_secret,
            E.c.previous_secret_until,
        ).select_from(D.outerjoin(E, E.c.id == D.c.endpoint_id))

    async def _followers(
        self, heads: Sequence[sa.RowMapping], now: datetime, run: int
    ) -> dict[str, list[sa.RowMapping]]:
        """Per claimed head, the open deliveries right behind it (at most ``run - 1``) that
        may go out once it is done: pending and waiting or due. The first one that is not
        (another worker's, or backing off) ends the run, so a run is always contiguous."""
        head_ids = {h["id"] for h in heads}
        rank = sa.func.row_number().over(partition_by=D.c.order_key, order_by=D.c.seq)
        ranked = (
            sa.select(D.c.id, D.c.order_key, rank.label("rank"))
            .where(D.c.order_key.in_({h["order_key"] for h in heads}), D.c.status.in_(_OPEN))
            .subquery()
        )
        queued = sa.select(ranked.c.id).where(ranked.c.rank <= run)
        stmt = self._claimable().where(D.c.id.in_(queued)).order_by(D.c.order_key, D.c.seq)
        if self.is_postgres:
            stmt = stmt.with_for_update(of=D)
        found: dict[str, list[sa.RowMapping]] = {}
        ended: set[str] = set()
        for row in (await self.conn.execute(stmt)).mappings():
            key = row["order_key"]
            if row["id"] in head_ids or key in ended:
                continue
            due = row["next_attempt_at"] is None or row["next_attempt_at"] <= now
            if row["status"] == DeliveryStatus.PENDING.value and due:
                found.setdefault(key, []).append(row)
            else:
                ended.add(key)
        return found

    async def record(self, records: Sequence[AttemptRecord], now: datetime) -> int:
        self.check_write("webhooks.record")
        if not records:
            return 0
        held_stmt = sa.select(
            D.c.id, D.c.claim_token, D.c.order_key, D.c.endpoint_id, D.c.url
        ).where(
            D.c.id.in_([r.delivery_id for r in records]),
            D.c.status == DeliveryStatus.DELIVERING.value,
        )
        if self.is_postgres:
            held_stmt = held_stmt.with_for_update()
        held = {row.id: row for row in await self.conn.execute(held_stmt)}
        # A row that no longer carries the claim's token was claimed again after its lease
        # ran out (or its endpoint was deleted): that result is not ours to record.
        mine = [
            r
            for r in records
            if r.delivery_id in held and held[r.delivery_id].claim_token == r.token
        ]
        if not mine:
            return 0
        await self.conn.execute(RECORD_ATTEMPT, [record_params(r) for r in mine])
        await self.conn.execute(sa.insert(A), [attempt_row(r.attempt) for r in mine])
        finished = {held[r.delivery_id].order_key for r in mine if r.status in FINAL}
        if finished:  # the next delivery of each finished key, if it waits, is due now
            heads = (
                sa.select(sa.func.min(D.c.seq))
                .where(D.c.order_key.in_(finished), D.c.status.in_(_OPEN))
                .group_by(D.c.order_key)
            )
            await self.conn.execute(
                sa.update(D)
                .where(D.c.seq.in_(heads), D.c.next_attempt_at.is_(None))
                .values(next_attempt_at=now)
            )
        ok = [held[r.delivery_id] for r in mine if r.status is DeliveryStatus.DELIVERED]
        if ok:
            await self._target_is_back(
                {row.endpoint_id for row in ok if row.endpoint_id},
                {row.url for row in ok if row.endpoint_id is None},
                now,
            )
        return len(mine)

    async def _target_is_back(self, endpoint_ids: set[str], urls: set[str], now: datetime) -> None:
        """Deliveries to these targets backing off after connection failures are due now."""
        backing_off = (
            D.c.status == DeliveryStatus.PENDING.value,
            D.c.next_attempt_at > now,
            D.c.last_status_code.is_(None),
            D.c.attempts > 0,
        )
        if endpoint_ids:
            await self.conn.execute(
                sa.update(D)
                .where(D.c.endpoint_id.in_(endpoint_ids), *backing_off)
                .values(next_attempt_at=now)
            )
        if urls:
            await self.conn.execute(
                sa.update(D)
                .where(D.c.endpoint_id.is_(None), D.c.url.in_(urls), *backing_off)
                .values(next_attempt_at=now)
            )

    async def release(
        self,
        token: str,
        delivery_ids: Sequence[str],
        now: datetime,
        *,
        waiting: Sequence[str] = (),
    ) -> None:
        self.check_write("webhooks.release")
        for ids, next_attempt_at in ((delivery_ids, now), (waiting, None)):
            if not ids:
                continue
            await self.conn.execute(
                sa.update(D)
                .where(
                    D.c.id.in_(list(ids)),
                    D.c.claim_token == token,
                    D.c.status == DeliveryStatus.DELIVERING.value,
                )
                .values(
                    status=DeliveryStatus.PENDING.value,
                    next_attempt_at=next_attempt_at,
                    lease_until=None,
                    claim_token=None,
                )
            )

    async def promote_waiting(self, now: datetime) -> int:
        self.check_write("webhooks.promote_waiting")
        if self.is_postgres:
            await self.conn.execute(CUSTOM_PLANS)
        stmt = (
            sa.update(D)
            .where(
                D.c.status == DeliveryStatus.PENDING.value,
                D.c.next_attempt_at.is_(None),
                NO_EARLIER_OPEN,
            )
            .values(next_attempt_at=now)
        )
        result = await self.conn.execute(stmt)
        return int(result.rowcount)

    # --- reading ---------------------------------------------------------------------------

    async def get_delivery(
        self, delivery_id: str, *, endpoint_id: str | None = None
    ) -> Delivery | None:
        stmt = sa.select(D).where(D.c.id == delivery_id)
        if endpoint_id is not None:
            stmt = stmt.where(D.c.endpoint_id == endpoint_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else delivery_from_row(row)

    async def list_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None,
        before_seq: int | None,
        limit: int,
    ) -> builtins.list[Delivery]:
        stmt = sa.select(D).where(D.c.endpoint_id == endpoint_id)
        if status is not None:
            stmt = stmt.where(D.c.status == status.value)
        if before_seq is not None:
            stmt = stmt.where(D.c.seq < before_seq)
        stmt = stmt.order_by(D.c.seq.desc()).limit(max(limit, 0))
        return [delivery_from_row(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def list_attempts(self, delivery_id: str, limit: int) -> builtins.list[Attempt]:
        stmt = (
            sa.select(A)
            .where(A.c.delivery_id == delivery_id)
            .order_by(A.c.seq.desc())
            .limit(max(limit, 0))
        )
        rows = list((await self.conn.execute(stmt)).mappings())
        return [
            Attempt(
                r["delivery_id"], r["at"], r["status_code"], r["latency_ms"], r["error"], r["url"]
            )
            for r in reversed(rows)
        ]

    async def reschedule(self, delivery_id: str, at: datetime) -> None:
        self.check_write("webhooks.reschedule")
        await self.conn.execute(
            sa.update(D)
            .where(D.c.id == delivery_id, D.c.status == DeliveryStatus.PENDING.value)
            .values(next_attempt_at=at)
        )

    async def prune(self, before: datetime, limit: int) -> int:
        self.check_write("webhooks.prune")
        old = (
            sa.select(D.c.id)
            .where(D.c.status.in_([s.value for s in FINAL]), D.c.created_at < before)
            .order_by(D.c.seq)
            .limit(max(limit, 0))
        )
        ids = list((await self.conn.execute(old)).scalars())
        if ids:
            await self.conn.execute(sa.delete(A).where(A.c.delivery_id.in_(ids)))
            await self.conn.execute(sa.delete(D).where(D.c.id.in_(ids)))
        return len(ids)

"""An in-memory :class:`~meetbot.control.webhooks.ports.WebhookRepo` with the SQL one's semantics.

:class:`MemoryWebhookData` lives in the memory store's state and is copied with it, so webhook
rows commit and roll back with the rest of a transaction.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from meetbot.control.webhooks.models import (
    OPEN_STATUSES,
    Attempt,
    AttemptRecord,
    ClaimedDelivery,
    Delivery,
    DeliveryStatus,
    WebhookEndpoint,
    signing_secrets,
)
from meetbot.errors import Conflict
from meetbot.timefmt import utc


class ReadOnlyTransactionError(RuntimeError):
    """A write was attempted in a ``transaction(write=False)``."""


@dataclass(slots=True)
class MemoryWebhookData:
    """Every webhook row. Committed data is never mutated; writers mutate a :meth:`copy`."""

    endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    endpoint_seq: int = 0
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    """By id, in ``seq`` order (insertion order)."""
    delivery_seq: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    """Delivery id → claim token, while claimed."""
    attempts: list[Attempt] = field(default_factory=list)

    def copy(self) -> MemoryWebhookData:
        return MemoryWebhookData(
            endpoints=dict(self.endpoints),
            endpoint_seq=self.endpoint_seq,
            deliveries=dict(self.deliveries),
            delivery_seq=self.delivery_seq,
            tokens=dict(self.tokens),
            attempts=list(self.attempts),
        )


def _is_open(d: Delivery) -> bool:
    return d.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class MemoryWebhookRepo:
    data: MemoryWebhookData
    writable: bool

    def _check_write(self, what: str) -> None:
        if not self.writable:
            raise ReadOnlyTransactionError(f"{what} needs transaction(write=True)")

    # --- endpoints -------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self._check_write("webhooks.add_endpoint")
        if endpoint.id in self.data.endpoints:
            raise Conflict(f"A webhook endpoint with id {endpoint.id} already exists.")
        self.data.endpoint_seq += 1
        stored = _normalised_endpoint(endpoint).evolve(seq=self.data.endpoint_seq)
        self.data.endpoints[endpoint.id] = stored
        return endpoint.evolve(seq=stored.seq)

    async def get_endpoint(
        self, endpoint_id: str, *, workspace_id: str | None = None
    ) -> WebhookEndpoint | None:
        found = self.data.endpoints.get(endpoint_id)
        if found is None or (workspace_id is not None and found.workspace_id != workspace_id):
            return None
        return found

    async def list_endpoints(
        self, workspace_id: str, *, before_seq: int | None, limit: int
    ) -> builtins.list[WebhookEndpoint]:
        found = [
            e
            for e in self.data.endpoints.values()
            if e.workspace_id == workspace_id and (before_seq is None or (e.seq or 0) < before_seq)
        ]
        found.sort(key=lambda e: e.seq or 0, reverse=True)
        return found[: max(limit, 0)]

    async def enabled_endpoints(self, workspace_id: str) -> builtins.list[WebhookEndpoint]:
        found = [
            e for e in self.data.endpoints.values() if e.workspace_id == workspace_id and e.enabled
        ]
        return sorted(found, key=lambda e: e.seq or 0)

    async def update_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._check_write("webhooks.update_endpoint")
        old = self.data.endpoints.get(endpoint.id)
        if old is None:
            return
        self.data.endpoints[endpoint.id] = _normalised_endpoint(endpoint).evolve(
            seq=old.seq, workspace_id=old.workspace_id, created_at=old.created_at
        )

    async def delete_endpoint(self, endpoint_id: str) -> None:
        self._check_write("webhooks.delete_endpoint")
        gone = {d.id for d in self.data.deliveries.values() if d.endpoint_id == endpoint_id}
        for delivery_id in gone:
            del self.data.deliveries[delivery_id]
            self.data.tokens.pop(delivery_id, None)
        self.data.attempts[:] = [a for a in self.data.attempts if a.delivery_id not in gone]
        self.data.endpoints.pop(endpoint_id, None)

    # --- the queue -------------------------------------------------------------------------

    async def add_deliveries(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        self._check_write("webhooks.add_deliveries")
        busy = {d.order_key for d in self.data.deliveries.values() if _is_open(d)}
        for d in deliveries:
            if d.id in self.data.deliveries:
                raise Conflict(f"A delivery with id {d.id} already exists.")
            self.data.delivery_seq += 1
            self.data.deliveries[d.id] = d.evolve(
                seq=self.data.delivery_seq,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=None if d.order_key in busy else utc(now),
                lease_until=None,
                created_at=utc(d.created_at),
                expires_at=utc(d.expires_at),
            )
            busy.add(d.order_key)

    def _heads(self) -> dict[str, Delivery]:
        """The oldest open delivery of every ordering key."""
        heads: dict[str, Delivery] = {}
        for d in self.data.deliveries.values():
            if _is_open(d) and d.order_key not in heads:
                heads[d.order_key] = d
        return heads

    async def claim(
        self, now: datetime, lease_until: datetime, limit: int, token: str, *, run: int = 1
    ) -> builtins.list[ClaimedDelivery]:
        self._check_write("webhooks.claim")
        now, lease_until = utc(now), utc(lease_until)

        def due(d: Delivery) -> bool:
            if d.next_attempt_at is None or d.next_attempt_at > now:
                return False
            endpoint = self.data.endpoints.get(d.endpoint_id) if d.endpoint_id else None
            return d.endpoint_id is None or (endpoint is not None and endpoint.enabled)

        heads = sorted(
            filter(due, self._heads().values()),
            key=lambda d: (d.next_attempt_at, d.seq or 0),
        )
        claimed = []
        for d in [r for h in heads[: max(limit, 0)] for r in self._run(h, now, run)]:
            leased = d.evolve(
                status=DeliveryStatus.DELIVERING,
                lease_until=lease_until,
                next_attempt_at=lease_until,
            )
            self.data.deliveries[d.id] = leased
            self.data.tokens[d.id] = token
            if d.endpoint_id is None:
                url, secrets = d.url, signing_secrets(d.secret, None, None, now)
            else:
                e = self.data.endpoints[d.endpoint_id]
                url = e.url
                secrets = signing_secrets(e.secret, e.previous_secret, e.previous_secret_until, now)
            claimed.append(ClaimedDelivery(leased, token, url, secrets))
        return claimed

    def _run(self, head: Delivery, now: datetime, run: int) -> builtins.list[Delivery]:
        """``head`` and the contiguous pending, waiting or due deliveries right behind it."""
        queue = sorted(
            (
                d
                for d in self.data.deliveries.values()
                if _is_open(d) and d.order_key == head.order_key
            ),
            key=lambda d: d.seq or 0,
        )
        taken = [head]
        for d in queue[1:run]:
            if d.status is not DeliveryStatus.PENDING:
                break
            if d.next_attempt_at is not None and d.next_attempt_at > now:
                break
            taken.append(d)
        return taken

    async def record(self, records: Sequence[AttemptRecord], now: datetime) -> int:
        self._check_write("webhooks.record")
        applied = 0
        for record in records:
            d = self.data.deliveries.get(record.delivery_id)
            if (
                d is None
                or d.status is not DeliveryStatus.DELIVERING
                or self.data.tokens.get(d.id) != record.token
            ):
                continue
            a = record.attempt
            final = record.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
            self.data.deliveries[d.id] = d.evolve(
                status=record.status,
                attempts=d.attempts + 1,
                next_attempt_at=None if final else _opt_utc(record.next_attempt_at),
                lease_until=None,
                last_status_code=a.status_code,
                last_error=a.error,
                last_latency_ms=a.latency_ms,
                delivered_at=utc(a.at) if record.status is DeliveryStatus.DELIVERED else None,
            )
            del self.data.tokens[d.id]
            self.data.attempts.append(dataclasses.replace(a, at=utc(a.at)))
            applied += 1
            if final:
                head = self._heads().get(d.order_key)
                if head is not None and head.next_attempt_at is None:
                    self.data.deliveries[head.id] = head.evolve(next_attempt_at=utc(now))
            if record.status is DeliveryStatus.DELIVERED:
                self._target_is_back(d, utc(now))
        return applied

    def _target_is_back(self, done: Delivery, now: datetime) -> None:
        """Deliveries to ``done``'s target backing off after connection failures are due now."""
        for d in list(self.data.deliveries.values()):
            same_target = (
                d.endpoint_id == done.endpoint_id
                if done.endpoint_id
                else d.endpoint_id is None and d.url == done.url
            )
            if (
                same_target
                and d.status is DeliveryStatus.PENDING
                and d.next_attempt_at is not None
                and d.next_attempt_at > now
                and d.last_status_code is None
                and d.attempts > 0
            ):
                self.data.deliveries[d.id] = d.evolve(next_attempt_at=now)

    async def release(
        self,
        token: str,
        delivery_ids: Sequence[str],
        now: datetime,
        *,
        waiting: Sequence[str] = (),
    ) -> None:
        self._check_write("webhooks.release")
        for ids, next_attempt_at in ((delivery_ids, utc(now)), (waiting, None)):
            for delivery_id in ids:
                d = self.data.deliveries.get(delivery_id)
                if d is None or d.status is not DeliveryStatus.DELIVERING:
                    continue
                if self.data.tokens.get(delivery_id) != token:
                    continue
                del self.data.tokens[delivery_id]
                self.data.deliveries[delivery_id] = d.evolve(
                    status=DeliveryStatus.PENDING, next_attempt_at=next_attempt_at, lease_until=None
                )

    async def promote_waiting(self, now: datetime) -> int:
        self._check_write("webhooks.promote_waiting")
        promoted = 0
        for head in self._heads().values():
            if head.status is DeliveryStatus.PENDING and head.next_attempt_at is None:
                self.data.deliveries[head.id] = head.evolve(next_attempt_at=utc(now))
                promoted += 1
        return promoted

    # --- reading ---------------------------------------------------------------------------

    async def get_delivery(
        self, delivery_id: str, *, endpoint_id: str | None = None
    ) -> Delivery | None:
        d = self.data.deliveries.get(delivery_id)
        if d is None or (endpoint_id is not None and d.endpoint_id != endpoint_id):
            return None
        return d

    async def list_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None,
        before_seq: int | None,
        limit: int,
    ) -> builtins.list[Delivery]:
        found = [
            d
            for d in self.data.deliveries.values()
            if d.endpoint_id == endpoint_id
            and (status is None or d.status is status)
            and (before_seq is None or (d.seq or 0) < before_seq)
        ]
        found.reverse()
        return found[: max(limit, 0)]

    async def list_attempts(self, delivery_id: str, limit: int) -> builtins.list[Attempt]:
        found = [a for a in self.data.attempts if a.delivery_id == delivery_id]
        return found[-limit:] if limit > 0 else []

    async def reschedule(self, delivery_id: str, at: datetime) -> None:
        self._check_write("webhooks.reschedule")
        d = self.data.deliveries.get(delivery_id)
        if d is not None and d.status is DeliveryStatus.PENDING:
            self.data.deliveries[delivery_id] = d.evolve(next_attempt_at=utc(at))

    async def prune(self, before: datetime, limit: int) -> int:
        self._check_write("webhooks.prune")
        before = utc(before)
        old = [
            d.id for d in self.data.deliveries.values() if not _is_open(d) and d.created_at < before
        ][: max(limit, 0)]
        for delivery_id in old:
            del self.data.deliveries[delivery_id]
        gone = set(old)
        self.data.attempts = [a for a in self.data.attempts if a.delivery_id not in gone]
        return len(old)


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _normalised_endpoint(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return endpoint.evolve(
        created_at=utc(endpoint.created_at),
        updated_at=utc(endpoint.updated_at),
        previous_secret_until=_opt_utc(endpoint.previous_secret_until),
        event_types=None if endpoint.event_types is None else tuple(endpoint.event_types),
    )

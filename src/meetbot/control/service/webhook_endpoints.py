"""Webhook use cases behind the API: endpoints, deliveries, retries, replays, the events feed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from meetbot import errors
from meetbot.contract.models import OutboxEvent
from meetbot.control.cursors import CursorCodec
from meetbot.control.webhooks import outbox, sealed_secrets, signing
from meetbot.control.webhooks.models import Attempt, Delivery, DeliveryStatus, Page, WebhookEndpoint
from meetbot.control.webhooks.ports import WebhookStore, WebhookTx
from meetbot.control.webhooks.targets import (
    Resolver,
    TargetPolicy,
    system_resolver,
    validate_webhook_url,
)
from meetbot.crypto import SecretBox
from meetbot.ports import Clock
from meetbot.timefmt import utc
from meetbot.unset import UNSET, Unset

if TYPE_CHECKING:
    from meetbot.config import Settings

ROTATION_OVERLAP = timedelta(hours=24)
"""After a rotation, the previous secret also signs for this long."""
MAX_ENDPOINTS = 100
MAX_ATTEMPTS_SHOWN = 100
REPLAY_CHUNK = 500


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    url: str
    event_types: tuple[str, ...] | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class EndpointPatch:
    url: str | None = None
    event_types: tuple[str, ...] | Literal[Unset.UNSET] | None = UNSET
    """``None`` means every event type; leave it ``UNSET`` to keep the filter."""
    enabled: bool | None = None


def check_event_types(event_types: Sequence[str] | None) -> tuple[str, ...] | None:
    if event_types is None:
        return None
    unknown = sorted(set(event_types) - set(outbox.EVENT_TYPES))
    if unknown:
        known = ", ".join(outbox.EVENT_TYPES)
        raise errors.InvalidRequest(f"event_types: unknown {', '.join(unknown)} (known: {known})")
    if not event_types:
        raise errors.InvalidRequest("event_types: empty; use null for every event type")
    return tuple(dict.fromkeys(event_types))


def _noop() -> None:
    return None


@dataclass(frozen=True, slots=True)
class WebhookService:
    store: WebhookStore
    clock: Clock
    policy: TargetPolicy
    retry_window: float = outbox.DEFAULT_RETRY_WINDOW
    notify: Callable[[], None] = _noop
    """Called after new deliveries commit (wakes the delivery worker)."""
    resolver: Resolver = field(default=system_resolver)
    cursors: CursorCodec = field(default_factory=CursorCodec.ephemeral)
    """Pass the server's codec: an ephemeral one's cursors die with this object."""
    box: SecretBox | None = None
    """Seals endpoints' secrets at rest; ``None`` stores them as they are (tests)."""

    @classmethod
    def from_settings(
        cls,
        store: WebhookStore,
        clock: Clock,
        settings: Settings,
        notify: Callable[[], None] = _noop,
        cursors: CursorCodec | None = None,
        box: SecretBox | None = None,
    ) -> WebhookService:
        policy = TargetPolicy.from_settings(settings)
        return cls(
            store,
            clock,
            policy,
            settings.webhook_retry_window,
            notify,
            cursors=cursors or CursorCodec.ephemeral(),
            box=box,
        )

    # --- endpoints -------------------------------------------------------------------------

    async def create_endpoint(self, workspace_id: str, spec: EndpointSpec) -> WebhookEndpoint:
        """Register an endpoint; the returned value carries its secret (show it once)."""
        await validate_webhook_url(spec.url, self.policy, self.resolver)
        now = self.clock.now()
        endpoint_id = outbox.new_id()
        secret = signing.new_secret()
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            workspace_id=workspace_id,
            url=spec.url,
            event_types=check_event_types(spec.event_types),
            enabled=spec.enabled,
            secret=sealed_secrets.seal(self.box, endpoint_id, secret),
            created_at=now,
            updated_at=now,
        )
        async with self.store.transaction() as tx:
            existing = await tx.webhooks.list_endpoints(
                workspace_id, before_seq=None, limit=MAX_ENDPOINTS
            )
            if len(existing) >= MAX_ENDPOINTS:
                raise errors.InvalidRequest(f"A workspace has at most {MAX_ENDPOINTS} endpoints.")
            added = await tx.webhooks.add_endpoint(endpoint)
        return added.evolve(secret=secret)  # the plaintext, this once

    async def list_endpoints(
        self, workspace_id: str, cursor: str | None = None, limit: int = 50
    ) -> Page[WebhookEndpoint]:
        before = self.cursors.decode("endpoints", workspace_id, cursor) if cursor else None
        async with self.store.transaction(write=False) as tx:
            found = await tx.webhooks.list_endpoints(workspace_id, before_seq=before, limit=limit)
        last = found[-1].seq if len(found) == limit and found else None
        next_page = (
            self.cursors.encode("endpoints", workspace_id, last) if last is not None else None
        )
        return Page(found, next_page)

    async def get_endpoint(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
        async with self.store.transaction(write=False) as tx:
            found = await tx.webhooks.get_endpoint(endpoint_id, workspace_id=workspace_id)
        if found is None:
            raise errors.NotFound("No webhook endpoint with this id.")
        return found

    async def update_endpoint(
        self, workspace_id: str, endpoint_id: str, patch: EndpointPatch
    ) -> WebhookEndpoint:
        if patch.url is not None:
            await validate_webhook_url(patch.url, self.policy, self.resolver)
        changes: dict[str, object] = {"updated_at": self.clock.now()}
        if patch.url is not None:
            changes["url"] = patch.url
        if patch.event_types is not UNSET:
            changes["event_types"] = check_event_types(patch.event_types)
        if patch.enabled is not None:
            changes["enabled"] = patch.enabled
        async with self.store.transaction() as tx:
            found = await tx.webhooks.get_endpoint(endpoint_id, workspace_id=workspace_id)
            if found is None:
                raise errors.NotFound("No webhook endpoint with this id.")
            updated = found.evolve(**changes)
            await tx.webhooks.update_endpoint(updated)
        self.notify()  # re-enabled or re-pointed: its waiting deliveries may go now
        return updated

    async def delete_endpoint(self, workspace_id: str, endpoint_id: str) -> None:
        async with self.store.transaction() as tx:
            if await tx.webhooks.get_endpoint(endpoint_id, workspace_id=workspace_id) is None:
                raise errors.NotFound("No webhook endpoint with this id.")
            await tx.webhooks.delete_endpoint(endpoint_id)

    async def rotate_secret(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
        """A new secret (returned once); the old one also signs for :data:`ROTATION_OVERLAP`."""
        now = self.clock.now()
        secret = signing.new_secret()
        async with self.store.transaction() as tx:
            found = await tx.webhooks.get_endpoint(endpoint_id, workspace_id=workspace_id)
            if found is None:
                raise errors.NotFound("No webhook endpoint with this id.")
            rotated = found.evolve(
                secret=sealed_secrets.seal(self.box, endpoint_id, secret),
                previous_secret=found.secret,
                previous_secret_until=now + ROTATION_OVERLAP,
                updated_at=now,
            )
            await tx.webhooks.update_endpoint(rotated)
        return rotated.evolve(secret=secret)  # the plaintext, this once

    # --- deliveries ------------------------------------------------------------------------

    async def list_deliveries(
        self,
        workspace_id: str,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Delivery]:
        kind = f"deliveries:{endpoint_id}"
        before = self.cursors.decode(kind, workspace_id, cursor) if cursor else None
        async with self.store.transaction(write=False) as tx:
            if await tx.webhooks.get_endpoint(endpoint_id, workspace_id=workspace_id) is None:
                raise errors.NotFound("No webhook endpoint with this id.")
            found = await tx.webhooks.list_deliveries(
                endpoint_id, status=status, before_seq=before, limit=limit
            )
        last = found[-1].seq if len(found) == limit and found else None
        return Page(
            found, self.cursors.encode(kind, workspace_id, last) if last is not None else None
        )

    async def get_delivery(
        self, workspace_id: str, endpoint_id: str, delivery_id: str
    ) -> tuple[Delivery, list[Attempt]]:
        async with self.store.transaction(write=False) as tx:
            delivery = await self._delivery(tx, workspace_id, endpoint_id, delivery_id)
            attempts = await tx.webhooks.list_attempts(delivery_id, MAX_ATTEMPTS_SHOWN)
        return delivery, attempts

    async def retry_delivery(
        self, workspace_id: str, endpoint_id: str, delivery_id: str
    ) -> Delivery:
        """A pending delivery is tried now; a finished one is queued again as a new delivery
        (same event, same ``webhook-id``) behind the endpoint's other deliveries for its bot."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            old = await self._delivery(tx, workspace_id, endpoint_id, delivery_id)
            if old.status is DeliveryStatus.DELIVERING:
                raise errors.Conflict("This delivery is being attempted right now.")
            if old.status is DeliveryStatus.PENDING:
                await tx.webhooks.reschedule(old.id, now)
                result = await tx.webhooks.get_delivery(old.id)
                assert result is not None
            else:
                fresh = Delivery(
                    id=outbox.new_id(),
                    workspace_id=old.workspace_id,
                    event_id=old.event_id,
                    event_seq=old.event_seq,
                    event_type=old.event_type,
                    bot_id=old.bot_id,
                    endpoint_id=old.endpoint_id,
                    url=old.url,
                    body=old.body,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.retry_window),
                )
                await tx.webhooks.add_deliveries([fresh], now)
                result = await tx.webhooks.get_delivery(fresh.id)
                assert result is not None
        self.notify()
        return result

    async def replay(
        self, workspace_id: str, endpoint_id: str, start: datetime, end: datetime
    ) -> int:
        """Queue the workspace's events created in ``[start, end)`` (that the endpoint's filter
        takes) to the endpoint again, oldest first; return how many deliveries were made."""
        start, end = utc(start), utc(end)
        if end <= start:
            raise errors.InvalidRequest("replay: 'to' must be after 'from'.")
        endpoint = await self.get_endpoint(workspace_id, endpoint_id)
        wanted = endpoint.event_types
        async with self.store.transaction(write=False) as tx:
            span = await tx.events.seq_range(workspace_id, start, end)
        if span is None:
            return 0
        # Events are in ``seq`` order and nearly in ``created_at`` order: read the seq span
        # of the time range (an index range), oldest first, and keep those in the range.
        low, high = span
        after, made = low - 1, 0
        while after < high:
            async with self.store.transaction() as tx:
                chunk = await tx.events.list_after(workspace_id, after, REPLAY_CHUNK)
                chunk = [e for e in chunk if (e.seq or 0) <= high]
                picked = [
                    e
                    for e in chunk
                    if start <= utc(e.created_at) < end and (wanted is None or e.type in wanted)
                ]
                if picked and await tx.webhooks.get_endpoint(endpoint_id) is None:
                    raise errors.NotFound("No webhook endpoint with this id.")
                deliveries = [self._replayed(e, endpoint) for e in picked]
                if deliveries:
                    await tx.webhooks.add_deliveries(deliveries, self.clock.now())
            made += len(deliveries)
            if not chunk:
                break
            after = chunk[-1].seq or high
        if made:
            self.notify()
        return made

    def _replayed(self, event: OutboxEvent, endpoint: WebhookEndpoint) -> Delivery:
        now = self.clock.now()
        return Delivery(
            id=outbox.new_id(),
            workspace_id=event.workspace_id,
            event_id=event.id,
            event_seq=event.seq or 0,
            event_type=event.type,
            bot_id=event.bot_id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            body=outbox.body_of(event),
            created_at=now,
            expires_at=now + timedelta(seconds=self.retry_window),
        )

    async def _delivery(
        self, tx: WebhookTx, workspace_id: str, endpoint_id: str, delivery_id: str
    ) -> Delivery:
        webhooks = tx.webhooks
        if await webhooks.get_endpoint(endpoint_id, workspace_id=workspace_id) is None:
            raise errors.NotFound("No webhook endpoint with this id.")
        found = await webhooks.get_delivery(delivery_id, endpoint_id=endpoint_id)
        if found is None:
            raise errors.NotFound("No delivery with this id for this endpoint.")
        return found

    # --- the events feed -------------------------------------------------------------------

    async def events_page(
        self, workspace_id: str, after: str | None = None, limit: int = 100
    ) -> Page[OutboxEvent]:
        """Every event of the workspace after the cursor, oldest first. ``next`` is always set:
        pass it back as ``after`` to continue (or to poll for newer events later)."""
        after_seq = self.cursors.decode("events", workspace_id, after) if after else 0
        async with self.store.transaction(write=False) as tx:
            found = await tx.events.list_after(workspace_id, after_seq, limit)
        last = found[-1].seq if found else None
        return Page(
            found, self.cursors.encode("events", workspace_id, after_seq if last is None else last)
        )

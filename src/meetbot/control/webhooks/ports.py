"""The webhook repository Protocol and the narrow transaction/store shapes webhooks need.

``meetbot.ports.Tx`` gains a ``webhooks: WebhookRepo`` property; until then, and to depend on
no more than it uses, this package asks for :class:`OutboxTx` / :class:`WebhookStore`, which any
full ``Tx`` / ``Store`` satisfies structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from meetbot.control.webhooks.models import (
    Attempt,
    AttemptRecord,
    ClaimedDelivery,
    Delivery,
    DeliveryStatus,
    WebhookEndpoint,
)

if TYPE_CHECKING:
    from meetbot.control.ports import BotRepo, EventRepo


class WebhookRepo(Protocol):
    # --- endpoints -------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        """Insert; return it with ``seq`` set."""
        ...

    async def get_endpoint(
        self, endpoint_id: str, *, workspace_id: str | None = None
    ) -> WebhookEndpoint | None: ...

    async def list_endpoints(
        self, workspace_id: str, *, before_seq: int | None, limit: int
    ) -> list[WebhookEndpoint]:
        """Newest first; only those with ``seq < before_seq`` when given."""
        ...

    async def enabled_endpoints(self, workspace_id: str) -> list[WebhookEndpoint]: ...

    async def update_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Write url, event_types, enabled, the secrets and updated_at."""
        ...

    async def delete_endpoint(self, endpoint_id: str) -> None:
        """Delete the endpoint with its deliveries and their attempts."""
        ...

    # --- deliveries ------------------------------------------------------------------------

    async def add_deliveries(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        """Insert new deliveries in the given order (it is their ``seq`` order).

        A delivery is due at ``now`` when no earlier delivery of its ordering key is open;
        otherwise it waits (``next_attempt_at`` unset) until that one finishes.
        """
        ...

    async def claim(
        self, now: datetime, lease_until: datetime, limit: int, token: str, *, run: int = 1
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries, each the oldest open one of its ordering key,
        each followed by up to ``run - 1`` deliveries right behind it in its key.

        Due: open, ``next_attempt_at <= now`` (a ``delivering`` row's lease has expired), and
        for an endpoint delivery, the endpoint is enabled. A follower is pending and waiting
        (or due); the first open one that is not ends its key's run. Claimed rows become
        ``delivering`` with ``lease_until`` (also their new ``next_attempt_at``) and ``token``.
        The result lists each head, then its followers in ``seq`` order: the worker sends a
        run in that order, one at a time, and gives back the rest when one is not delivered.
        """
        ...

    async def record(self, records: Sequence[AttemptRecord], now: datetime) -> int:
        """Store attempts whose row still carries the claim token; return how many.

        A delivery that ends (delivered or failed) makes the next one of its key due at ``now``.
        A delivered one also makes due at ``now`` the deliveries to the same target (endpoint, or
        bot URL) that are backing off after connection failures: the target is back, so a
        backlog drains at once instead of waiting out each bot's backoff.
        """
        ...

    async def release(
        self,
        token: str,
        delivery_ids: Sequence[str],
        now: datetime,
        *,
        waiting: Sequence[str] = (),
    ) -> None:
        """Give claimed deliveries back unattempted: ``delivery_ids`` due at ``now``,
        ``waiting`` with ``next_attempt_at`` unset, behind an earlier open one of their key
        (the rest of a run; a sweep rescues one that turns out to have none)."""
        ...

    async def promote_waiting(self, now: datetime) -> int:
        """Make due every waiting delivery that no longer has an earlier open one; a sweep for
        the rare race where a delivery was added while the one before it was finishing."""
        ...

    async def get_delivery(
        self, delivery_id: str, *, endpoint_id: str | None = None
    ) -> Delivery | None: ...

    async def list_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None,
        before_seq: int | None,
        limit: int,
    ) -> list[Delivery]:
        """Newest first."""
        ...

    async def list_attempts(self, delivery_id: str, limit: int) -> list[Attempt]:
        """Oldest first, at most ``limit`` (the latest ones)."""
        ...

    async def reschedule(self, delivery_id: str, at: datetime) -> None:
        """Make a waiting or pending delivery due at ``at`` (a no-op for other states)."""
        ...

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` finished (delivered or failed) deliveries created before
        ``before``, oldest first, with their attempts; return how many. Open ones stay."""
        ...


class OutboxTx(Protocol):
    """What :func:`meetbot.control.webhooks.outbox.emit` needs of a transaction."""

    @property
    def events(self) -> EventRepo: ...

    @property
    def bots(self) -> BotRepo: ...

    @property
    def webhooks(self) -> WebhookRepo: ...


class WebhookTx(Protocol):
    @property
    def events(self) -> EventRepo: ...

    @property
    def webhooks(self) -> WebhookRepo: ...


class WebhookStore(Protocol):
    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[WebhookTx]: ...

"""Frozen values of the webhook data model: endpoints, deliveries, attempts, pages."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Self, TypeVar

T = TypeVar("T")

BOT_TARGET = "bot"
"""The ordering-key target of a bot's own ``webhook_url`` (endpoint ids are UUIDs)."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Waiting for its attempt time, or (``next_attempt_at`` unset) behind an earlier delivery."""
    DELIVERING = "delivering"
    """Claimed by a worker until ``lease_until``; an expired lease makes it due again."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Retried for the whole retry window without a 2xx."""


OPEN_STATUSES = frozenset({DeliveryStatus.PENDING, DeliveryStatus.DELIVERING})


def order_key(endpoint_id: str | None, bot_id: str | None) -> str:
    """Deliveries with the same key go out one at a time, oldest first."""
    return f"{endpoint_id or BOT_TARGET}|{bot_id or ''}"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    workspace_id: str
    url: str
    event_types: tuple[str, ...] | None
    """``None``: every event type."""
    enabled: bool
    secret: str
    created_at: datetime
    updated_at: datetime
    previous_secret: str | None = None
    """The secret before the last rotation, still signed with until ``previous_secret_until``."""
    previous_secret_until: datetime | None = None
    seq: int | None = None

    def wants(self, event_type: str) -> bool:
        return self.enabled and (self.event_types is None or event_type in self.event_types)

    def evolve(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)


def signing_secrets(
    secret: str | None, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets to sign with now: the current one, plus the previous one while it lasts."""
    current = (secret,) if secret else ()
    if previous and previous_until is not None and now < previous_until:
        return (*current, previous)
    return current


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one target (a workspace endpoint or a bot's ``webhook_url``)."""

    id: str
    workspace_id: str
    event_id: str
    event_seq: int
    event_type: str
    bot_id: str | None
    endpoint_id: str | None
    """``None``: the bot's own ``webhook_url``."""
    url: str
    body: str
    """The exact JSON text that is signed and sent, the same on every attempt."""
    created_at: datetime
    expires_at: datetime
    """No attempt is made after this; a delivery still failing then ends ``failed``."""
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    last_latency_ms: float | None = None
    delivered_at: datetime | None = None
    secret: str | None = None
    """The bot's signing secret for ``webhook_url`` deliveries; endpoints sign with their own."""
    seq: int | None = None

    @property
    def order_key(self) -> str:
        return order_key(self.endpoint_id, self.bot_id)

    def evolve(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to one worker, with what it needs to send it."""

    delivery: Delivery
    token: str
    """The claim; a result is only recorded while the row still carries it."""
    url: str
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: str
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    url: str


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt's result and the delivery's state after it."""

    delivery_id: str
    token: str
    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    results: Sequence[T]
    next: str | None

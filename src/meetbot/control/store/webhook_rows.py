"""Rows of the webhook tables ↔ webhook values, and the statements built from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from meetbot.control.store.webhook_tables import webhook_deliveries as D
from meetbot.control.webhooks.models import (
    Attempt,
    AttemptRecord,
    ClaimedDelivery,
    Delivery,
    DeliveryStatus,
    WebhookEndpoint,
    signing_secrets,
)

FINAL = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


def endpoint_from_row(row: sa.RowMapping) -> WebhookEndpoint:
    types = row["event_types"]
    return WebhookEndpoint(
        seq=row["seq"],
        id=row["id"],
        workspace_id=row["workspace_id"],
        url=row["url"],
        event_types=None if types is None else tuple(types),
        enabled=bool(row["enabled"]),
        secret=row["secret"],
        previous_secret=row["previous_secret"],
        previous_secret_until=row["previous_secret_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def endpoint_values(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "event_types": None if endpoint.event_types is None else list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "secret": endpoint.secret,
        "previous_secret": endpoint.previous_secret,
        "previous_secret_until": endpoint.previous_secret_until,
        "updated_at": endpoint.updated_at,
    }


def delivery_from_row(row: sa.RowMapping) -> Delivery:
    return Delivery(
        seq=row["seq"],
        id=row["id"],
        workspace_id=row["workspace_id"],
        event_id=row["event_id"],
        event_seq=row["event_seq"],
        event_type=row["event_type"],
        bot_id=row["bot_id"],
        endpoint_id=row["endpoint_id"],
        url=row["url"],
        body=row["body"],
        secret=row["secret"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        lease_until=row["lease_until"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        last_latency_ms=row["last_latency_ms"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        delivered_at=row["delivered_at"],
    )


def claimed_from_row(
    row: sa.RowMapping, token: str, lease_until: datetime, now: datetime
) -> ClaimedDelivery:
    """A delivery row joined with its endpoint (``endpoint_url``, ``endpoint_secret``,
    ``previous_secret``, ``previous_secret_until``), as claimed with ``token``."""
    delivery = delivery_from_row(row).evolve(
        status=DeliveryStatus.DELIVERING, lease_until=lease_until, next_attempt_at=lease_until
    )
    if delivery.endpoint_id is None:
        return ClaimedDelivery(
            delivery, token, delivery.url, signing_secrets(delivery.secret, None, None, now)
        )
    secrets = signing_secrets(
        row["endpoint_secret"], row["previous_secret"], row["previous_secret_until"], now
    )
    return ClaimedDelivery(delivery, token, row["endpoint_url"], secrets)


def delivery_values(d: Delivery, next_attempt_at: datetime | None) -> dict[str, Any]:
    return {
        "id": d.id,
        "workspace_id": d.workspace_id,
        "event_id": d.event_id,
        "event_seq": d.event_seq,
        "event_type": d.event_type,
        "bot_id": d.bot_id,
        "endpoint_id": d.endpoint_id,
        "order_key": d.order_key,
        "url": d.url,
        "body": d.body,
        "secret": d.secret,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": next_attempt_at,
        "created_at": d.created_at,
        "expires_at": d.expires_at,
    }


RECORD_ATTEMPT = (
    sa.update(D)
    .where(D.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        attempts=D.c.attempts + 1,
        next_attempt_at=sa.bindparam("b_next"),
        lease_until=None,
        claim_token=None,
        last_status_code=sa.bindparam("b_code"),
        last_error=sa.bindparam("b_error"),
        last_latency_ms=sa.bindparam("b_latency"),
        delivered_at=sa.bindparam("b_delivered"),
    )
)


def record_params(r: AttemptRecord) -> dict[str, Any]:
    a = r.attempt
    return {
        "b_id": r.delivery_id,
        "b_status": r.status.value,
        "b_next": None if r.status in FINAL else r.next_attempt_at,
        "b_code": a.status_code,
        "b_error": a.error,
        "b_latency": a.latency_ms,
        "b_delivered": a.at if r.status is DeliveryStatus.DELIVERED else None,
    }


def attempt_row(a: Attempt) -> dict[str, Any]:
    return {
        "delivery_id": a.delivery_id,
        "at": a.at,
        "url": a.url,
        "status_code": a.status_code,
        "latency_ms": a.latency_ms,
        "error": a.error,
    }

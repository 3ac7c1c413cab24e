"""The webhook tables, on the schema's one :data:`meetbot.control.store.tables.metadata`.

``webhook_deliveries`` is the delivery queue: one row per (event, target). Rows with the same
``order_key`` (target + bot) are delivered one at a time in ``seq`` order; ``next_attempt_at``
is unset while a row waits behind an earlier open one, and is the lease's end while a worker
holds it, so "due" is simply ``status IN (pending, delivering) AND next_attempt_at <= now``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meetbot.control.store.tables import Seq, UtcDateTime, metadata

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", sa.JSON(none_as_null=True)),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("previous_secret", sa.Text),
    sa.Column("previous_secret_until", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_webhook_endpoints_workspace_seq", "workspace_id", "seq"),
    sqlite_autoincrement=True,
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_seq", sa.BigInteger, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("bot_id", sa.Text),
    sa.Column("endpoint_id", sa.Text, sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE")),
    sa.Column("order_key", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("secret", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("claim_token", sa.Text),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("last_latency_ms", sa.Float),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_order", "order_key", "status", "seq"),
    sa.Index("ix_webhook_deliveries_endpoint", "endpoint_id", "seq"),
    sa.Index("ix_webhook_deliveries_backoff", "endpoint_id", "status", "next_attempt_at"),
    sqlite_autoincrement=True,
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column(
        "delivery_id",
        sa.Text,
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("error", sa.Text),
    sa.Index("ix_webhook_attempts_delivery", "delivery_id", "seq"),
    sqlite_autoincrement=True,
)

WEBHOOK_TABLES = (webhook_endpoints, webhook_deliveries, webhook_attempts)


def create_webhook_tables(conn: Connection) -> None:
    """The migration that adds the webhook tables (idempotent, like ``create_tables``)."""
    metadata.create_all(conn, tables=list(WEBHOOK_TABLES), checkfirst=True)

"""The schema: one :class:`MetaData`, one :class:`Table` per noun, and the column types they share.

This describes the schema *as it is now*. Tables reach a database only through the ordered
migrations in :mod:`meetbot.control.store.migrations`; adding a table or a column here without a
migration that creates it leaves existing databases behind.

Times are timezone-aware UTC on both databases: ``timestamptz`` on PostgreSQL, fixed-width ISO
8601 text with microseconds on SQLite (so that text order is time order and comparisons work).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from meetbot.timefmt import utc


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime; naive values are taken as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            # Always 32 characters ("2024-01-02T03:04:05.123456+00:00"): text order = time order.
            return utc(value).isoformat(timespec="microseconds")
        return utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).astimezone(UTC)
        assert isinstance(value, datetime)
        return utc(value)


# A 64-bit autoincrementing key; SQLite only makes INTEGER PRIMARY KEY an alias of the rowid.
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace_id", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

bots = sa.Table(
    "bots",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    # MeetingRef
    sa.Column("platform", sa.Text, nullable=False),
    sa.Column("meeting_url", sa.Text, nullable=False),
    sa.Column("meeting_id", sa.Text, nullable=False),
    sa.Column("passcode", sa.Text),
    sa.Column("bot_name", sa.Text, nullable=False),
    sa.Column("join_at", UtcDateTime),
    sa.Column("kind", sa.Text, nullable=False),
    # BotState
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("sub_status", sa.Text),
    sa.Column("stop_reason", sa.Text),
    sa.Column("sub_code", sa.Text),
    sa.Column("detection_retries", sa.Integer, nullable=False, default=0),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("stop_options", sa.JSON, nullable=False),
    sa.Column("recording", sa.JSON, nullable=False),
    sa.Column("transcription_model", sa.Text, nullable=False),
    sa.Column("deduplication_key", sa.Text),
    # = deduplication_key while the bot is not terminal, NULL once it is (NULLs never collide).
    sa.Column("dedup_active", sa.Text),
    sa.Column("webhook_url", sa.Text),
    sa.Column("webhook_secret", sa.Text),
    sa.Column("runner_token_hash", sa.Text),
    sa.Column("leave_requested_at", UtcDateTime),
    sa.Column("last_seen_at", UtcDateTime),
    sa.Column("dispatched_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # v3: the bot's own credentials, AES-GCM sealed (meetbot.crypto), and which kinds they hold.
    sa.Column("credentials_ciphertext", sa.Text),
    sa.Column("credential_kinds", sa.JSON),
    # v6: why the bot ended or stopped, for people (its latest status change's message)
    sa.Column("message", sa.Text),
    # v7: minutes the meeting is expected to last (a scheduled bot's reservation; NULL: default).
    sa.Column("expected_duration", sa.Integer),
    # v9: the fleet agent the bot was last handed to (control/store/agent_tables.py)
    sa.Column("agent_id", sa.Text),
    # v11: the storage key of the bot's picture, shown as its camera (bot_image, output_video).
    sa.Column("bot_image", sa.Text),
    # v12: where the bot's real-time frames are pushed (realtime_endpoints on create).
    sa.Column("realtime_endpoints", sa.JSON(none_as_null=True)),
    sa.Index("uq_bots_dedup_active", "workspace_id", "dedup_active", unique=True),
    sa.Index("ix_bots_due", "status", "join_at"),
    sa.Index("ix_bots_workspace_seq", "workspace_id", "seq"),
    sa.Index("ix_bots_workspace_status", "workspace_id", "status"),
    sa.Index("ix_bots_workspace_meeting_url", "workspace_id", "meeting_url"),
    sa.Index("ix_bots_workspace_join_at", "workspace_id", "join_at"),
    sqlite_autoincrement=True,
)

status_changes = sa.Table(
    "status_changes",
    metadata,
    sa.Column("bot_id", sa.Text, sa.ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ordinal", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("sub_status", sa.Text),
    sa.Column("stop_reason", sa.Text),
    sa.Column("sub_code", sa.Text),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("message", sa.Text),  # v6
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("bot_id", sa.Text),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index("ix_events_workspace_seq", "workspace_id", "seq"),
    sa.Index("ix_events_workspace_created", "workspace_id", "created_at", "seq"),
    sqlite_autoincrement=True,
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
)

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("bot_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index("ix_observations_bot_seq", "bot_id", "seq"),
    sqlite_autoincrement=True,
)

# v3: a workspace's default credentials, AES-GCM sealed (meetbot.crypto), one row per workspace.
workspace_credentials = sa.Table(
    "workspace_credentials",
    metadata,
    sa.Column("workspace_id", sa.Text, primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# v5: named leases that control-plane replicas take before doing work only one of them may do
# (the media pipeline's ``media:<bot id>``). An expired lease is anyone's to take.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("until", UtcDateTime, nullable=False),
)

# v10: connected calendars (issue 15) and their occurrences; the bots they derive are ordinary
# bots whose deduplication_key is the meeting key (uq_bots_dedup_active: one per meeting).
calendars = sa.Table(
    "calendars",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("bot_settings", sa.JSON, nullable=False),
    sa.Column("secrets_ciphertext", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("status_reason", sa.Text),
    sa.Column("cursor", sa.Text),
    sa.Column("series_overrides", sa.JSON, nullable=False),
    sa.Column("last_synced_at", UtcDateTime),
    sa.Column("next_sync_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_calendars_workspace_seq", "workspace_id", "seq"),
    sa.Index("ix_calendars_next_sync_at", "next_sync_at"),
    sqlite_autoincrement=True,
)

calendar_events = sa.Table(
    "calendar_events",
    metadata,
    sa.Column("seq", Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column(
        "calendar_id",
        sa.Text,
        sa.ForeignKey("calendars.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("ical_uid", sa.Text, nullable=False),
    sa.Column("recurrence_id", sa.Text, nullable=False),
    sa.Column("start", UtcDateTime),
    sa.Column("end", UtcDateTime),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("meeting_url", sa.Text),
    sa.Column("platform", sa.Text),
    sa.Column("meeting_key", sa.Text),
    sa.Column("is_deleted", sa.Boolean, nullable=False),
    sa.Column("will_record", sa.Boolean, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("record_override", sa.Boolean),
    sa.Column("bot_id", sa.Text),
    sa.Column("dirty", sa.Boolean, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_calendar_events_calendar_seq", "calendar_id", "seq"),
    sa.Index("ix_calendar_events_workspace_key", "workspace_id", "meeting_key"),
    sa.Index("ix_calendar_events_bot", "bot_id"),
    sqlite_autoincrement=True,
)

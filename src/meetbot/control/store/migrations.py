"""Schema migrations: a ``schema_version`` table and one ordered tuple of :class:`Migration`.

:func:`migrate` runs at :func:`meetbot.control.store.open_store`, in one transaction, under a lock
(PostgreSQL: ``pg_advisory_xact_lock``; SQLite: the transaction starts with ``BEGIN
IMMEDIATE``), so two servers starting at once apply each migration exactly once; the second
waits, then finds nothing to do. DDL is transactional on both databases: a migration that
fails leaves the schema as it was.

Adding a migration
------------------
1. Describe the new schema in :mod:`meetbot.control.store.tables` (a new ``Table``, or a new
   ``Column``/``Index`` on an existing one).
2. Write a function that takes a *sync* :class:`~sqlalchemy.engine.Connection` and append a
   :class:`Migration` with the next version to :data:`MIGRATIONS`::

       def _v2_webhooks(conn: Connection) -> None:
           create_tables(conn, tables.webhook_endpoints, tables.webhook_deliveries)

       def _v3_bot_region(conn: Connection) -> None:
           add_column(conn, tables.bots, "region")
           create_index(conn, tables.bots, "ix_bots_region")

       MIGRATIONS = (..., Migration(2, "webhook endpoints and deliveries", _v2_webhooks),
                     Migration(3, "bots.region", _v3_bot_region))

3. Never edit or reorder a released migration; fix forward with a new one.

Tables are created from ``tables.py`` *as it stands*, so a fresh database gets a later column
already when an early migration creates its table. That is why :func:`add_column`,
:func:`create_index` and :func:`create_tables` do nothing when their object exists; write any
other step (a backfill ``UPDATE``, a dialect-specific ``sa.text``) so that it is correct on
both a fresh and an old database. A server that finds a schema newer than its code refuses to
start (:class:`SchemaTooNew`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbot.control.store import agent_tables, tables
from meetbot.control.store.webhook_tables import create_webhook_tables

# pg_advisory_xact_lock key for migrations: int.from_bytes(b"mbschema", "big") >> 1.
MIGRATION_LOCK = 0x6D62736368656D61 >> 1


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer meetbot than this one."""


def create_tables(conn: Connection, *new: sa.Table) -> None:
    tables.metadata.create_all(conn, tables=list(new), checkfirst=True)


def add_column(conn: Connection, table: sa.Table, name: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for a column declared in ``tables.py``, unless present."""
    if name in {c["name"] for c in sa.inspect(conn).get_columns(table.name)}:
        return
    column = sa.schema.CreateColumn(table.c[name]).compile(dialect=conn.dialect)
    quoted = conn.dialect.identifier_preparer.format_table(table)
    conn.execute(sa.text(f"ALTER TABLE {quoted} ADD COLUMN {column}"))


def create_index(conn: Connection, table: sa.Table, name: str) -> None:
    """Create an index declared on a table in ``tables.py``, unless present."""
    (index,) = (ix for ix in table.indexes if ix.name == name)
    index.create(conn, checkfirst=True)


def _v1_initial(conn: Connection) -> None:
    create_tables(
        conn,
        tables.workspaces,
        tables.api_keys,
        tables.bots,
        tables.status_changes,
        tables.events,
        tables.idempotency_keys,
        tables.observations,
    )


def _v3_credentials(conn: Connection) -> None:
    add_column(conn, tables.bots, "credentials_ciphertext")
    add_column(conn, tables.bots, "credential_kinds")
    create_tables(conn, tables.workspace_credentials)


def _v4_event_times(conn: Connection) -> None:
    create_index(conn, tables.events, "ix_events_workspace_created")


def _v5_leases(conn: Connection) -> None:
    create_tables(conn, tables.leases)


def _v6_status_messages(conn: Connection) -> None:
    add_column(conn, tables.bots, "message")
    add_column(conn, tables.status_changes, "message")


def _v7_expected_duration(conn: Connection) -> None:
    add_column(conn, tables.bots, "expected_duration")


def _v8_key_revocation(conn: Connection) -> None:
    add_column(conn, tables.api_keys, "revoked_at")


def _v9_fleet(conn: Connection) -> None:
    create_tables(conn, agent_tables.agents, agent_tables.agent_handoffs)
    add_column(conn, tables.bots, "agent_id")


def _v10_calendars(conn: Connection) -> None:
    create_tables(conn, tables.calendars, tables.calendar_events)


def _v11_bot_image(conn: Connection) -> None:
    add_column(conn, tables.bots, "bot_image")


def _v12_realtime_endpoints(conn: Connection) -> None:
    add_column(conn, tables.bots, "realtime_endpoints")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "workspaces, api keys, bots, status changes, events, idempotency keys, observations",
        _v1_initial,
    ),
    Migration(2, "webhook endpoints, deliveries and attempts", create_webhook_tables),
    Migration(3, "encrypted credentials: bots' own and workspace defaults", _v3_credentials),
    Migration(4, "events by creation time (replays read a time range)", _v4_event_times),
    Migration(5, "leases: work one control-plane replica does at a time", _v5_leases),
    Migration(6, "status messages: why a bot ended or stopped", _v6_status_messages),
    Migration(
        7,
        "bots.expected_duration: the length of a scheduled bot's reservation",
        _v7_expected_duration,
    ),
    Migration(8, "api_keys.revoked_at: keys can be revoked", _v8_key_revocation),
    Migration(9, "agents, agent hand-offs and bots.agent_id: a fleet of runner hosts", _v9_fleet),
    Migration(10, "calendars and their occurrences", _v10_calendars),
    Migration(11, "bots.bot_image: the storage key of the bot's picture", _v11_bot_image),
    Migration(
        12,
        "bots.realtime_endpoints: where a bot's real-time frames are pushed",
        _v12_realtime_endpoints,
    ),
)


async def migrate(
    conn: AsyncConnection, now: datetime, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Apply the pending migrations inside the caller's write transaction; return the version."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(f"migration {migration.version} should be version {expected}")
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
    await conn.run_sync(lambda sync: tables.schema_version.create(sync, checkfirst=True))
    current_stmt = sa.select(sa.func.coalesce(sa.func.max(tables.schema_version.c.version), 0))
    current: int = (await conn.execute(current_stmt)).scalar_one()
    latest = len(migrations)
    if current > latest:
        raise SchemaTooNew(f"database schema is at version {current}; this meetbot knows {latest}")
    for migration in migrations[current:]:
        await conn.run_sync(migration.apply)
        await conn.execute(
            sa.insert(tables.schema_version).values(
                version=migration.version, description=migration.description, applied_at=now
            )
        )
    return latest

"""The fleet's tables (v9), on the schema's one :data:`meetbot.control.store.tables.metadata`.

``agents``: one row per agent token (stored hashed), its capacity and health as its last
heartbeat said, and ``claims``: the hand-offs queued for it since its ``incarnation`` began.
``agent_handoffs``: one row per bot handed to an agent (see :mod:`meetbot.control.agents`);
``bot_id`` is NULL while the claim is not yet used. ``bots.agent_id`` (in ``tables.py``) names
the agent a bot was last handed to.
"""

from __future__ import annotations

import sqlalchemy as sa

from meetbot.control.store.tables import UtcDateTime, metadata

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("slots", sa.Integer, nullable=False, default=0),
    sa.Column("warm_idle", sa.Integer, nullable=False, default=0),
    sa.Column("busy", sa.Integer, nullable=False, default=0),
    sa.Column("received", sa.BigInteger, nullable=False, default=0),
    sa.Column("claims", sa.BigInteger, nullable=False, default=0),
    sa.Column("incarnation", sa.Text, nullable=False, default=""),
    sa.Column("draining", sa.Boolean, nullable=False, default=False),
    sa.Column("bots", sa.JSON, nullable=False),
    sa.Column("version", sa.Text, nullable=False, default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
)

agent_handoffs = sa.Table(
    "agent_handoffs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("bot_id", sa.Text),
    sa.Column("warm", sa.Boolean, nullable=False),
    sa.Column("assignment", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("acked_at", UtcDateTime),
    sa.Index("ix_agent_handoffs_agent_acked", "agent_id", "acked_at"),
    sa.Index("ix_agent_handoffs_bot", "bot_id"),
)

"""The database layer: the :class:`~meetbot.ports.Store` on SQLite or PostgreSQL.

SQLAlchemy 2 Core, async; the only package that imports the database drivers. Schema changes
are ordered migrations: see :mod:`meetbot.control.store.migrations`.
"""

from meetbot.control.store.sql import SqlStore, open_store

__all__ = ["SqlStore", "open_store"]

"""Bots and their status history: rows become :class:`~meetbot.contract.models.Bot` values here."""

from __future__ import annotations

import asyncio
import builtins
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from meetbot.contract.lifecycle import Status
from meetbot.contract.models import (
    Bot,
    StatusChange,
)
from meetbot.control.ports import BotQuery
from meetbot.control.store.bot_rows import (
    bot_from_row,
    bot_values,
    change_from_row,
    change_values,
    dedup_active,
)
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import bots, status_changes
from meetbot.errors import Conflict, DuplicateBot, NotFound

# Built once: a statement whose values come as parameters is compiled once and its cache key
# is cheap; ``.values(row)`` built per call costs a cache key over every bound value.
_INSERT_BOT = sa.insert(bots).returning(bots.c.seq)
_INSERT_CHANGES = sa.insert(status_changes)
_UPDATE_BOT = sa.update(bots).where(bots.c.id == sa.bindparam("where_id"))

SCHEDULE_LOCK = int.from_bytes(b"mbsched!", "big") >> 1
"""PostgreSQL advisory lock key of :meth:`SqlBotRepo.lock_schedule`."""

CHUNK = 100
"""Rows turned into values between two yields to the event loop: a page of a thousand bots
(the runner reaper's) costs tens of milliseconds of decoding, which must not stall requests."""


@dataclass(frozen=True, slots=True)
class SqlBotRepo(SqlRepo):
    async def insert(self, bot: Bot) -> Bot:
        self.check_write("bots.insert")
        # Only a live deduplication key makes a refusal the transaction goes on from (409 with
        # the other bot's id); without one, a conflict is a duplicate uuid: the request fails.
        try:
            async with self.statement_guard(dedup_active(bot) is not None):
                seq = (await self.conn.execute(_INSERT_BOT, bot_values(bot))).scalar_one()
        except IntegrityError as exc:
            raise await self._conflict(bot, f"A bot with id {bot.id} already exists.") from exc
        if bot.status_changes:
            rows = [change_values(bot.id, i, c) for i, c in enumerate(bot.status_changes)]
            await self.conn.execute(_INSERT_CHANGES, rows)
        return bot.evolve(seq=seq)

    async def get(
        self,
        bot_id: str,
        *,
        workspace_id: str | None = None,
        for_update: bool = False,
        history: bool = True,
    ) -> Bot | None:
        stmt = sa.select(bots).where(bots.c.id == bot_id)
        if workspace_id is not None:
            stmt = stmt.where(bots.c.workspace_id == workspace_id)
        if for_update:
            self.check_write("bots.get(for_update=True)")
            stmt = stmt.with_for_update()
        if not history:
            row = (await self.conn.execute(stmt)).mappings().first()
            return None if row is None else bot_from_row(row)
        found = await self._load(stmt)
        return found[0] if found else None

    async def update(self, bot: Bot) -> None:
        self.check_write("bots.update")
        values = bot_values(bot)
        for immutable in ("id", "workspace_id", "created_at"):
            del values[immutable]
        values["where_id"] = bot.id
        try:
            async with self.statement_guard(dedup_active(bot) is not None):
                result = await self.conn.execute(_UPDATE_BOT, values)
        except IntegrityError as exc:  # a retried bot took its deduplication_key back
            raise await self._conflict(bot, f"Bot {bot.id} violates a constraint.") from exc
        if result.rowcount == 0:
            raise NotFound(f"No bot {bot.id}.")
        count_stmt = sa.select(sa.func.count()).where(status_changes.c.bot_id == bot.id)
        stored = (await self.conn.execute(count_stmt)).scalar_one()
        new = [change_values(bot.id, i, c) for i, c in enumerate(bot.status_changes) if i >= stored]
        if new:
            await self.conn.execute(_INSERT_CHANGES, new)

    async def update_many(self, many: Sequence[Bot]) -> None:
        """:meth:`update` for several bots in three statements (the dispatcher's batch)."""
        if len(many) < 2 or any(dedup_active(bot) is not None for bot in many):
            for bot in many:  # a deduplication key may conflict: one guarded update each
                await self.update(bot)
            return
        self.check_write("bots.update")
        rows = []
        for bot in many:
            values = bot_values(bot)
            for immutable in ("id", "workspace_id", "created_at"):
                del values[immutable]
            rows.append(values | {"where_id": bot.id})
        result = await self.conn.execute(_UPDATE_BOT, rows)
        if 0 <= result.rowcount < len(many):
            raise NotFound(f"Some of the bots {', '.join(b.id for b in many)} do not exist.")
        ids = [bot.id for bot in many]
        counted = await self.conn.execute(
            sa.select(status_changes.c.bot_id, sa.func.count())
            .where(status_changes.c.bot_id.in_(ids))
            .group_by(status_changes.c.bot_id)
        )
        stored = {bot_id: n for bot_id, n in counted}
        new = [
            change_values(bot.id, i, c)
            for bot in many
            for i, c in enumerate(bot.status_changes)
            if i >= stored.get(bot.id, 0)
        ]
        if new:
            await self.conn.execute(_INSERT_CHANGES, new)

    async def delete(self, bot_id: str) -> None:
        self.check_write("bots.delete")
        await self.conn.execute(sa.delete(status_changes).where(status_changes.c.bot_id == bot_id))
        await self.conn.execute(sa.delete(bots).where(bots.c.id == bot_id))

    async def list(self, workspace_id: str, query: BotQuery) -> builtins.list[Bot]:
        stmt = sa.select(bots).where(bots.c.workspace_id == workspace_id)
        if query.status is not None:
            stmt = stmt.where(bots.c.status == query.status.value)
        if query.join_at_after is not None:
            stmt = stmt.where(bots.c.join_at >= query.join_at_after)
        if query.join_at_before is not None:
            stmt = stmt.where(bots.c.join_at < query.join_at_before)
        if query.meeting_url is not None:
            stmt = stmt.where(bots.c.meeting_url == query.meeting_url)
        for key, value in query.metadata.items():
            stmt = stmt.where(self._metadata_equals(key, value))
        if query.platform is not None:
            stmt = stmt.where(bots.c.platform == query.platform)
        if query.search:
            term = query.search.lower()
            stmt = stmt.where(
                sa.or_(
                    sa.func.lower(bots.c.meeting_url).contains(term, autoescape=True),
                    sa.func.lower(bots.c.bot_name).contains(term, autoescape=True),
                    bots.c.id == query.search,
                )
            )
        if query.before_seq is not None:
            stmt = stmt.where(bots.c.seq < query.before_seq)
        return await self._load(stmt.order_by(bots.c.seq.desc()).limit(max(query.limit, 0)))

    async def find_active_duplicate(self, workspace_id: str, key: str) -> Bot | None:
        stmt = sa.select(bots).where(
            bots.c.workspace_id == workspace_id, bots.c.dedup_active == key
        )
        found = await self._load(stmt)
        return found[0] if found else None

    async def due_for_dispatch(self, cutoff: datetime, limit: int) -> builtins.list[Bot]:
        self.check_write("bots.due_for_dispatch")
        stmt = (
            sa.select(bots)
            .where(bots.c.status == Status.SCHEDULED.value, bots.c.join_at <= cutoff)
            .order_by(bots.c.join_at, bots.c.seq)
            .limit(max(limit, 0))
            # Rows another replica has claimed are skipped, not waited for. SQLite has no row
            # locks (the clause renders as nothing); its write transactions are serialised.
            .with_for_update(skip_locked=True)
        )
        return await self._load(stmt)

    async def lock_schedule(self) -> None:
        self.check_write("bots.lock_schedule")
        if self.is_postgres:  # SQLite: write transactions are serialised (BEGIN IMMEDIATE)
            await self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEDULE_LOCK)))

    async def holding_capacity(
        self, join_after: datetime, join_before: datetime, running: Collection[Status]
    ) -> builtins.list[Bot]:
        # One statement, one snapshot: a bot being dispatched meanwhile is seen once, either
        # as scheduled or as running (two reads under READ COMMITTED could miss it).
        condition = _holding(join_after, join_before, running)
        return await self._load(sa.select(bots).where(condition).order_by(bots.c.seq))

    async def count_holding_capacity(
        self, join_after: datetime, join_before: datetime, running: Collection[Status]
    ) -> int:
        condition = _holding(join_after, join_before, running)
        stmt = sa.select(sa.func.count()).select_from(bots).where(condition)
        return int((await self.conn.execute(stmt)).scalar_one())

    async def in_statuses(
        self,
        statuses: Collection[Status],
        limit: int = 1000,
        *,
        updated_since: datetime | None = None,
        pushed: bool = False,
    ) -> builtins.list[Bot]:
        if not statuses:
            return []
        stmt = sa.select(bots).where(bots.c.status.in_([s.value for s in statuses]))
        if updated_since is not None:
            stmt = stmt.where(bots.c.updated_at >= updated_since)
        if pushed:  # NULL when a bot has none (JSON null is never stored: bot_values)
            stmt = stmt.where(bots.c.realtime_endpoints.is_not(None))
        return await self._load(stmt.order_by(bots.c.seq).limit(max(limit, 0)))

    async def silent(
        self, statuses: Collection[Status], before: datetime, limit: int = 1000
    ) -> builtins.list[Bot]:
        if not statuses:
            return []
        last_sign = sa.func.coalesce(bots.c.last_seen_at, bots.c.dispatched_at, bots.c.updated_at)
        stmt = (
            sa.select(bots)
            .where(bots.c.status.in_([s.value for s in statuses]), last_sign < before)
            .order_by(bots.c.seq)
            .limit(max(limit, 0))
        )
        return await self._load(stmt)

    async def touch(self, bot_id: str, at: datetime) -> None:
        self.check_write("bots.touch")
        await self.conn.execute(sa.update(bots).where(bots.c.id == bot_id).values(last_seen_at=at))

    # --- helpers ---------------------------------------------------------------------------

    async def _load(self, stmt: sa.Select[Any]) -> builtins.list[Bot]:
        """Run a select of bot rows and attach their status changes: two queries per page."""
        result = (await self.conn.execute(stmt)).mappings()
        rows: builtins.list[sa.RowMapping] = []
        for part in result.partitions(CHUNK):
            rows.extend(part)
            await _yield_after(part)
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        changes = await self._changes(ids)
        out: builtins.list[Bot] = []
        for start in range(0, len(rows), CHUNK):
            part = rows[start : start + CHUNK]
            out.extend(bot_from_row(row, changes.get(row["id"], ())) for row in part)
            await _yield_after(part)
        return out

    async def _changes(self, bot_ids: Sequence[str]) -> Mapping[str, builtins.list[StatusChange]]:
        stmt = (
            sa.select(status_changes)
            .where(status_changes.c.bot_id.in_(bot_ids))
            .order_by(status_changes.c.bot_id, status_changes.c.ordinal)
        )
        grouped: defaultdict[str, builtins.list[StatusChange]] = defaultdict(list)
        for part in (await self.conn.execute(stmt)).mappings().partitions(CHUNK):
            for row in part:
                grouped[row["bot_id"]].append(change_from_row(row))
            await _yield_after(part)
        return grouped

    def _metadata_equals(self, key: str, value: str) -> sa.ColumnElement[bool]:
        if self.is_postgres:
            equals: sa.ColumnElement[bool] = bots.c.metadata[key].as_string() == value
            return equals  # metadata ->> key
        # SQLite's JSON path syntax cannot quote every key; json_each can.
        entries = sa.func.json_each(bots.c.metadata).table_valued("key", "value")
        return sa.exists(
            sa.select(sa.literal(1))
            .select_from(entries)
            .where(entries.c.key == key, entries.c.value == value)
        )

    async def _conflict(self, bot: Bot, otherwise: str) -> Conflict:
        """The error for a bot row that violated a unique constraint."""
        key = dedup_active(bot)
        if key is not None:
            stmt = sa.select(bots.c.id).where(
                bots.c.workspace_id == bot.workspace_id,
                bots.c.dedup_active == key,
                bots.c.id != bot.id,
            )
            existing = (await self.conn.execute(stmt)).scalar_one_or_none()
            if existing is not None:
                return DuplicateBot(existing)
        return Conflict(otherwise)


def _holding(
    join_after: datetime, join_before: datetime, running: Collection[Status]
) -> sa.ColumnElement[bool]:
    scheduled = sa.and_(
        bots.c.status == Status.SCHEDULED.value,
        bots.c.join_at >= join_after,
        bots.c.join_at < join_before,
    )
    if not running:
        return scheduled
    return sa.or_(scheduled, bots.c.status.in_([s.value for s in running]))


async def _yield_after(part: Sequence[object]) -> None:
    """Let the event loop run after a full chunk (a short page costs no extra turn)."""
    if len(part) >= CHUNK:
        await asyncio.sleep(0)

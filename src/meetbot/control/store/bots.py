"""Bots and their status history: rows become :class:`~meetbot.contract.models.Bot` values here."""

from __future__ import annotations

import asyncio
import builtins
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from meetbot.contract.lifecycle import ENDED, Status, StopReason, SubStatus
from meetbot.contract.models import (
    Bot,
    BotKind,
    MeetingRef,
    Platform,
    RealtimeEndpoint,
    RecordingOptions,
    StatusChange,
    StopOptions,
)
from meetbot.control.ports import BotQuery
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import bots, status_changes
from meetbot.errors import Conflict, DuplicateBot, NotFound

_E = TypeVar("_E", SubStatus, StopReason)

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


def dedup_active(bot: Bot) -> str | None:
    """The value of the ``dedup_active`` column: the key while the bot is alive, else NULL."""
    return None if bot.status in ENDED else bot.deduplication_key


def bot_values(bot: Bot) -> dict[str, Any]:
    """The row of a bot, minus ``seq``."""
    return {
        "id": bot.id,
        "workspace_id": bot.workspace_id,
        "platform": bot.meeting.platform.value,
        "meeting_url": bot.meeting.url,
        "meeting_id": bot.meeting.meeting_id,
        "passcode": bot.meeting.passcode,
        "bot_name": bot.bot_name,
        "join_at": bot.join_at,
        "kind": bot.kind.value,
        "status": bot.status.value,
        "sub_status": _opt(bot.sub_status),
        "stop_reason": _opt(bot.stop_reason),
        "sub_code": bot.sub_code,
        "message": bot.message,
        "detection_retries": bot.detection_retries,
        "metadata": dict(bot.metadata),
        "stop_options": bot.stop_options.as_dict(),
        "recording": bot.recording.as_dict(),
        "transcription_model": bot.transcription_model,
        "deduplication_key": bot.deduplication_key,
        "dedup_active": dedup_active(bot),
        "webhook_url": bot.webhook_url,
        "webhook_secret": bot.webhook_secret,
        "runner_token_hash": bot.runner_token_hash,
        "leave_requested_at": bot.leave_requested_at,
        "last_seen_at": bot.last_seen_at,
        "dispatched_at": bot.dispatched_at,
        "created_at": bot.created_at,
        "updated_at": bot.updated_at,
        "credentials_ciphertext": bot.credentials_ciphertext,
        "credential_kinds": list(bot.credential_kinds) if bot.credential_kinds else None,
        "expected_duration": bot.expected_duration,
        "bot_image": bot.bot_image,
        "realtime_endpoints": (
            [e.as_dict() for e in bot.realtime_endpoints] if bot.realtime_endpoints else None
        ),
    }


def change_values(bot_id: str, ordinal: int, change: StatusChange) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "ordinal": ordinal,
        "status": change.status.value,
        "sub_status": _opt(change.sub_status),
        "stop_reason": _opt(change.stop_reason),
        "sub_code": change.sub_code,
        "at": change.at,
        "message": change.message,
    }


def change_from_row(row: sa.RowMapping) -> StatusChange:
    return StatusChange(
        status=Status(row["status"]),
        sub_status=_enum(SubStatus, row["sub_status"]),
        stop_reason=_enum(StopReason, row["stop_reason"]),
        sub_code=row["sub_code"],
        at=row["at"],
        message=row["message"],
    )


def bot_from_row(row: sa.RowMapping, changes: Sequence[StatusChange] = ()) -> Bot:
    return Bot(
        seq=row["seq"],
        id=row["id"],
        workspace_id=row["workspace_id"],
        meeting=MeetingRef(
            platform=Platform(row["platform"]),
            url=row["meeting_url"],
            meeting_id=row["meeting_id"],
            passcode=row["passcode"],
        ),
        bot_name=row["bot_name"],
        join_at=row["join_at"],
        kind=BotKind(row["kind"]),
        status=Status(row["status"]),
        sub_status=_enum(SubStatus, row["sub_status"]),
        stop_reason=_enum(StopReason, row["stop_reason"]),
        sub_code=row["sub_code"],
        message=row["message"],
        detection_retries=row["detection_retries"],
        metadata=dict(row["metadata"]),
        stop_options=StopOptions(**row["stop_options"]),
        recording=RecordingOptions(**row["recording"]),
        transcription_model=row["transcription_model"],
        deduplication_key=row["deduplication_key"],
        webhook_url=row["webhook_url"],
        webhook_secret=row["webhook_secret"],
        runner_token_hash=row["runner_token_hash"],
        leave_requested_at=row["leave_requested_at"],
        last_seen_at=row["last_seen_at"],
        dispatched_at=row["dispatched_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status_changes=tuple(changes),
        credentials_ciphertext=row["credentials_ciphertext"],
        credential_kinds=tuple(row["credential_kinds"] or ()),
        expected_duration=row["expected_duration"],
        bot_image=row["bot_image"],
        realtime_endpoints=tuple(
            RealtimeEndpoint.from_dict(e) for e in row["realtime_endpoints"] or ()
        ),
    )


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
        self, bot_id: str, *, workspace_id: str | None = None, for_update: bool = False
    ) -> Bot | None:
        stmt = sa.select(bots).where(bots.c.id == bot_id)
        if workspace_id is not None:
            stmt = stmt.where(bots.c.workspace_id == workspace_id)
        if for_update:
            self.check_write("bots.get(for_update=True)")
            stmt = stmt.with_for_update()
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


def _opt(value: SubStatus | StopReason | None) -> str | None:
    return None if value is None else value.value


def _enum(cls: type[_E], value: str | None) -> _E | None:
    return None if value is None else cls(value)

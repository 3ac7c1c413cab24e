"""An in-memory :class:`~meetbot.ports.Store` with the semantics of the SQL one.

Same deduplication rule, cursors, filters, orderings and errors (the contract suite in
``tests/integration/test_store_contract.py`` runs against both). Transactions are real: a write
transaction works on a copy of the state that replaces the committed state only when the block
exits normally, and one :class:`asyncio.Lock` serialises write transactions (as ``BEGIN
IMMEDIATE`` does on SQLite). A read transaction sees the state committed when it began.
A write transaction opened inside another in the same task raises instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from meetbot.errors import Conflict, DuplicateBot, IdempotencyKeyReused, NotFound
from meetbot.lifecycle import TERMINAL, Status
from meetbot.models import ApiKey, Bot, IdempotencyRecord, OutboxEvent
from meetbot.ports import BotQuery
from meetbot.reports import BaseReport
from meetbot.testing.memory_webhooks import MemoryWebhookData, MemoryWebhookRepo
from meetbot.timefmt import utc

if TYPE_CHECKING:
    from meetbot.ports import Store, Tx


class ReadOnlyTransactionError(RuntimeError):
    """A write (or a row lock) was attempted in a ``transaction(write=False)``."""


@dataclass(slots=True)
class _State:
    """Everything stored. Committed states are never mutated; writers mutate a :meth:`copy`."""

    bots: dict[str, Bot] = field(default_factory=dict)
    bot_seq: int = 0
    events: list[OutboxEvent] = field(default_factory=list)
    event_seq: int = 0
    workspaces: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    observations: list[tuple[str, BaseReport]] = field(default_factory=list)
    webhooks: MemoryWebhookData = field(default_factory=MemoryWebhookData)
    credentials: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def copy(self) -> _State:
        return _State(
            bots=dict(self.bots),
            bot_seq=self.bot_seq,
            events=list(self.events),
            event_seq=self.event_seq,
            workspaces=dict(self.workspaces),
            keys=dict(self.keys),
            idempotency=dict(self.idempotency),
            observations=list(self.observations),
            webhooks=self.webhooks.copy(),
            credentials=dict(self.credentials),
        )


@dataclass(frozen=True, slots=True)
class _Repo:
    state: _State
    writable: bool

    def check_write(self, what: str) -> None:
        if not self.writable:
            raise ReadOnlyTransactionError(f"{what} needs transaction(write=True)")


def _dedup_active(bot: Bot) -> str | None:
    return None if bot.status in TERMINAL else bot.deduplication_key


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _normalised(bot: Bot) -> Bot:
    """The bot as the SQL store gives it back: UTC times, a plain dict of metadata."""
    return bot.evolve(
        join_at=_opt_utc(bot.join_at),
        created_at=utc(bot.created_at),
        updated_at=utc(bot.updated_at),
        leave_requested_at=_opt_utc(bot.leave_requested_at),
        last_seen_at=_opt_utc(bot.last_seen_at),
        dispatched_at=_opt_utc(bot.dispatched_at),
        metadata=dict(bot.metadata),
        status_changes=tuple(dataclasses.replace(c, at=utc(c.at)) for c in bot.status_changes),
        credential_kinds=tuple(bot.credential_kinds),
    )


@dataclass(frozen=True, slots=True)
class MemoryBotRepo(_Repo):
    async def insert(self, bot: Bot) -> Bot:
        self.check_write("bots.insert")
        if bot.id in self.state.bots:
            raise Conflict(f"A bot with id {bot.id} already exists.")
        self._check_duplicate(bot)
        self.state.bot_seq += 1
        stored = _normalised(bot).evolve(seq=self.state.bot_seq)
        self.state.bots[bot.id] = stored
        return bot.evolve(seq=stored.seq)

    async def get(
        self, bot_id: str, *, workspace_id: str | None = None, for_update: bool = False
    ) -> Bot | None:
        if for_update:
            self.check_write("bots.get(for_update=True)")
        bot = self.state.bots.get(bot_id)
        if bot is None or (workspace_id is not None and bot.workspace_id != workspace_id):
            return None
        return bot

    async def update(self, bot: Bot) -> None:
        self.check_write("bots.update")
        old = self.state.bots.get(bot.id)
        if old is None:
            raise NotFound(f"No bot {bot.id}.")
        # Like the SQL store: identity and creation time never change; stored history is kept
        # and only the changes beyond it are appended.
        new = bot.evolve(
            seq=old.seq,
            workspace_id=old.workspace_id,
            created_at=old.created_at,
            status_changes=old.status_changes + bot.status_changes[len(old.status_changes) :],
        )
        self._check_duplicate(new)
        self.state.bots[bot.id] = _normalised(new)

    async def delete(self, bot_id: str) -> None:
        self.check_write("bots.delete")
        self.state.bots.pop(bot_id, None)

    async def list(self, workspace_id: str, query: BotQuery) -> builtins.list[Bot]:
        after = _opt_utc(query.join_at_after)
        before = _opt_utc(query.join_at_before)

        def matches(bot: Bot) -> bool:
            if bot.workspace_id != workspace_id:
                return False
            if query.status is not None and bot.status != query.status:
                return False
            if after is not None and (bot.join_at is None or bot.join_at < after):
                return False
            if before is not None and (bot.join_at is None or bot.join_at >= before):
                return False
            if query.meeting_url is not None and bot.meeting.url != query.meeting_url:
                return False
            if any(bot.metadata.get(k) != v for k, v in query.metadata.items()):
                return False
            return query.before_seq is None or (bot.seq or 0) < query.before_seq

        found = sorted(filter(matches, self.state.bots.values()), key=_seq, reverse=True)
        return found[: max(query.limit, 0)]

    async def find_active_duplicate(self, workspace_id: str, key: str) -> Bot | None:
        for bot in self.state.bots.values():
            if bot.workspace_id == workspace_id and _dedup_active(bot) == key:
                return bot
        return None

    async def due_for_dispatch(self, cutoff: datetime, limit: int) -> builtins.list[Bot]:
        self.check_write("bots.due_for_dispatch")
        cutoff = utc(cutoff)
        due = [
            bot
            for bot in self.state.bots.values()
            if bot.status is Status.SCHEDULED and bot.join_at is not None and bot.join_at <= cutoff
        ]
        due.sort(key=lambda bot: (bot.join_at, _seq(bot)))
        return due[: max(limit, 0)]

    async def in_statuses(
        self, statuses: Collection[Status], limit: int = 1000
    ) -> builtins.list[Bot]:
        found = sorted((b for b in self.state.bots.values() if b.status in statuses), key=_seq)
        return found[: max(limit, 0)]

    async def touch(self, bot_id: str, at: datetime) -> None:
        self.check_write("bots.touch")
        bot = self.state.bots.get(bot_id)
        if bot is not None:
            self.state.bots[bot_id] = bot.evolve(last_seen_at=utc(at))

    def _check_duplicate(self, bot: Bot) -> None:
        key = _dedup_active(bot)
        if key is None:
            return
        for other in self.state.bots.values():
            if (
                other.id != bot.id
                and other.workspace_id == bot.workspace_id
                and _dedup_active(other) == key
            ):
                raise DuplicateBot(other.id)


def _seq(bot: Bot) -> int:
    return bot.seq or 0


@dataclass(frozen=True, slots=True)
class MemoryEventRepo(_Repo):
    async def append(self, event: OutboxEvent) -> OutboxEvent:
        self.check_write("events.append")
        if any(e.id == event.id for e in self.state.events):
            raise Conflict(f"An event with id {event.id} already exists.")
        self.state.event_seq += 1
        stored = dataclasses.replace(
            event, seq=self.state.event_seq, created_at=utc(event.created_at), data=dict(event.data)
        )
        self.state.events.append(stored)
        return dataclasses.replace(event, seq=stored.seq)

    async def list_after(
        self, workspace_id: str, after_seq: int, limit: int
    ) -> builtins.list[OutboxEvent]:
        found = [
            e
            for e in self.state.events
            if e.workspace_id == workspace_id and e.seq is not None and e.seq > after_seq
        ]
        return found[: max(limit, 0)]


@dataclass(frozen=True, slots=True)
class MemoryKeyRepo(_Repo):
    async def create_workspace(self, workspace_id: str, name: str, at: datetime) -> None:
        self.check_write("keys.create_workspace")
        if workspace_id in self.state.workspaces:
            raise Conflict(f"Workspace {workspace_id} already exists.")
        self.state.workspaces[workspace_id] = (name, utc(at))

    async def workspace_exists(self, workspace_id: str) -> bool:
        return workspace_id in self.state.workspaces

    async def add(self, key: ApiKey) -> None:
        self.check_write("keys.add")
        if key.workspace_id not in self.state.workspaces:
            raise NotFound(f"No workspace {key.workspace_id}.")
        if key.id in self.state.keys or any(
            k.key_hash == key.key_hash for k in self.state.keys.values()
        ):
            raise Conflict(f"API key {key.id} (or its hash) already exists.")
        self.state.keys[key.id] = dataclasses.replace(key, created_at=utc(key.created_at))

    async def workspace_for(self, key_hash: str) -> str | None:
        for key in self.state.keys.values():
            if key.key_hash == key_hash:
                return key.workspace_id
        return None

    async def count(self) -> int:
        """The number of API keys, all workspaces together."""
        return len(self.state.keys)


@dataclass(frozen=True, slots=True)
class MemoryIdempotencyRepo(_Repo):
    async def get(self, workspace_id: str, key: str) -> IdempotencyRecord | None:
        return self.state.idempotency.get((workspace_id, key))

    async def put(self, record: IdempotencyRecord) -> None:
        self.check_write("idempotency.put")
        slot = (record.workspace_id, record.key)
        if slot in self.state.idempotency:
            raise IdempotencyKeyReused(
                "A request with this Idempotency-Key was processed concurrently."
            )
        self.state.idempotency[slot] = dataclasses.replace(
            record, body=bytes(record.body), created_at=utc(record.created_at)
        )

    async def purge(self, before: datetime) -> int:
        self.check_write("idempotency.purge")
        before = utc(before)
        old = [slot for slot, r in self.state.idempotency.items() if r.created_at < before]
        for slot in old:
            del self.state.idempotency[slot]
        return len(old)


@dataclass(frozen=True, slots=True)
class MemoryObservationRepo(_Repo):
    async def append(self, bot_id: str, report: BaseReport) -> None:
        self.check_write("observations.append")
        self.state.observations.append((bot_id, report))

    async def list(
        self, bot_id: str, types: Collection[str] | None = None
    ) -> builtins.list[BaseReport]:
        wanted = None if types is None else set(types)
        return [
            report
            for owner, report in self.state.observations
            if owner == bot_id and (wanted is None or getattr(report, "type", None) in wanted)
        ]

    async def delete_for(self, bot_id: str) -> None:
        self.check_write("observations.delete_for")
        self.state.observations[:] = [o for o in self.state.observations if o[0] != bot_id]


@dataclass(frozen=True, slots=True)
class MemoryCredentialRepo(_Repo):
    async def get(self, workspace_id: str) -> str | None:
        found = self.state.credentials.get(workspace_id)
        return found[0] if found else None

    async def put(self, workspace_id: str, ciphertext: str, at: datetime) -> None:
        self.check_write("credentials.put")
        self.state.credentials[workspace_id] = (ciphertext, utc(at))

    async def delete(self, workspace_id: str) -> None:
        self.check_write("credentials.delete")
        self.state.credentials.pop(workspace_id, None)


@dataclass(frozen=True, slots=True)
class MemoryTx:
    state: _State
    writable: bool

    @property
    def bots(self) -> MemoryBotRepo:
        return MemoryBotRepo(self.state, self.writable)

    @property
    def events(self) -> MemoryEventRepo:
        return MemoryEventRepo(self.state, self.writable)

    @property
    def keys(self) -> MemoryKeyRepo:
        return MemoryKeyRepo(self.state, self.writable)

    @property
    def idempotency(self) -> MemoryIdempotencyRepo:
        return MemoryIdempotencyRepo(self.state, self.writable)

    @property
    def observations(self) -> MemoryObservationRepo:
        return MemoryObservationRepo(self.state, self.writable)

    @property
    def webhooks(self) -> MemoryWebhookRepo:
        return MemoryWebhookRepo(self.state.webhooks, self.writable)

    @property
    def credentials(self) -> MemoryCredentialRepo:
        return MemoryCredentialRepo(self.state, self.writable)


class MemoryStore:
    """A :class:`~meetbot.ports.Store` in a dict. Cheap: make one per test."""

    def __init__(self) -> None:
        self._state = _State()
        self._write_lock = asyncio.Lock()
        self._writer: asyncio.Task[Any] | None = None

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[MemoryTx]:
        return self._transaction(write)

    @asynccontextmanager
    async def _transaction(self, write: bool) -> AsyncIterator[MemoryTx]:
        if not write:
            yield MemoryTx(self._state, writable=False)
            return
        me = asyncio.current_task()
        if me is not None and self._writer is me:
            raise RuntimeError("a nested write transaction waits for itself (as on SQLite)")
        async with self._write_lock:
            self._writer = me
            try:
                working = self._state.copy()
                yield MemoryTx(working, writable=True)
                self._state = working  # only reached when the block did not raise
            finally:
                self._writer = None

    async def close(self) -> None:
        return None


if TYPE_CHECKING:  # MemoryStore and MemoryTx implement the ports.

    def _is_store(store: MemoryStore) -> Store:
        return store

    def _is_tx(tx: MemoryTx) -> Tx:
        return tx

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
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from meetbot.contract.models import ApiKey, IdempotencyRecord, OutboxEvent
from meetbot.contract.reports import BaseReport
from meetbot.errors import Conflict, IdempotencyKeyReused, NotFound
from meetbot.testing.memory_agents import MemoryAgentRepo
from meetbot.testing.memory_bots import MemoryBotRepo
from meetbot.testing.memory_calendars import MemoryCalendarRepo
from meetbot.testing.memory_state import MemoryRepo, MemoryState
from meetbot.testing.memory_stats import MemoryStatsRepo
from meetbot.testing.memory_webhooks import MemoryWebhookRepo
from meetbot.timefmt import utc

if TYPE_CHECKING:
    from meetbot.control.ports import Store, Tx


@dataclass(frozen=True, slots=True)
class MemoryEventRepo(MemoryRepo):
    async def append(self, event: OutboxEvent) -> OutboxEvent:
        (stored,) = await self.append_all([event])
        return stored

    async def append_all(self, events: Sequence[OutboxEvent]) -> builtins.list[OutboxEvent]:
        self.check_write("events.append")
        taken = {e.id for e in self.state.events}
        for event in events:
            if event.id in taken:
                raise Conflict(f"An event with id {event.id} already exists.")
            taken.add(event.id)
        kept = []
        for event in events:
            self.state.event_seq += 1
            stored = dataclasses.replace(
                event,
                seq=self.state.event_seq,
                created_at=utc(event.created_at),
                data=dict(event.data),
            )
            self.state.events.append(stored)
            kept.append(dataclasses.replace(event, seq=stored.seq))
        return kept

    async def list_after(
        self, workspace_id: str, after_seq: int, limit: int, *, bot_id: str | None = None
    ) -> builtins.list[OutboxEvent]:
        found = [
            e
            for e in self.state.events
            if e.workspace_id == workspace_id
            and e.seq is not None
            and e.seq > after_seq
            and (bot_id is None or e.bot_id == bot_id)
        ]
        return found[: max(limit, 0)]

    async def seq_range(
        self, workspace_id: str, start: datetime, end: datetime
    ) -> tuple[int, int] | None:
        seqs = [
            e.seq
            for e in self.state.events
            if e.workspace_id == workspace_id
            and e.seq is not None
            and utc(start) <= utc(e.created_at) < utc(end)
        ]
        return (min(seqs), max(seqs)) if seqs else None


@dataclass(frozen=True, slots=True)
class MemoryKeyRepo(MemoryRepo):
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
            if key.key_hash == key_hash and key.revoked_at is None:
                return key.workspace_id
        return None

    async def count(self) -> int:
        """The number of API keys, all workspaces together."""
        return len(self.state.keys)

    async def list_keys(self) -> list[ApiKey]:
        return sorted(self.state.keys.values(), key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        self.check_write("keys.revoke")
        key = self.state.keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return key
        revoked = dataclasses.replace(key, revoked_at=utc(at))
        self.state.keys[key_id] = revoked
        return revoked


@dataclass(frozen=True, slots=True)
class MemoryIdempotencyRepo(MemoryRepo):
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
class MemoryObservationRepo(MemoryRepo):
    async def append(self, bot_id: str, report: BaseReport) -> None:
        await self.append_all(bot_id, [report])

    async def append_all(self, bot_id: str, reports: Sequence[BaseReport]) -> None:
        self.check_write("observations.append")
        self.state.observations += [(bot_id, report) for report in reports]

    async def list(
        self, bot_id: str, types: Collection[str] | None = None
    ) -> builtins.list[BaseReport]:
        wanted = None if types is None else set(types)
        return [
            report
            for owner, report in self.state.observations
            if owner == bot_id and (wanted is None or getattr(report, "type", None) in wanted)
        ]

    async def list_after(
        self, bot_id: str, types: Collection[str], after_seq: int, limit: int
    ) -> builtins.list[tuple[int, BaseReport]]:
        """``seq``: the position in the list, from 1 (the fake never reuses one but by
        ``delete_for``)."""
        wanted = set(types)
        found = [
            (seq, report)
            for seq, (owner, report) in enumerate(self.state.observations, start=1)
            if owner == bot_id and seq > after_seq and getattr(report, "type", None) in wanted
        ]
        return found[: max(limit, 0)]

    async def last_seq(self, bot_id: str) -> int:
        seqs = [s for s, (o, _) in enumerate(self.state.observations, start=1) if o == bot_id]
        return max(seqs, default=0)

    async def delete_for(self, bot_id: str) -> None:
        self.check_write("observations.delete_for")
        self.state.observations[:] = [o for o in self.state.observations if o[0] != bot_id]


@dataclass(frozen=True, slots=True)
class MemoryCredentialRepo(MemoryRepo):
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
class MemoryLeaseRepo(MemoryRepo):
    async def acquire(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        self.check_write("leases.acquire")
        held = self.state.leases.get(name)
        if held is not None and held[0] != owner and held[1] > utc(now):
            return False
        self.state.leases[name] = (owner, utc(until))
        return True

    async def release(self, name: str, owner: str) -> None:
        self.check_write("leases.release")
        held = self.state.leases.get(name)
        if held is not None and held[0] == owner:
            del self.state.leases[name]

    async def purge(self, before: datetime) -> int:
        self.check_write("leases.purge")
        old = [name for name, (_, until) in self.state.leases.items() if until < utc(before)]
        for name in old:
            del self.state.leases[name]
        return len(old)


@dataclass(frozen=True, slots=True)
class MemoryTx:
    state: MemoryState
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

    @property
    def leases(self) -> MemoryLeaseRepo:
        return MemoryLeaseRepo(self.state, self.writable)

    @property
    def stats(self) -> MemoryStatsRepo:
        return MemoryStatsRepo(self.state, self.writable)

    @property
    def calendars(self) -> MemoryCalendarRepo:
        return MemoryCalendarRepo(self.state, self.writable)

    @property
    def agents(self) -> MemoryAgentRepo:
        return MemoryAgentRepo(self.state, self.writable)


class MemoryStore:
    """A :class:`~meetbot.ports.Store` in a dict. Cheap: make one per test."""

    def __init__(self) -> None:
        self._state = MemoryState()
        self._write_lock = asyncio.Lock()
        self._writer: asyncio.Task[Any] | None = None

    def transaction(
        self, *, write: bool = True, priority: bool = False
    ) -> AbstractAsyncContextManager[MemoryTx]:
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

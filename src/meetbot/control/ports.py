"""The Protocols at the control plane's I/O boundaries.

Drivers live in one module each: ``store/sql.py`` (SQLAlchemy), ``launchers/fleet.py``
and ``launchers/local.py`` (agents' rows; one agent in process), ``webhooks/sender.py``
(aiohttp). Fakes for all of them ship in :mod:`meetbot.testing`. The boundaries both
processes share (clock, storage, transcriber) are in :mod:`meetbot.ports`.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from meetbot.contract.assignment import Assignment
from meetbot.contract.lifecycle import Status
from meetbot.contract.models import ApiKey, Bot, IdempotencyRecord, OutboxEvent, StatusChange
from meetbot.contract.reports import BaseReport

if TYPE_CHECKING:
    from meetbot.control.agent_repo import AgentRepo
    from meetbot.control.calendars.repo import CalendarRepo
    from meetbot.control.webhooks.ports import WebhookRepo


class BotCapacity(Protocol):
    """How many bots can run at once: this machine's ``MEETBOT_MAX_CONCURRENT_BOTS`` today
    (:class:`meetbot.control.capacity.FixedCapacity`); a fleet of agents supplies its own. Scheduled
    bots' reservations are checked against it (:mod:`meetbot.control.capacity`)."""

    def total(self) -> int: ...


# --- store ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BotQuery:
    status: Status | None = None
    join_at_after: datetime | None = None
    join_at_before: datetime | None = None
    meeting_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    before_seq: int | None = None
    """Cursor: only bots with ``seq`` below this (newest first)."""
    limit: int = 50
    platform: str | None = None
    search: str | None = None
    """Case-insensitive: a part of the meeting URL or the bot's name, or its whole id."""


class BotRepo(Protocol):
    async def insert(self, bot: Bot) -> Bot:
        """Insert a bot and its status changes; return it with ``seq`` set.

        Raises :class:`meetbot.errors.DuplicateBot` if a non-terminal bot of the same workspace
        has the same ``deduplication_key``.
        """
        ...

    async def get(
        self,
        bot_id: str,
        *,
        workspace_id: str | None = None,
        for_update: bool = False,
        history: bool = True,
    ) -> Bot | None:
        """``history=False``: without its status changes (one query less: a runner's heartbeat
        reads only the row)."""
        ...

    async def update(self, bot: Bot) -> None:
        """Write the bot's mutable fields and any status changes not yet stored."""
        ...

    async def update_many(self, many: Sequence[Bot]) -> None:
        """:meth:`update` for several bots, in a few statements."""
        ...

    async def delete(self, bot_id: str) -> None: ...

    async def list(self, workspace_id: str, query: BotQuery) -> list[Bot]: ...

    async def find_active_duplicate(self, workspace_id: str, key: str) -> Bot | None: ...

    async def due_for_dispatch(self, cutoff: datetime, limit: int) -> builtins.list[Bot]:
        """Scheduled bots with ``join_at <= cutoff``, oldest ``join_at`` first, locked for update
        (``FOR UPDATE SKIP LOCKED`` where the database has it)."""
        ...

    async def lock_schedule(self) -> None:
        """Take the schedule lock until the transaction ends, so that capacity checks (read
        what is booked, then book) run one at a time across every control plane: PostgreSQL
        takes an advisory transaction lock; SQLite's and the memory store's write transactions
        are serialised already."""
        ...

    async def holding_capacity(
        self, join_after: datetime, join_before: datetime, running: Collection[Status]
    ) -> builtins.list[Bot]:
        """In every workspace, in one read: the ``scheduled`` bots with ``join_after <= join_at
        < join_before`` and every bot in one of the ``running`` statuses."""
        ...

    async def count_holding_capacity(
        self, join_after: datetime, join_before: datetime, running: Collection[Status]
    ) -> int:
        """How many bots :meth:`holding_capacity` would read (one count on an index)."""
        ...

    async def in_statuses(
        self,
        statuses: Collection[Status],
        limit: int = 1000,
        *,
        updated_since: datetime | None = None,
        pushed: bool = False,
    ) -> builtins.list[Bot]:
        """Bots in these statuses, oldest first; with ``updated_since``, only those whose row
        changed at or after it; with ``pushed``, only those with ``realtime_endpoints``."""
        ...

    async def silent(
        self, statuses: Collection[Status], before: datetime, limit: int = 1000
    ) -> builtins.list[Bot]:
        """Bots in these statuses whose last sign of life (``last_seen_at``, else
        ``dispatched_at``, else ``updated_at``) is earlier than ``before``, oldest first."""
        ...

    async def touch(self, bot_id: str, at: datetime) -> None:
        """Record a runner heartbeat."""
        ...


class EventRepo(Protocol):
    async def append(self, event: OutboxEvent) -> OutboxEvent:
        """Store an event; return it with its ``seq`` (a strictly increasing cursor)."""
        ...

    async def append_all(self, events: Sequence[OutboxEvent]) -> list[OutboxEvent]:
        """:meth:`append` for several events at once: their ``seq`` follow their order."""
        ...

    async def list_after(
        self, workspace_id: str, after_seq: int, limit: int, *, bot_id: str | None = None
    ) -> list[OutboxEvent]:
        """The workspace's events after ``after_seq``, oldest first; only ``bot_id``'s if set
        (a bot's stream)."""
        ...

    async def seq_range(
        self, workspace_id: str, start: datetime, end: datetime
    ) -> tuple[int, int] | None:
        """The lowest and highest ``seq`` of the events created in ``[start, end)``, if any
        (an index range on ``created_at``: replays start there instead of at the feed's start)."""
        ...


class KeyRepo(Protocol):
    async def create_workspace(self, workspace_id: str, name: str, at: datetime) -> None: ...

    async def workspace_exists(self, workspace_id: str) -> bool: ...

    async def add(self, key: ApiKey) -> None: ...

    async def workspace_for(self, key_hash: str) -> str | None:
        """The workspace of the key with this hash, unless it is revoked."""
        ...

    async def count(self) -> int: ...

    async def list_keys(self) -> list[ApiKey]:
        """Every key of every workspace, oldest first (revoked ones too)."""
        ...

    async def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        """Revoke the key with this id (once: a revoked key keeps its ``revoked_at``);
        the key as it now is, or ``None`` if there is none."""
        ...


class IdempotencyRepo(Protocol):
    async def get(self, workspace_id: str, key: str) -> IdempotencyRecord | None: ...

    async def put(self, record: IdempotencyRecord) -> None: ...

    async def purge(self, before: datetime) -> int: ...


class ObservationRepo(Protocol):
    """What runners saw, in arrival order: participants, speech, captions, chunks, artifacts."""

    async def append(self, bot_id: str, report: BaseReport) -> None: ...

    async def append_all(self, bot_id: str, reports: Sequence[BaseReport]) -> None:
        """:meth:`append` for several reports at once, in their order."""
        ...

    async def list(self, bot_id: str, types: Collection[str] | None = None) -> list[BaseReport]:
        """The bot's observations (optionally only these report ``type``s), oldest first."""
        ...

    async def list_after(
        self, bot_id: str, types: Collection[str], after_seq: int, limit: int
    ) -> builtins.list[tuple[int, BaseReport]]:
        """The bot's observations of these ``type``s stored after ``after_seq``, oldest first,
        each with its ``seq`` (a cursor for the next call; a bot's stream reads its audio so)."""
        ...

    async def last_seq(self, bot_id: str) -> int:
        """The ``seq`` of the bot's latest observation (0 if none): "from now on"."""
        ...

    async def delete_for(self, bot_id: str) -> None: ...


class CredentialRepo(Protocol):
    """Workspaces' default credentials, as sealed by :class:`meetbot.crypto.SecretBox`."""

    async def get(self, workspace_id: str) -> str | None: ...

    async def put(self, workspace_id: str, ciphertext: str, at: datetime) -> None:
        """Insert or replace the workspace's ciphertext."""
        ...

    async def delete(self, workspace_id: str) -> None: ...


class LeaseRepo(Protocol):
    """Named, expiring claims on work that one control-plane replica does at a time."""

    async def acquire(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        """Take or renew lease ``name`` for ``owner`` until ``until``. ``False`` if another
        owner holds it past ``now`` (then nothing changes)."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Drop lease ``name`` if ``owner`` holds it."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete leases that expired before ``before``; return how many."""
        ...


class Tx(Protocol):
    """One database transaction, with a repository per noun."""

    @property
    def bots(self) -> BotRepo: ...

    @property
    def events(self) -> EventRepo: ...

    @property
    def keys(self) -> KeyRepo: ...

    @property
    def idempotency(self) -> IdempotencyRepo: ...

    @property
    def observations(self) -> ObservationRepo: ...

    @property
    def webhooks(self) -> WebhookRepo: ...

    @property
    def credentials(self) -> CredentialRepo: ...

    @property
    def leases(self) -> LeaseRepo: ...

    @property
    def stats(self) -> StatsRepo: ...

    @property
    def calendars(self) -> CalendarRepo: ...

    @property
    def agents(self) -> AgentRepo: ...


class StatsRepo(Protocol):
    """Counts read at scrape time for ``/metrics``: each one cheap query on an index."""

    async def active_bots_by_status(self) -> dict[Status, int]:
        """Bots not ended (``ENDED`` excluded), counted by status (index ``ix_bots_due``)."""
        ...

    async def scheduled_before(self, cutoffs: Sequence[datetime]) -> builtins.list[int]:
        """For each cutoff, the ``scheduled`` bots with ``join_at < cutoff`` (one query)."""
        ...

    async def due_deliveries(self, now: datetime) -> int:
        """Open webhook deliveries whose attempt time has come (``next_attempt_at <= now``)."""
        ...

    async def ping(self) -> None:
        """One round trip to the database (``SELECT 1``); raises when it is unreachable."""
        ...


class Store(Protocol):
    def transaction(
        self, *, write: bool = True, priority: bool = False
    ) -> AbstractAsyncContextManager[Tx]:
        """Commit on normal exit, roll back on exception. ``write=False`` for read-only work.
        ``priority=True``: on connections kept apart from the requests' (the dispatcher's:
        scheduled bots must not wait behind a burst of requests)."""
        ...

    async def close(self) -> None: ...


# --- launcher (its own module; re-exported here) ----------------------------------------------

from meetbot.control.launcher_port import CapacitySnapshot as CapacitySnapshot  # noqa: E402
from meetbot.control.launcher_port import Launcher as Launcher  # noqa: E402
from meetbot.control.launcher_port import Slot as Slot  # noqa: E402

# --- webhooks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    async def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> SendResult: ...


__all__ = [
    "Assignment",
    "BotCapacity",
    "BotQuery",
    "BotRepo",
    "CapacitySnapshot",
    "CredentialRepo",
    "EventRepo",
    "IdempotencyRepo",
    "KeyRepo",
    "Launcher",
    "ObservationRepo",
    "SendResult",
    "Slot",
    "StatsRepo",
    "StatusChange",
    "Store",
    "Tx",
    "WebhookSender",
]


class ImageFetcher(Protocol):
    """Fetches a bot's picture from an https URL under the webhook egress rules
    (:class:`meetbot.control.webhooks.image_fetch.HttpImageFetcher`)."""

    async def fetch(self, url: str, max_bytes: int = ...) -> bytes:
        """The body (at most ``max_bytes``); raise ``InvalidBotImageUrl`` if refused or failed."""
        ...

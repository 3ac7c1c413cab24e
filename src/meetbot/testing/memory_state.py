"""The state of :class:`~meetbot.testing.memory_store.MemoryStore` and its repositories' base."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from meetbot.contract.models import ApiKey, Bot, IdempotencyRecord, OutboxEvent
from meetbot.contract.reports import BaseReport
from meetbot.control.calendars.models import Calendar, CalendarEvent
from meetbot.testing.memory_webhooks import MemoryWebhookData

if TYPE_CHECKING:
    from meetbot.testing.memory_agents import MemoryAgentData


class ReadOnlyTransactionError(RuntimeError):
    """A write (or a row lock) was attempted in a ``transaction(write=False)``."""


@dataclass(slots=True)
class MemoryState:
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
    leases: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    """Lease name → (owner, until)."""
    calendars: dict[str, Calendar] = field(default_factory=dict)
    calendar_seq: int = 0
    calendar_events: dict[str, CalendarEvent] = field(default_factory=dict)
    calendar_event_seq: int = 0
    agents: MemoryAgentData = field(default_factory=lambda: _agent_data())

    def copy(self) -> MemoryState:
        return MemoryState(
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
            leases=dict(self.leases),
            calendars=dict(self.calendars),
            calendar_seq=self.calendar_seq,
            calendar_events=dict(self.calendar_events),
            calendar_event_seq=self.calendar_event_seq,
            agents=self.agents.copy(),
        )


def _agent_data() -> MemoryAgentData:
    from meetbot.testing.memory_agents import MemoryAgentData

    return MemoryAgentData()


@dataclass(frozen=True, slots=True)
class MemoryRepo:
    state: MemoryState
    writable: bool

    def check_write(self, what: str) -> None:
        if not self.writable:
            raise ReadOnlyTransactionError(f"{what} needs transaction(write=True)")

"""What every use case shares: the service container and the one way a bot's state changes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meetbot.config import Settings
from meetbot.contract.lifecycle import Event, IllegalTransition, advance
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.control.ports import Launcher, Store, Tx
from meetbot.control.webhooks import outbox
from meetbot.crypto import SecretBox
from meetbot.ports import Clock

log = logging.getLogger("meetbot.control.service")


def new_id() -> str:
    return str(uuid.uuid4())


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CommandBus:
    """Wakes runners' long polls in this process when a command for their bot is pending."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def event_for(self, bot_id: str) -> asyncio.Event:
        return self._events.setdefault(bot_id, asyncio.Event())

    def notify(self, bot_id: str) -> None:
        self.event_for(bot_id).set()

    def forget(self, bot_id: str) -> None:
        self._events.pop(bot_id, None)


@dataclass
class Services:
    """The control plane's boundaries, built once by the entrypoint and passed down."""

    settings: Settings
    store: Store
    launcher: Launcher
    clock: Clock
    storage_descriptor: dict[str, Any] = field(default_factory=dict)
    """How runners reach media storage (see ``meetbot.storage``)."""
    commands: CommandBus = field(default_factory=CommandBus)
    on_events: list[Callable[[], None]] = field(default_factory=list)
    """Called after a transaction that emitted events commits (wakes the delivery worker)."""
    on_processing: list[Callable[[str], None]] = field(default_factory=list)
    """Called with a bot id after it enters ``processing`` (wakes the media pipeline)."""
    on_chunk: list[Callable[[str, str, float], None]] = field(default_factory=list)
    """Called with (bot id, storage key, offset s) for each audio chunk a runner wrote."""
    secret_box: SecretBox | None = None
    """Seals stored credentials (the server secret's key); ``None``: credentials are refused."""

    def events_committed(self) -> None:
        for hook in self.on_events:
            hook()

    def processing_started(self, bot_id: str) -> None:
        for hook in self.on_processing:
            hook(bot_id)

    def chunk_stored(self, bot_id: str, key: str, offset_s: float) -> None:
        for hook in self.on_chunk:
            hook(bot_id, key, offset_s)


async def emit(tx: Tx, event: OutboxEvent, bot: Bot | None = None) -> int:
    """Append an event and its webhook deliveries (call it after the change's row locks).

    Returns how many deliveries it queued: with none, the delivery worker needs no wake.
    """
    _, queued = await outbox.emit_counted(tx, event, bot=bot)
    return queued


def step(bot: Bot, event: Event, at: datetime) -> tuple[Bot, OutboxEvent | None]:
    """``bot`` advanced by ``event`` and the ``status_update`` to emit (``None``: no change);
    nothing is stored. Raises :class:`IllegalTransition` when the lifecycle refuses it."""
    advanced = advance(bot.state, event)
    if not advanced.changed:
        return bot, None
    updated = bot.with_state(advanced.new, at)
    return updated, outbox.status_update_event(updated, advanced.old, advanced.new, at)


def try_step(bot: Bot, event: Event, at: datetime) -> tuple[Bot, OutboxEvent | None]:
    """Like :func:`step`, but a refused transition is logged and changes nothing."""
    try:
        return step(bot, event, at)
    except IllegalTransition as exc:
        log.info("bot %s: refused %s", bot.id, exc)
        return bot, None


async def transition(tx: Tx, bot: Bot, event: Event, at: datetime) -> Bot:
    """Advance ``bot`` by ``event``, store the change and its ``status_update`` event.

    Raises :class:`IllegalTransition` (nothing is stored) when the lifecycle refuses it.
    """
    return await _store_step(tx, *step(bot, event, at))


async def try_transition(tx: Tx, bot: Bot, event: Event, at: datetime) -> Bot:
    """Like :func:`transition`, but a refused transition is logged and ignored."""
    return await _store_step(tx, *try_step(bot, event, at))


async def _store_step(tx: Tx, bot: Bot, emitted: OutboxEvent | None) -> Bot:
    if emitted is not None:
        await tx.bots.update(bot)
        await emit(tx, emitted, bot)
    return bot

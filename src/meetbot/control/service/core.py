"""What every use case shares: the service container and the one way a bot's state changes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meetbot.config import Settings
from meetbot.contract.lifecycle import DISPATCHED, Event, IllegalTransition, advance
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.control.ports import BotCapacity, Launcher, Store, Tx
from meetbot.control.service.reactions import Reactions, Subscribers
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
    """Wakes runners' long polls in this process when a command for their bot is pending.

    A poll takes its bot's event (:meth:`event_for`) before it reads the commands, so a
    :meth:`notify` that finds no event has no poll to wake. The service forgets a bot once no
    runner owns it (:func:`runner_done`): the bus holds the bots whose runners poll, not every
    bot ever run.
    """

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        """How many bots have an event."""
        return len(self._events)

    def event_for(self, bot_id: str) -> asyncio.Event:
        return self._events.setdefault(bot_id, asyncio.Event())

    def notify(self, bot_id: str) -> None:
        event = self._events.get(bot_id)
        if event is not None:
            event.set()

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
    reactions: Reactions = field(default_factory=Subscribers)
    """Told what committed, to wake the workers (see :mod:`meetbot.control.service.reactions`)."""
    secret_box: SecretBox | None = None
    """Seals stored credentials (the server secret's key); ``None``: credentials are refused."""
    capacity: BotCapacity | None = None
    """How many bots can run at once, for scheduled bots' reservations (a fleet supplies its
    own); ``None``: ``MEETBOT_MAX_CONCURRENT_BOTS``."""


def runner_done(svc: Services, bot: Bot) -> None:
    """Call after a commit: once no runner owns ``bot``, its command bus entry goes."""
    if bot.status not in DISPATCHED:
        svc.commands.forget(bot.id)


async def emit(svc: Services, tx: Tx, event: OutboxEvent, bot: Bot | None = None) -> int:
    """Append an event and its webhook deliveries (call it after the change's row locks).

    The deliveries' retry window (``webhook_retry_window``) starts at the clock's now.
    Returns how many deliveries it queued: with none, the delivery worker needs no wake.
    """
    return await emit_all(svc, tx, [event], bot)


async def emit_all(
    svc: Services, tx: Tx, events: Sequence[OutboxEvent], bot: Bot | None = None
) -> int:
    """:func:`emit` for several events of one workspace, in order."""
    _, queued = await outbox.emit_all(
        tx,
        events,
        bot=bot,
        now=svc.clock.now(),
        retry_window=svc.settings.webhook_retry_window,
    )
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


async def transition(svc: Services, tx: Tx, bot: Bot, event: Event, at: datetime) -> Bot:
    """Advance ``bot`` by ``event``, store the change and its ``status_update`` event.

    Raises :class:`IllegalTransition` (nothing is stored) when the lifecycle refuses it.
    """
    return await _store_step(svc, tx, *step(bot, event, at))


async def try_transition(svc: Services, tx: Tx, bot: Bot, event: Event, at: datetime) -> Bot:
    """Like :func:`transition`, but a refused transition is logged and ignored."""
    return await _store_step(svc, tx, *try_step(bot, event, at))


async def _store_step(svc: Services, tx: Tx, bot: Bot, emitted: OutboxEvent | None) -> Bot:
    if emitted is not None:
        await tx.bots.update(bot)
        await emit(svc, tx, emitted, bot)
    return bot

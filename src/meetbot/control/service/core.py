"""What every use case shares: the service container and the one way a bot's state changes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meetbot.config import Settings
from meetbot.contract.lifecycle import DISPATCHED, Event, IllegalTransition, advance
from meetbot.contract.models import Bot, OutboxEvent
from meetbot.control.calendars.source import CalendarSources
from meetbot.control.ports import BotCapacity, ImageFetcher, Launcher, Store, Tx
from meetbot.control.service.agent_polls import AgentPolls
from meetbot.control.service.reactions import Reactions, Subscribers
from meetbot.control.webhooks import outbox
from meetbot.crypto import SecretBox
from meetbot.ports import Clock, Storage

log = logging.getLogger("meetbot.control.service")


def new_id() -> str:
    return str(uuid.uuid4())


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CommandBus:
    """Wakes runners' long polls in this process when a command for their bot is pending.

    A bot has an entry only while a poll of its (authenticated) runner waits: nothing is
    kept for a bot whose polls ended, nor for a poll that was refused; the service forgets a
    bot once no runner owns it (:func:`runner_done`)."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[asyncio.Event, int]] = {}
        self.notices = 0
        """Notifications so far, for any bot: a poll that read its commands, then started
        waiting, reads again only if this moved meanwhile (a command came between the two)."""

    def __len__(self) -> int:
        return len(self._waiting)

    @contextlib.contextmanager
    def waiting(self, bot_id: str) -> Iterator[asyncio.Event]:
        """An event set by :meth:`notify` for ``bot_id`` while the block runs."""
        event, polls = self._waiting.get(bot_id, (asyncio.Event(), 0))
        self._waiting[bot_id] = (event, polls + 1)
        try:
            yield event
        finally:
            current = self._waiting.get(bot_id)
            if current is not None and current[0] is event:  # not forgotten meanwhile
                if current[1] <= 1:
                    del self._waiting[bot_id]
                else:
                    self._waiting[bot_id] = (event, current[1] - 1)

    def notify(self, bot_id: str) -> None:
        self.notices += 1
        waiting = self._waiting.get(bot_id)
        if waiting is not None:
            waiting[0].set()

    def forget(self, bot_id: str) -> None:
        """Drop ``bot_id``'s entry now (its bot ended), waking a poll still waiting: it reads
        the bot's last command (``stop``) at once instead of waiting out its timeout."""
        self.notices += 1
        waiting = self._waiting.pop(bot_id, None)
        if waiting is not None:
            waiting[0].set()


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
    calendar_sources: CalendarSources | None = None
    """Opens calendars' providers (``control/calendars``); ``None``: calendars are refused."""
    agent_polls: AgentPolls = field(default_factory=AgentPolls)
    """Fleet agents' long polls waiting in this process (:mod:`.agent_polls`)."""
    media_storage: Storage | None = None
    """Where runners' uploads go (:mod:`meetbot.control.service.uploads`) and a bot's picture
    (``bot_image``) is stored; ``None``: pictures are refused."""
    image_fetcher: ImageFetcher | None = None
    """Fetches ``bot_image`` URLs under the webhook egress rules; ``None``: URLs are refused."""


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


class Pending:
    """The changes of a transaction that changes many bots (the dispatcher's batch): the bots'
    rows written together and their events appended together, at its end.

    The event append holds the feed's lock until COMMIT (:mod:`meetbot.control.store.events`):
    a transaction that dispatched sixteen bots with :func:`transition` held it from the first
    bot's event across every later bot's claims and writes, and every runner's report waited
    behind it (1,000 bots due in one minute: transactions queued on the lock until the
    connection pool ran dry). :meth:`change` steps a bot and keeps it and its event;
    :meth:`write` stores the bots, :meth:`emit` appends the events, last."""

    def __init__(self) -> None:
        self.events: list[tuple[OutboxEvent, Bot]] = []
        self._unwritten: list[Bot] = []

    def change(self, bot: Bot, event: Event, at: datetime) -> Bot:
        """``bot`` advanced by ``event`` (as :func:`transition` does), kept for :meth:`write`
        (:meth:`~meetbot.control.ports.BotRepo.update_many`) and its event for :meth:`emit`."""
        bot, emitted = step(bot, event, at)
        if emitted is not None:
            self._unwritten.append(bot)
            self.events.append((emitted, bot))
        return bot

    async def write(self, tx: Tx) -> None:
        """Store the bots :meth:`change` kept."""
        await tx.bots.update_many(self._unwritten)
        self._unwritten = []

    async def emit(self, svc: Services, tx: Tx) -> None:
        """Append the kept events in order (call it last in the transaction)."""
        by_workspace: dict[str, list[tuple[OutboxEvent, Bot]]] = {}
        for item in self.events:
            by_workspace.setdefault(item[0].workspace_id, []).append(item)
        for items in by_workspace.values():
            await outbox.emit_all(
                tx,
                [event for event, _ in items],
                bots=[bot for _, bot in items],
                now=svc.clock.now(),
                retry_window=svc.settings.webhook_retry_window,
            )
        self.events = []


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

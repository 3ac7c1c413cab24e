"""What the control plane does after the service commits: the one way use cases wake workers.

A use case changes state in a transaction; once it has committed, it tells
:attr:`Services.reactions <meetbot.control.service.core.Services.reactions>`, one named method per
kind of news. Whoever must react subscribes: the entrypoint (``meetbot.control.server.build``) wires
the workers it builds, a test subscribes what it watches.

=====================  ==============================  =======================================
reaction               reported by                     subscribed by ``server.build``
=====================  ==============================  =======================================
``events_committed``   every use case that emitted     the webhook delivery worker (or its
                       events with deliveries          child process): look for due deliveries
``processing_started`` runner reports (``leaving →     the media pipeline: make the recording
                       processing``), a lost runner    and transcript (or salvage the chunks)
``chunk_stored``       runner reports (audio chunk)    live transcription
``runner_exited``      the launcher (a runner process  :func:`~meetbot.control.service.lost_runners.
                       with a bot ended)               runner_exited`: fail the bot if its
                                                       runner left it unfinished
``bot_dispatched``     the scheduler's dispatch        the metrics (dispatch lateness)
``bot_joining``        the join briefing (``booting    the metrics (``joining - join_at``)
                       → joining``)
``calendar_due``       a calendar connected, a sync    the calendar worker: sync it now
                       asked for, a push notification
=====================  ==============================  =======================================

Subscribers run on the event loop, in the order they subscribed, and must not block: they
queue work or wake a task. The launcher gets :meth:`Subscribers.runner_exited` when it is
built, before the services exist; the service's own subscriber is added once they do, so
nothing has to hold the services in advance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from meetbot.contract.models import Bot


class Reactions(Protocol):
    def events_committed(self) -> None:
        """A transaction that queued webhook deliveries has committed."""
        ...

    def processing_started(self, bot_id: str) -> None:
        """The bot left its call (``processing``) or lost its runner (``failed``): its media
        has work to do."""
        ...

    def chunk_stored(self, bot_id: str, key: str, offset_s: float) -> None:
        """The bot's runner stored an audio chunk at ``key``, starting ``offset_s`` seconds
        into the recording."""
        ...

    def runner_exited(self, bot_id: str, returncode: int) -> None:
        """The runner process that had ``bot_id`` ended with ``returncode`` (see
        :data:`meetbot.agent.processes.EXIT_UNKNOWN`)."""
        ...

    def bot_dispatched(self, bot: Bot) -> None:
        """The scheduler dispatched the scheduled ``bot`` (``dispatched_at`` set)."""
        ...

    def bot_joining(self, bot: Bot, at: datetime) -> None:
        """``bot``'s runner started joining at ``at`` (``booting → joining``)."""

    def calendar_due(self, calendar_id: str) -> None:
        """The calendar should be synced now (connected, ``/sync/``, a push notification)."""
        ...


@dataclass(eq=False)
class Subscribers:
    """:class:`Reactions` that call, for each reaction, the callables subscribed to it."""

    on_events_committed: list[Callable[[], None]] = field(default_factory=list)
    on_processing_started: list[Callable[[str], None]] = field(default_factory=list)
    on_chunk_stored: list[Callable[[str, str, float], None]] = field(default_factory=list)
    on_runner_exited: list[Callable[[str, int], None]] = field(default_factory=list)
    on_bot_dispatched: list[Callable[[Bot], None]] = field(default_factory=list)
    on_bot_joining: list[Callable[[Bot, datetime], None]] = field(default_factory=list)
    on_calendar_due: list[Callable[[str], None]] = field(default_factory=list)

    def events_committed(self) -> None:
        for react in self.on_events_committed:
            react()

    def processing_started(self, bot_id: str) -> None:
        for react in self.on_processing_started:
            react(bot_id)

    def chunk_stored(self, bot_id: str, key: str, offset_s: float) -> None:
        for react in self.on_chunk_stored:
            react(bot_id, key, offset_s)

    def runner_exited(self, bot_id: str, returncode: int) -> None:
        for react in self.on_runner_exited:
            react(bot_id, returncode)

    def bot_dispatched(self, bot: Bot) -> None:
        for react in self.on_bot_dispatched:
            react(bot)

    def bot_joining(self, bot: Bot, at: datetime) -> None:
        for react in self.on_bot_joining:
            react(bot, at)

    def calendar_due(self, calendar_id: str) -> None:
        for react in self.on_calendar_due:
            react(calendar_id)

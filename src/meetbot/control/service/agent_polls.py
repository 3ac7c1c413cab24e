"""The agents' long polls waiting in this process, and the one read that wakes them.

A claim made in this process wakes its agent's polls at once (the launcher notifies the
:class:`~meetbot.control.service.core.CommandBus`); one made by another replica is found by a
single read every :data:`POLL_STEP` — which agents have hand-offs not yet taken — however many
polls wait here, instead of one read per poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator

from meetbot.control.ports import Store

log = logging.getLogger("meetbot.control.agents")

POLL_STEP = 0.1
"""Seconds between two reads of the agents with queued hand-offs while polls wait."""


class AgentPolls:
    def __init__(self) -> None:
        self._waiting: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def waiting(self, agent_id: str, store: Store, wake: Callable[[str], None]) -> Iterator[None]:
        """While the block runs, ``wake(agent_id)`` is called when another replica queued a
        hand-off for it (within :data:`POLL_STEP`)."""
        self._waiting[agent_id] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(store, wake), name="agents.poll-watch")
        try:
            yield
        finally:
            self._waiting[agent_id] -= 1
            if self._waiting[agent_id] <= 0:
                del self._waiting[agent_id]

    async def _watch(self, store: Store, wake: Callable[[str], None]) -> None:
        while self._waiting:
            await asyncio.sleep(POLL_STEP)
            try:
                async with store.transaction(write=False) as tx:
                    queued = await tx.agents.with_pending()
            except Exception:  # an outage: the polls answer at their deadline
                log.warning("could not read the agents' queued hand-offs", exc_info=True)
                continue
            for agent_id in queued & set(self._waiting):
                wake(agent_id)

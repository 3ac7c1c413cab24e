"""Handing bots to runners: claim a slot, give it back on any error, start the runner after.

Every hand-off goes through :class:`Handoff`: an ad-hoc bot at creation, a scheduled bot asked
to join now, the dispatcher's due bots, a fresh runner after ``bot_detected``::

    async with Handoff(svc) as handoff:
        async with svc.store.transaction() as tx:
            slot = await handoff.claim_warm(tx)  # or claim(tx): warm, else reserved capacity
            ...                           # the bot is dispatched, with a new runner token
            await handoff.assign(tx, slot, bot, token, credentials)
        svc.reactions.events_committed()
    # the runners have been started here, in the order they were assigned

Invariants:

- slots are claimed in the transaction that dispatches the bot (a fleet's claim is a row
  update in it), and :meth:`Handoff.assign` records the hand-off in it too
  (:meth:`Launcher.queue`);
- a slot claimed in the block goes back to the launcher (:meth:`Launcher.release`) if the
  block raises (cancellation included), or if it was never assigned a bot;
- runners are started only when the block completes, so after the transaction that dispatched
  their bots has committed: a runner never reports for a bot the store does not have yet;
- a launcher that cannot start a runner fails that bot (``failed``/``bot_launch_failed``,
  :func:`~meetbot.control.service.lost_runners.runner_lost`), never the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from meetbot.contract.assignment import Assignment
from meetbot.contract.models import Bot
from meetbot.control.ports import Slot, Tx
from meetbot.control.service.core import Services
from meetbot.control.service.lost_runners import runner_lost

log = logging.getLogger("meetbot.runners")

LAUNCH_FAILED = "bot_launch_failed"


def assignment_for(
    svc: Services, bot: Bot, token: str, credentials: Mapping[str, Any] | None = None
) -> Assignment:
    """The runner's assignment; ``credentials`` are the decrypted
    :func:`~meetbot.control.service.credentials.platform_credentials`."""
    s = svc.settings
    return Assignment(
        bot_id=bot.id,
        meeting_url=bot.meeting.url,
        platform=bot.meeting.platform.value,
        bot_name=bot.bot_name,
        stop_options=bot.stop_options.as_dict(),
        join_at=bot.join_at,
        token=token,
        control_url=s.effective_public_url,
        timer_unit_seconds=s.timer_unit_seconds,
        heartbeat_interval=s.heartbeat_interval,
        control_plane_grace=s.control_plane_grace,
        egress_allowed_hosts=s.self_hosted_meeting_host_list.as_strings(),
        recording=bot.recording.as_dict(),
        storage=svc.storage_descriptor,
        credentials=credentials,
        bot_image=bot.bot_image,
    )


class Handoff:
    """The slots claimed for one hand-off and the assignments they start with (see the
    module's docstring)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._claimed: list[Slot] = []
        self._assigned: list[tuple[Slot, Assignment]] = []

    async def claim_warm(self, tx: Tx) -> Slot | None:
        """An idle warm runner, or ``None``."""
        return self._keep(await self.svc.launcher.claim_warm(tx))

    async def claim(self, tx: Tx) -> Slot | None:
        """An idle warm runner, else capacity for a cold start; ``None`` at the cap."""
        launcher = self.svc.launcher
        return self._keep(await launcher.claim_warm(tx) or await launcher.reserve(tx))

    async def claim_many(self, tx: Tx, count: int) -> list[Slot]:
        """Up to ``count`` slots as :meth:`claim` would give them one by one (the dispatcher's
        batch), in a few statements; fewer at the cap."""
        slots = await self.svc.launcher.claim_many(tx, count) if count > 0 else []
        self._claimed += slots
        return slots

    def _keep(self, slot: Slot | None) -> Slot | None:
        if slot is not None:
            self._claimed.append(slot)
        return slot

    async def assign(
        self, tx: Tx, slot: Slot, bot: Bot, token: str, credentials: Mapping[str, Any] | None
    ) -> None:
        """Start ``slot``'s runner with ``bot`` (as committed) once the block completes."""
        assert slot in self._claimed, "assign a slot claimed by this hand-off"
        assignment = assignment_for(self.svc, bot, token, credentials)
        await self.svc.launcher.queue(tx, slot, assignment)
        self._assigned.append((slot, assignment))

    async def assign_many(
        self, tx: Tx, items: Sequence[tuple[Slot, Bot, str, Mapping[str, Any] | None]]
    ) -> None:
        """:meth:`assign` for several ``(slot, bot, token, credentials)``, recorded together."""
        assert all(item[0] in self._claimed for item in items), "assign slots claimed here"
        assigned = [
            (slot, assignment_for(self.svc, bot, token, credentials))
            for slot, bot, token, credentials in items
        ]
        await self.svc.launcher.queue_many(tx, assigned)
        self._assigned += assigned

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        started = [] if exc is not None else self._assigned
        used = [slot for slot, _ in started]
        for slot in self._claimed:
            if slot not in used:
                await self.svc.launcher.release(slot)
        for slot, assignment in started:
            await start_runner(self.svc, slot, assignment)


async def start_runner(svc: Services, slot: Slot, assignment: Assignment) -> None:
    """Hand a committed bot to its runner; a launcher failure fails the bot, never the caller."""
    try:
        await svc.launcher.assign(slot, assignment)
    except Exception:
        log.exception("bot %s: could not hand the bot to a runner", assignment.bot_id)
        await runner_lost(svc, assignment.bot_id, sub_code=LAUNCH_FAILED)

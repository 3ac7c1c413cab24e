"""Runners that are gone: a bot its runner left unfinished ends ``failed``.

A runner is lost when its process exits (the launcher reports it: :func:`runner_exited`), when
it stops reporting for ``heartbeat_timeout`` (:func:`reap_silent_runners`), or when the
launcher could not start it (:func:`meetbot.control.service.handoff.start_runner`). Only a bot that
is still dispatched changes; the media pipeline then salvages what audio its runner wrote.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from meetbot.contract import lifecycle
from meetbot.contract.lifecycle import DISPATCHED
from meetbot.control.service.core import Services, runner_done, try_transition

log = logging.getLogger("meetbot.runners")

PROCESS_LOST = "bot_process_lost"


async def runner_lost(
    svc: Services, bot_id: str, *, sub_code: str = PROCESS_LOST, token_sha: str | None = None
) -> None:
    """The runner of ``bot_id`` is gone: a bot it still owned ends ``failed``. ``token_sha``
    (an agent's report of which runner ended: the start of its token's SHA-256): only if that
    runner is still the bot's."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, for_update=True)
        if bot is None or bot.status not in DISPATCHED:
            return
        if token_sha is not None and not (bot.runner_token_hash or "").startswith(token_sha):
            return  # an older runner of a bot handed on since
        bot = await try_transition(svc, tx, bot, lifecycle.Fail(sub_code), now)
    svc.reactions.events_committed()
    svc.commands.notify(bot_id)
    runner_done(svc, bot)
    svc.reactions.processing_started(bot_id)  # the media pipeline salvages what was written


def runner_exited(svc: Services, bot_id: str, returncode: int) -> None:
    """The launcher's report that the runner process of ``bot_id`` ended (on the event
    loop): :func:`runner_lost` runs as a task."""
    asyncio.get_running_loop().create_task(runner_lost(svc, bot_id), name=f"runner-exit-{bot_id}")


async def reap_silent_runners(svc: Services) -> int:
    """Fail dispatched bots whose runner has not reported for ``heartbeat_timeout``."""
    now = svc.clock.now()
    deadline = now - timedelta(seconds=svc.settings.heartbeat_timeout)
    async with svc.store.transaction(write=False) as tx:
        lost = [b.id for b in await tx.bots.silent(DISPATCHED, deadline)]
    for bot_id in lost:
        log.warning("bot %s: runner silent for %ss", bot_id, svc.settings.heartbeat_timeout)
        await runner_lost(svc, bot_id)
    return len(lost)

"""``pause_recording`` and ``resume_recording``: the bot stays in the call and stops keeping
its audio and video for a while (issue 16).

The wish is the bot's state: ``recording`` with ``sub_status: paused`` (a lifecycle step, so
it has its ``status_update``). The runner learns it from ``paused`` in every answer it gets
(:func:`meetbot.control.service.runners.commands_for`; the change wakes its long poll here),
writes silence from then on, and reports :class:`~meetbot.contract.reports.RecordingPaused`
with the recording's offset: that report is the ``recording.paused`` event and the gap the
transcript marks (:mod:`meetbot.control.media.final_transcript`).
"""

from __future__ import annotations

from meetbot import errors
from meetbot.contract import policies
from meetbot.contract.lifecycle import Pause, Resume, Status, SubStatus
from meetbot.contract.models import Bot
from meetbot.control.service.core import Services, transition


class BotNotRecording(errors.MeetbotError):
    """A pause or resume of a bot that is not in the call (not ``recording``)."""

    code = "bot_not_recording"


async def pause_recording(svc: Services, workspace_id: str, bot_id: str) -> Bot:
    """``recording`` → ``recording``/``paused``; a paused bot is answered as it is."""
    return await _set(svc, workspace_id, bot_id, paused=True)


async def resume_recording(svc: Services, workspace_id: str, bot_id: str) -> Bot:
    """``recording``/``paused`` → ``recording``; a bot that is not paused is answered as it is."""
    return await _set(svc, workspace_id, bot_id, paused=False)


async def _set(svc: Services, workspace_id: str, bot_id: str, *, paused: bool) -> Bot:
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True)
        if bot is None:
            raise errors.NotFound("No bot with this id.")
        policies.check_command(bot)
        if bot.status is not Status.RECORDING:
            raise BotNotRecording(
                f"The bot is {bot.status.value}: only a bot in the call (recording) can pause"
                " or resume its recording."
            )
        if (bot.sub_status is SubStatus.PAUSED) == paused:
            return bot  # already so: nothing to change, no event
        bot = await transition(svc, tx, bot, Pause() if paused else Resume(), now)
    svc.reactions.events_committed()
    svc.commands.notify(bot.id)
    return bot

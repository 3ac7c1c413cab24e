"""The meeting's chat: messages the runner read (``chat.message`` events, ``GET .../chat/``)
and ``send_chat_message`` (issue 16).

Incoming messages are runner reports (:class:`~meetbot.contract.reports.ChatMessage`), kept as
observations and emitted as ``chat.message`` events in the report's transaction
(:mod:`meetbot.control.service.runners`). Sending needs a runner adapter that can type into
the platform's chat (:attr:`meetbot.contract.platforms.PlatformInfo.chat`): where it has
none, ``send_chat_message`` is 400 ``unsupported_for_platform``, never a silent success.
"""

from __future__ import annotations

from typing import Any

from meetbot import errors
from meetbot.contract.platforms import info
from meetbot.contract.reports import ChatMessage
from meetbot.control.service.core import Services
from meetbot.control.webhooks.outbox import chat_view

MAX_MESSAGE = 4096


class UnsupportedForPlatform(errors.MeetbotError):
    code = "unsupported_for_platform"


async def list_chat(svc: Services, workspace_id: str, bot_id: str) -> list[dict[str, Any]]:
    """The bot's chat as its runner read it, oldest first."""
    async with svc.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id)
        if bot is None:
            raise errors.NotFound("No bot with this id.")
        found = await tx.observations.list(bot.id, ("chat_message",))
    return [chat_view(r) for r in found if isinstance(r, ChatMessage)]


async def send_chat_message(
    svc: Services, workspace_id: str, bot_id: str, message: str, to: str
) -> None:
    """Checked in this order: the bot, the message, the platform's chat."""
    async with svc.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id)
    if bot is None:
        raise errors.NotFound("No bot with this id.")
    if not message.strip():
        raise errors.InvalidRequest("message: empty.", extra={"field": "message"})
    platform = info(bot.meeting.platform)
    # No runner adapter types into a platform's chat yet (PlatformInfo.chat is False on every
    # row); the command path to the runner comes with the first adapter that can.
    raise UnsupportedForPlatform(
        f"{platform.title}: meetbot's adapter cannot send chat messages on this platform"
        " (docs/platforms.md says which platforms can)."
    )

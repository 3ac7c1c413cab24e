"""The meeting's chat: messages the runner read (``chat.message`` events, ``GET .../chat/``)
and ``send_chat_message`` (issue 16).

Incoming messages are runner reports (:class:`~meetbot.contract.reports.ChatMessage`), kept as
observations and emitted as ``chat.message`` events in the report's transaction
(:mod:`meetbot.control.service.runners`). Sending needs a runner adapter that can type into
the platform's chat (:attr:`meetbot.contract.platforms.PlatformInfo.chat`): where it has
none, ``send_chat_message`` is 400 ``unsupported_for_platform``, never a silent success.
A message to send is kept as a :class:`~meetbot.contract.reports.ChatRequest` observation and
handed to the runner in every answer (:attr:`~meetbot.contract.reports.Commands.chat`) until it
reports it sent (a ``chat_message`` with ``from_bot`` and the request's id): any replica
answers from the database, and the runner sends each id once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from meetbot import errors
from meetbot.contract import policies
from meetbot.contract.lifecycle import Status
from meetbot.contract.models import Bot
from meetbot.contract.platforms import Platform, info
from meetbot.contract.reports import BaseReport, ChatMessage, ChatOut, ChatRequest
from meetbot.control.service.core import Services, new_id
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
) -> str:
    """Queue ``message`` for the bot's runner; returns its id. Checked in this order: the bot,
    the message, the platform's chat, the bot's state (dispatched, not leaving or ended; a
    bot not yet in the call sends it once admitted)."""
    if not message.strip():
        raise errors.InvalidRequest("message: empty.", extra={"field": "message"})
    request_id = new_id()
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True)
        if bot is None:
            raise errors.NotFound("No bot with this id.")
        check_chat(bot.meeting.platform, to)
        policies.check_command(bot)
        request = chat_request(svc.clock.now(), message, to, request_id)
        await tx.observations.append(bot.id, request)
    svc.commands.notify(bot.id)
    return request_id


def check_chat(platform: Platform, to: str = "everyone") -> None:
    """400 ``unsupported_for_platform`` unless the platform's adapter has chat (and, for a
    message to one participant, private chat)."""
    row = info(platform)
    if not row.chat:
        raise UnsupportedForPlatform(
            f"{row.title}: meetbot's adapter cannot send chat messages on this platform"
            " (docs/platforms.md says which platforms can)."
        )
    if to != "everyone" and not row.private_chat:
        raise UnsupportedForPlatform(
            f"{row.title}: meetbot's adapter sends chat messages to everyone only"
            ' (to: "everyone"; docs/platforms.md says which platforms can send privately).'
        )


def chat_request(at: datetime, message: str, to: str = "everyone", id_: str = "") -> ChatRequest:
    """A message to send, as kept with the bot's observations until its runner sent it."""
    return ChatRequest(at=at, id=id_ or new_id(), message=message, to=to)


CHAT_TYPES = ("chat_request", "chat_message")
"""The observations :func:`chat_left` reads."""


def chat_wanted(bot: Bot) -> bool:
    """Chat is read only while the bot is in the call, on a platform with chat."""
    return bot.status is Status.RECORDING and info(bot.meeting.platform).chat


def chat_left(found: Iterable[BaseReport]) -> list[ChatOut]:
    """The messages asked for (``chat_request``) that the runner has not reported sent, after
    these observations (others are ignored)."""
    found = list(found)
    sent = {r.message_id for r in found if isinstance(r, ChatMessage) and r.from_bot}
    return [
        ChatOut(id=r.id, message=r.message, to=r.to)
        for r in found
        if isinstance(r, ChatRequest) and r.id not in sent
    ]

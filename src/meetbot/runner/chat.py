"""Sending the chat messages ``send_chat_message`` asked for (issue 16).

Every answer from the control plane lists the messages not yet reported sent
(:attr:`meetbot.contract.reports.Commands.chat`, turned into ``chat`` commands). The
:class:`ChatSender` sends each ``id`` once through the meeting page's adapter (its
``send_chat(page, text, to)``, where it has one) and reports it sent: a
:class:`~meetbot.contract.reports.ChatMessage` with ``from_bot`` and ``message_id``, which
ends the control plane's listing. A message the page could not send yet (not in the chat) is
tried again with the next answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from meetbot.contract.reports import ChatMessage, ChatOut, Report
from meetbot.ports import Clock

if TYPE_CHECKING:
    from playwright.async_api import Page

log = logging.getLogger(__name__)


class ChatPage(Protocol):
    """A meeting page whose adapter can send in the platform's chat."""

    async def send_chat(self, page: Page, text: str, to: str) -> bool: ...


class ChatSender:
    def __init__(
        self,
        target: Callable[[], tuple[Page | None, object, str]],
        emit: Callable[[Report], None],
        clock: Clock,
    ) -> None:
        """``target``: the page, its meeting page adapter and the bot's name, as they are now."""
        self._target = target
        self._emit = emit
        self._clock = clock
        self._taken: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, out: ChatOut) -> None:
        """Send ``out`` unless it is already sent or being sent (never blocks)."""
        if out.id in self._taken:
            return
        self._taken.add(out.id)
        task = asyncio.create_task(self._send(out), name=f"chat:{out.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, out: ChatOut) -> None:
        page, platform, bot_name = self._target()
        send: Callable[..., Awaitable[Any]] | None = getattr(platform, "send_chat", None)
        sent = False
        try:
            if page is not None and send is not None:
                sent = bool(await send(page, out.message, out.to))
        except Exception:
            log.exception("chat message %s not sent", out.id)
        if not sent:
            self._taken.discard(out.id)  # the next answer brings it again
            return
        self._emit(
            ChatMessage(
                at=self._clock.now(),
                message_id=out.id,
                sender_id="bot",
                sender_name=bot_name,
                text=out.message,
                to=out.to,
                from_bot=True,
            )
        )

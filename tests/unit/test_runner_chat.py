"""The runner's chat sender: each message id sent once, reported sent, retried if not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from meetbot.contract.reports import ChatMessage, ChatOut, Report
from meetbot.runner.chat import ChatSender
from meetbot.testing.fakes import FixedClock

T0 = datetime(2030, 1, 1, tzinfo=UTC)


class _Page:
    def __init__(self, ready_after: int) -> None:
        self.calls: list[tuple[str, str]] = []
        self.ready_after = ready_after

    async def send_chat(self, page: Any, text: str, to: str) -> bool:
        self.calls.append((text, to))
        return len(self.calls) > self.ready_after


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_message_is_sent_once_and_reported_with_its_id() -> None:
    adapter, reports = _Page(ready_after=1), list[Report]()
    sender = ChatSender(lambda: (object(), adapter, "Scribe"), reports.append, FixedClock(T0))
    out = ChatOut(id="m1", message="hello", to="everyone")
    sender.send(out)
    await _settle()
    assert reports == []  # not in the chat yet: tried again with the next answer
    sender.send(out)
    sender.send(out)  # the same id while it is being sent: once
    await _settle()
    sender.send(out)  # sent already: never again
    await _settle()
    assert adapter.calls == [("hello", "everyone"), ("hello", "everyone")]
    assert reports == [
        ChatMessage(
            at=T0,
            message_id="m1",
            sender_id="bot",
            sender_name="Scribe",
            text="hello",
            to="everyone",
            from_bot=True,
        )
    ]


async def test_a_page_without_chat_sends_nothing() -> None:
    reports = list[Report]()
    sender = ChatSender(lambda: (object(), object(), "Scribe"), reports.append, FixedClock(T0))
    sender.send(ChatOut(id="m1", message="hello"))
    await _settle()
    assert reports == []

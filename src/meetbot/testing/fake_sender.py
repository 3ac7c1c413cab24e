"""A :class:`~meetbot.ports.WebhookSender` that records what it is asked to send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meetbot.control.ports import SendResult


@dataclass(frozen=True, slots=True)
class SentRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[SentRequest], SendResult]


def always(status: int) -> Responder:
    return lambda _: SendResult(status, 1.0, None if 200 <= status < 300 else f"HTTP {status}")


@dataclass
class FakeWebhookSender:
    """Answers every request with ``respond`` (200 by default) and keeps them in ``sent``."""

    respond: Responder = field(default_factory=lambda: always(200))
    sent: list[SentRequest] = field(default_factory=list)
    delay: float = 0.0

    async def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> SendResult:
        request = SentRequest(url, body, dict(headers))
        self.sent.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.respond(request)

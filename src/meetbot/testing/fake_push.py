"""A :class:`~meetbot.control.realtime_push.PushTransport` that keeps what it is sent.

``down``: URLs whose connections are refused; ``fail_sends``: how many sends fail from now on
(a receiver that drops the connection mid-stream). ``frames[url]``: every frame taken, in
order, as parsed JSON.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from meetbot.contract.models import RealtimeEndpoint
from meetbot.control.realtime_push import PushFailed, PushLink


@dataclass(eq=False)
class _FakeLink:
    transport: FakePushTransport
    url: str
    secret: str | None

    async def send(self, text: str, frame_id: str) -> None:
        if self.transport.fail_sends > 0 or self.url in self.transport.down:
            self.transport.fail_sends = max(0, self.transport.fail_sends - 1)
            raise PushFailed("the fake receiver dropped the connection")
        self.transport.frames.setdefault(self.url, []).append(json.loads(text))
        self.transport.ids.setdefault(self.url, []).append(frame_id)
        self.transport.changed.set()

    async def aclose(self) -> None:
        self.transport.closed += 1


@dataclass(eq=False)
class FakePushTransport:
    down: set[str] = field(default_factory=set)
    fail_sends: int = 0
    frames: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    secrets: dict[str, str | None] = field(default_factory=dict)
    opened: int = 0
    refused: int = 0
    closed: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self, endpoint: RealtimeEndpoint, secret: str | None) -> PushLink:
        if endpoint.url in self.down:
            self.refused += 1
            raise PushFailed("connection refused (fake)")
        self.opened += 1
        self.secrets[endpoint.url] = secret
        return _FakeLink(self, endpoint.url, secret)

    async def aclose(self) -> None:
        return None

    async def wait_for(self, url: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The frames sent to ``url`` once there are at least ``count``."""
        async with asyncio.timeout(timeout):
            while len(self.frames.get(url, [])) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.frames[url]

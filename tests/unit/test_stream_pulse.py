"""The stream's pure parts: the in-process wake and what ends a stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from meetbot.contract.models import OutboxEvent
from meetbot.control.service.stream import Pulse, _is_terminal

T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def test_a_wake_releases_every_waiter_and_a_wait_times_out() -> None:
    pulse = Pulse()
    waiters = [asyncio.create_task(pulse.wait(5)) for _ in range(3)]
    await asyncio.sleep(0)
    pulse.wake()
    async with asyncio.timeout(1):
        await asyncio.gather(*waiters)
    async with asyncio.timeout(1):
        await pulse.wait(0.01)  # no wake: returns after its timeout, no error


def _event(type_: str, **data: object) -> OutboxEvent:
    return OutboxEvent(id="e", workspace_id="w", type=type_, created_at=T0, data=data, bot_id="b")


@pytest.mark.parametrize(
    ("event", "ends"),
    [
        (_event("status_update", new_status="finished"), True),
        (_event("status_update", new_status="failed"), True),
        (_event("status_update", new_status="recording"), False),
        (_event("status_update", new_status="bot_detected"), False),
        (_event("bot.deleted"), True),
        (_event("participant.joined"), False),
    ],
)
def test_what_ends_a_stream(event: OutboxEvent, ends: bool) -> None:
    assert _is_terminal(event) is ends

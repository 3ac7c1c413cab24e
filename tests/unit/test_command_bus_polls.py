"""The command bus keeps an entry only while a poll waits."""

from __future__ import annotations

import asyncio

from meetbot.control.service import CommandBus


async def test_an_entry_lives_only_while_polls_wait() -> None:
    bus = CommandBus()
    bus.notify("b1")  # nobody waits: nothing is kept
    assert len(bus) == 0
    with bus.waiting("b1") as first, bus.waiting("b1") as second:
        assert first is second
        assert len(bus) == 1
        bus.notify("b1")
        await asyncio.wait_for(first.wait(), 1)
    assert len(bus) == 0


async def test_forget_drops_an_entry_and_a_later_poll_keeps_its_own() -> None:
    bus = CommandBus()
    old = bus.waiting("b1")
    old.__enter__()
    bus.forget("b1")  # the bot ended
    assert len(bus) == 0
    with bus.waiting("b1") as later:
        old.__exit__(None, None, None)  # the old poll ends: the later one's entry stays
        assert len(bus) == 1
        bus.notify("b1")
        assert later.is_set()
    assert len(bus) == 0

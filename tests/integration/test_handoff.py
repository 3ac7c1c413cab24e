"""The hand-off to runners: a claimed slot goes back on any error or when unused, runners start
only after the commit, and a launcher that cannot start one fails that bot."""

from __future__ import annotations

from typing import Any

import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.assignment import Assignment
from meetbot.contract.lifecycle import Status
from meetbot.control.ports import Slot
from meetbot.control.service.handoff import Handoff
from meetbot.testing.builders import make_bot
from meetbot.testing.fakes import FakeLauncher
from meetbot.testing.memory_store import MemoryStore

MEET = "https://meet.google.com/abc-defg-hij"


class BrokenLauncher(FakeLauncher):
    """Slots are claimed, but no runner can be started."""

    async def assign(self, slot: Slot, assignment: Assignment) -> None:
        raise RuntimeError("no runner today")


@pytest.fixture
async def plane() -> TestPlane:
    return await build_test_plane(MemoryStore(), launcher=FakeLauncher(pool_size=2))


async def test_a_block_that_raises_gives_every_claimed_slot_back(plane: TestPlane) -> None:
    bot = make_bot(status=Status.BOOTING)
    claimed: list[Slot | None] = []

    async def failing_handoff() -> None:
        async with (
            Handoff(plane.services) as handoff,
            plane.services.store.transaction() as tx,
        ):
            claimed.extend([await handoff.claim_warm(tx), await handoff.claim(tx)])
            slot = claimed[0]
            assert slot is not None
            await handoff.assign(tx, slot, bot, "token", None)
            raise RuntimeError("the transaction failed")

    with pytest.raises(RuntimeError):
        await failing_handoff()
    assert None not in claimed
    assert plane.launcher.released == claimed
    assert plane.launcher.assignments == []


async def test_runners_start_after_the_block_and_unused_slots_go_back(plane: TestPlane) -> None:
    bot = make_bot(status=Status.BOOTING)
    async with Handoff(plane.services) as handoff:
        async with plane.services.store.transaction() as tx:
            used, unused = await handoff.claim_warm(tx), await handoff.claim_warm(tx)
            assert used is not None
            assert unused is not None
            await handoff.assign(tx, used, bot, "token", None)
        assert plane.launcher.assignments == []  # not before the block completes
    assert [(slot, a.bot_id, a.token) for slot, a in plane.launcher.assignments] == [
        (used, bot.id, "token")
    ]
    assert plane.launcher.released == [unused]


async def test_a_runner_that_cannot_start_fails_its_bot_not_the_caller() -> None:
    plane = await build_test_plane(MemoryStore(), launcher=BrokenLauncher())
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert r.status_code == 201, r.text
        got = (await client.get(f"/api/v1/bot/{r.json()['id']}/")).json()
    assert (got["status"], got["sub_code"]) == ("failed", "bot_launch_failed")


async def test_a_refused_create_gives_its_warm_slot_back(any_store: Any) -> None:
    plane = await build_test_plane(any_store, launcher=FakeLauncher(pool_size=2))
    body = {"meeting_url": MEET, "deduplication_key": "standup"}
    async with plane.client() as client:
        assert (await client.post("/api/v1/bot/", json=body)).status_code == 201
        r = await client.post("/api/v1/bot/", json=body)
        assert (r.status_code, r.json()["code"]) == (409, "duplicate_bot")
    assert len(plane.launcher.assignments) == 1
    assert len(plane.launcher.released) == 1

"""The rules on a fleet's agents (issue 14): the warm browsers offered and the room left are
exact with claims in flight; an agent's state; the fleet launcher's claims on the memory store
(a claim rolled back or left unused is given back; an assigned one wakes the agent's polls)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meetbot.config import Settings
from meetbot.contract.assignment import Assignment
from meetbot.control.agents import Agent, FleetCapacity, HeartbeatRow
from meetbot.control.launchers.fleet import FleetLauncher, open_assignment, wake_key
from meetbot.crypto import SecretBox
from meetbot.testing.builders import make_bot
from meetbot.testing.fakes import FixedClock
from meetbot.testing.memory_store import MemoryStore

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BOX = SecretBox(b"meetbot test secret, not secret!")


def agent(**overrides: object) -> Agent:
    base = Agent(id="a", name="a", token_hash="h", created_at=NOW, last_seen_at=NOW)
    return base.evolve(**overrides)


@pytest.mark.parametrize(
    ("slots", "warm_idle", "busy", "claims", "received", "offered", "room"),
    [
        (4, 2, 0, 0, 0, 2, 4),
        (4, 2, 0, 1, 0, 1, 3),  # one claimed, not yet taken
        (4, 2, 1, 1, 1, 2, 3),  # taken: the agent counts it busy and warms another
        (2, 2, 1, 1, 0, 0, 0),  # a full agent offers no warm browser
        (4, 0, 0, 0, 0, 0, 4),
        (4, 1, 0, 0, 3, 1, 4),  # received ahead of claims (a restart): never negative
    ],
)
def test_offered_and_room_count_the_claims_in_flight(
    slots: int, warm_idle: int, busy: int, claims: int, received: int, offered: int, room: int
) -> None:
    a = agent(slots=slots, warm_idle=warm_idle, busy=busy, claims=claims, received=received)
    assert (a.offered, a.room) == (offered, room)


def test_an_agents_state() -> None:
    assert agent().state(NOW, 15) == "live"
    assert agent(draining=True).state(NOW, 15) == "draining"
    assert agent().state(NOW + timedelta(seconds=16), 15) == "lost"
    assert agent(last_seen_at=None).state(NOW, 15) == "lost"
    assert agent(revoked_at=NOW).state(NOW, 15) == "revoked"


def test_fleet_capacity_is_the_fixed_maximum_else_the_live_slots() -> None:
    capacity = FleetCapacity(None)
    capacity.live_slots = 7
    assert capacity.total() == 7
    assert FleetCapacity(100).total() == 100


class Woken(list[str]):
    def __call__(self, key: str) -> None:
        self.append(key)


async def fleet_with_one_agent(warm_idle: int) -> tuple[FleetLauncher, MemoryStore, Woken]:
    store, clock, woken = MemoryStore(), FixedClock(NOW), Woken()
    launcher = FleetLauncher(Settings(launcher="fleet"), store, clock, BOX, woken)
    beat = HeartbeatRow("a", 4, warm_idle, 0, 0, "one", False, (), "")
    async with store.transaction() as tx:
        await tx.agents.add(agent(last_seen_at=None))
        await tx.agents.heartbeat("a", beat, NOW)
    return launcher, store, woken


def assignment(bot_id: str) -> Assignment:
    return Assignment(
        bot_id=bot_id,
        meeting_url="https://meet.google.com/abc-defg-hij",
        platform="google_meet",
        bot_name="Bot",
        stop_options={},
        join_at=None,
        token="runner-token",
        control_url="http://127.0.0.1:8000",
    )


async def test_a_claim_rolled_back_or_unused_is_given_back() -> None:
    launcher, store, _ = await fleet_with_one_agent(warm_idle=1)

    async def rolled_back() -> None:
        async with store.transaction() as tx:
            assert await launcher.claim_warm(tx) is not None
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await rolled_back()
    async with store.transaction() as tx:
        slot = await launcher.claim_warm(tx)
        assert slot is not None
        assert await launcher.claim_warm(tx) is None  # the one browser is claimed
    await launcher.release(slot)  # committed, never assigned
    async with store.transaction() as tx:
        assert await launcher.claim_warm(tx) is not None


async def test_a_queued_hand_off_is_sealed_and_its_assign_wakes_the_agents_polls() -> None:
    launcher, store, woken = await fleet_with_one_agent(warm_idle=0)
    bot = make_bot()
    async with store.transaction() as tx:
        await tx.bots.insert(bot)
        slot = await launcher.reserve(tx)
        assert slot is not None
        assert not slot.warm
        await launcher.queue(tx, slot, assignment(bot.id))
    assert woken == []  # not before the commit
    await launcher.assign(slot, assignment(bot.id))
    assert woken == [wake_key("a")]
    async with store.transaction(write=False) as tx:
        (row,) = await tx.agents.pending("a")
    assert row.assignment is not None
    assert "runner-token" not in row.assignment
    assert open_assignment(BOX, row.id, row.assignment)["token"] == "runner-token"

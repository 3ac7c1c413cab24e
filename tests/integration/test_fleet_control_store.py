"""The agents repository's contract (issue 14), on the memory store, SQLite and PostgreSQL:
claims are exact and never overbook, hand-offs are answered until acknowledged, a new
incarnation counts again, stranded bots are found."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from meetbot.contract.lifecycle import Status
from meetbot.control.agents import Agent, HeartbeatRow
from meetbot.control.ports import Store
from meetbot.testing.builders import make_bot

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(seconds=15)


def beat(**overrides: Any) -> HeartbeatRow:
    values: dict[str, Any] = {
        "name": "host",
        "slots": 4,
        "warm_idle": 2,
        "busy": 0,
        "received": 0,
        "incarnation": "one",
        "draining": False,
        "bots": (),
        "version": "",
    }
    return HeartbeatRow(**(values | overrides))


async def add_agent(store: Store, agent_id: str, at: datetime = NOW, **overrides: Any) -> None:
    async with store.transaction() as tx:
        await tx.agents.add(
            Agent(id=agent_id, name=agent_id, token_hash=f"h-{agent_id}", created_at=at)
        )
        await tx.agents.heartbeat(agent_id, beat(**overrides), at)


async def claim(store: Store, handoff_id: str, *, warm: bool = True) -> str | None:
    async with store.transaction() as tx:
        row = await tx.agents.claim(handoff_id, warm=warm, live_since=SINCE, at=NOW)
    return row.agent_id if row else None


async def test_agents_are_added_found_by_token_listed_and_revoked(any_store: Store) -> None:
    await add_agent(any_store, "a1", bots=("b1",))
    await add_agent(any_store, "a2", at=NOW + timedelta(seconds=1))
    async with any_store.transaction() as tx:
        found = await tx.agents.by_token("h-a1")
        assert found is not None
        assert (found.id, found.slots, found.warm_idle, found.bots) == ("a1", 4, 2, ("b1",))
        assert [a.id for a in await tx.agents.list_agents()] == ["a1", "a2"]
        revoked = await tx.agents.revoke("a1", NOW)
        assert revoked is not None
        assert revoked.revoked_at == NOW
        again = await tx.agents.revoke("a1", NOW + timedelta(hours=1))
        assert again is not None
        assert again.revoked_at == NOW  # once
        assert await tx.agents.revoke("nope", NOW) is None
        assert await tx.agents.total_slots(SINCE) == 4  # a revoked agent counts no more


async def test_warm_claims_stop_at_the_browsers_offered_and_count_in_flight(
    any_store: Store,
) -> None:
    await add_agent(any_store, "a1", warm_idle=2)
    assert await claim(any_store, "h1") == "a1"
    assert await claim(any_store, "h2") == "a1"
    assert await claim(any_store, "h3") is None  # both browsers are claimed, not yet taken
    async with any_store.transaction() as tx:
        agent = await tx.agents.get("a1")
        assert agent is not None
        assert (agent.claims, agent.offered) == (2, 0)
        # The agent took one hand-off and started a new browser: one offered again.
        await tx.agents.heartbeat("a1", beat(warm_idle=2, received=1, busy=1), NOW)
    assert await claim(any_store, "h4") == "a1"
    assert await claim(any_store, "h5") is None


async def test_claims_skip_silent_revoked_and_draining_agents(any_store: Store) -> None:
    await add_agent(any_store, "old", at=NOW - timedelta(seconds=16))
    await add_agent(any_store, "draining", draining=True)
    await add_agent(any_store, "revoked")
    async with any_store.transaction() as tx:
        await tx.agents.revoke("revoked", NOW)
    assert await claim(any_store, "h1") is None
    assert await claim(any_store, "h2", warm=False) is None


async def test_a_reservation_needs_room_not_a_warm_browser(any_store: Store) -> None:
    await add_agent(any_store, "a1", slots=2, warm_idle=0, busy=1)
    assert await claim(any_store, "h1") is None
    assert await claim(any_store, "h2", warm=False) == "a1"
    assert await claim(any_store, "h3", warm=False) is None  # full: 1 busy + 1 in flight


async def test_a_released_claim_is_given_back_and_a_used_one_is_not(any_store: Store) -> None:
    await add_agent(any_store, "a1", warm_idle=1)
    bot = make_bot(status=Status.BOOTING)
    assert await claim(any_store, "h1") == "a1"
    async with any_store.transaction() as tx:
        assert await tx.agents.release("h1")
        assert not await tx.agents.release("h1")
    assert await claim(any_store, "h2") == "a1"
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)
        await tx.agents.queue("h2", bot.id, "sealed")
        assert not await tx.agents.release("h2")
        agent = await tx.agents.of_bot(bot.id)
        assert agent is not None
        assert agent.id == "a1"


async def test_a_rolled_back_claim_leaves_nothing(any_store: Store) -> None:
    await add_agent(any_store, "a1", warm_idle=1)
    try:
        async with any_store.transaction() as tx:
            assert await tx.agents.claim("h1", warm=True, live_since=SINCE, at=NOW)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    async with any_store.transaction() as tx:
        assert not await tx.agents.release("h1")
        agent = await tx.agents.get("a1")
        assert agent is not None
        assert agent.claims == 0


async def test_hand_offs_are_answered_until_acknowledged(any_store: Store) -> None:
    await add_agent(any_store, "a1")
    bot = make_bot(status=Status.BOOTING)
    await claim(any_store, "h1")
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)
        assert await tx.agents.pending("a1") == []  # claimed, no bot yet
        await tx.agents.queue("h1", bot.id, "sealed")
    for _ in range(2):
        async with any_store.transaction(write=False) as tx:
            (row,) = await tx.agents.pending("a1")
        assert (row.id, row.bot_id, row.assignment, row.warm) == ("h1", bot.id, "sealed", True)
    async with any_store.transaction() as tx:
        assert await tx.agents.ack("other", ["h1"], NOW) == 0
        assert await tx.agents.ack("a1", ["h1", "unknown"], NOW) == 1
        assert await tx.agents.pending("a1") == []


async def test_a_new_incarnation_counts_the_unacknowledged_hand_offs_only(
    any_store: Store,
) -> None:
    await add_agent(any_store, "a1", warm_idle=3)
    bot = make_bot(status=Status.BOOTING)
    for handoff_id in ("h1", "h2"):
        await claim(any_store, handoff_id)
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)
        await tx.agents.queue("h1", bot.id, "sealed")
        await tx.agents.ack("a1", ["h2"], NOW)
        await tx.agents.heartbeat("a1", beat(incarnation="two", warm_idle=3), NOW)
        agent = await tx.agents.get("a1")
        assert agent is not None
        assert agent.claims == 1  # h1 will be answered again to the new process


async def test_a_bot_handed_again_voids_its_earlier_hand_off(any_store: Store) -> None:
    await add_agent(any_store, "a1", warm_idle=1)
    await add_agent(any_store, "a2", warm_idle=1)
    bot = make_bot(status=Status.BOOTING)
    first = await claim(any_store, "h1")
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)
        await tx.agents.queue("h1", bot.id, "one")
    second = await claim(any_store, "h2")
    assert {first, second} == {"a1", "a2"}
    async with any_store.transaction() as tx:
        await tx.agents.queue("h2", bot.id, "two")
        assert first is not None
        assert await tx.agents.pending(first) == []
        gone = await tx.agents.get(first)
        assert gone is not None
        assert gone.claims == 0


async def test_stranded_bots_are_the_booting_ones_of_lost_or_revoked_agents(
    any_store: Store,
) -> None:
    long_ago = NOW - timedelta(hours=1)
    booting, joining, elsewhere = (make_bot(status=Status.BOOTING) for _ in range(3))
    joining = joining.evolve(status=Status.JOINING)

    async def hand(bot_id: str, agent_id: str) -> None:
        async with any_store.transaction() as tx:
            row = await tx.agents.claim(f"h-{bot_id}", warm=False, live_since=long_ago, at=NOW)
            assert row is not None
            assert row.agent_id == agent_id
            await tx.agents.queue(row.id, bot_id, "sealed")

    await add_agent(any_store, "lost", at=NOW - timedelta(seconds=30))
    async with any_store.transaction() as tx:
        for bot in (booting, joining, elsewhere):
            await tx.bots.insert(bot)
    await hand(booting.id, "lost")
    await hand(joining.id, "lost")
    async with any_store.transaction() as tx:
        await tx.agents.revoke("lost", NOW)  # no more claims for it
    await add_agent(any_store, "live")
    await hand(elsewhere.id, "live")
    async with any_store.transaction(write=False) as tx:
        assert await tx.agents.stranded(SINCE) == [booting.id]


async def test_two_concurrent_claims_never_get_the_same_browser(any_store: Store) -> None:
    await add_agent(any_store, "a1", warm_idle=3, slots=10)
    await add_agent(any_store, "a2", warm_idle=2, slots=10)
    got = await asyncio.gather(*(claim(any_store, f"h{i}") for i in range(8)))
    assert sorted(a for a in got if a) == ["a1", "a1", "a1", "a2", "a2"]


async def test_acknowledged_hand_offs_are_purged_after_a_while(any_store: Store) -> None:
    await add_agent(any_store, "a1")
    bot = make_bot(status=Status.BOOTING)
    for handoff_id in ("h1", "h2"):
        await claim(any_store, handoff_id)
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)
        await tx.agents.queue("h1", bot.id, "sealed")
        await tx.agents.ack("a1", ["h1"], NOW)
        assert await tx.agents.purge_handoffs(NOW) == 0
        assert await tx.agents.purge_handoffs(NOW + timedelta(seconds=1)) == 1
        assert await tx.agents.release("h2")  # the unacknowledged claim is still there


async def test_the_agents_with_hand_offs_not_taken(any_store: Store) -> None:
    await add_agent(any_store, "a1")
    await add_agent(any_store, "a2")
    bot = make_bot(status=Status.BOOTING)
    async with any_store.transaction() as tx:
        await tx.bots.insert(bot)
        row = await tx.agents.claim("h1", warm=True, live_since=SINCE, at=NOW)
        assert row is not None
        assert await tx.agents.with_pending() == set()  # claimed, no bot yet
        await tx.agents.queue("h1", bot.id, "sealed")
        assert await tx.agents.with_pending() == {row.agent_id}
        await tx.agents.ack(row.agent_id, ["h1"], NOW)
        assert await tx.agents.with_pending() == set()


async def test_many_claims_at_once_are_the_claims_one_by_one(any_store: Store) -> None:
    # Warm browsers first (the agent offering most), then room (the agent with most room),
    # fewer than asked when the agents are full (the dispatcher's batch, issue 14).
    await add_agent(any_store, "a1", slots=3, warm_idle=1)
    await add_agent(any_store, "a2", slots=4, warm_idle=2)
    await add_agent(any_store, "gone", at=NOW - timedelta(seconds=16))
    ids = [f"h{n}" for n in range(9)]
    async with any_store.transaction() as tx:
        rows = await tx.agents.claim_many(ids, live_since=SINCE, at=NOW)
        assert [(r.id, r.agent_id, r.warm) for r in rows] == [
            ("h0", "a2", True),
            ("h1", "a1", True),  # a tie (one offered each): the smaller id
            ("h2", "a2", True),
            ("h3", "a1", False),  # no browser left: room, 2 each
            ("h4", "a2", False),
            ("h5", "a1", False),
            ("h6", "a2", False),
        ]
        claims = {a.id: (a.claims, a.room) for a in await tx.agents.list_agents()}
        assert (claims["a1"], claims["a2"], claims["gone"]) == ((3, 0), (4, 0), (0, 4))
        assert await tx.agents.claim_many(["more"], live_since=SINCE, at=NOW) == []
        assert await tx.agents.release("h6")  # an unused claim goes back like a single one
    assert await claim(any_store, "h7", warm=False) == "a2"


async def test_many_hand_offs_are_queued_at_once(any_store: Store) -> None:
    await add_agent(any_store, "a1", slots=4, warm_idle=0)
    await add_agent(any_store, "a2", slots=4, warm_idle=0)
    first, second = make_bot(status=Status.BOOTING), make_bot(status=Status.BOOTING)
    async with any_store.transaction() as tx:
        await tx.bots.insert(first)
        await tx.bots.insert(second)
        await tx.agents.claim("old", warm=False, live_since=SINCE, at=NOW)
        await tx.agents.queue("old", first.id, "earlier")
        rows = await tx.agents.claim_many(["n1", "n2"], live_since=SINCE, at=NOW)
        await tx.agents.queue_many(
            [(r.id, b.id, f"s-{b.id}") for r, b in zip(rows, (first, second), strict=True)]
        )
    async with any_store.transaction(write=False) as tx:
        pending = [h for a in ("a1", "a2") for h in await tx.agents.pending(a)]
        assert sorted((h.id, h.bot_id, h.assignment) for h in pending) == sorted(
            [("n1", first.id, f"s-{first.id}"), ("n2", second.id, f"s-{second.id}")]
        )  # the earlier hand-off of the first bot is void
        for row, bot in zip(rows, (first, second), strict=True):
            agent = await tx.agents.of_bot(bot.id)
            assert agent is not None
            assert agent.id == row.agent_id
        total = sum(a.claims for a in await tx.agents.list_agents())
        assert total == 2  # the void one's claim given back

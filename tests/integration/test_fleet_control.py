"""The control plane of a fleet (issue 14) through its HTTP routes, on every store: agents
heartbeat and long-poll with their token, an ad-hoc create claims a warm browser of a live
agent (507 when none offers one), a scheduled bot reserves the fleet's slots and is handed to
an agent with room, a lost agent's bots not yet joining go to another, revoked agents get 401."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from meetbot.config import Settings
from meetbot.contract import agent_protocol as wire
from meetbot.control.agents import FleetCapacity
from meetbot.control.api import agents as agents_api
from meetbot.control.api.app import create_app
from meetbot.control.launchers.fleet import FleetLauncher
from meetbot.control.ports import Store
from meetbot.control.service import Services
from meetbot.control.service.agents import (
    create_agent,
    prune_agents,
    refresh_capacity,
    revoke_agent,
    tend_fleet,
)
from meetbot.control.service.core import CommandBus
from meetbot.control.service.dispatch import dispatch_due
from meetbot.control.service.keys import create_key
from meetbot.crypto import SecretBox
from meetbot.pidfiles import token_digest
from meetbot.testing.fakes import FixedClock
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"
SECRET = b"meetbot test secret, not secret!"


class Fleet:
    def __init__(self, store: Store, **settings: Any) -> None:
        self.clock = FixedClock()
        self.settings = Settings(launcher="fleet", **settings)
        commands = CommandBus()
        box = SecretBox(SECRET)
        self.services = Services(
            settings=self.settings,
            store=store,
            launcher=FleetLauncher(self.settings, store, self.clock, box, commands.notify),
            clock=self.clock,
            secret_box=box,
            capacity=FleetCapacity(self.settings.fleet_max_slots),
            commands=commands,
        )
        self.app = create_app(self.services, routers=[agents_api.router], secret=SECRET)
        self.key = ""

    async def setup(self) -> Fleet:
        self.key, _ = await create_key(self.services.store, self.clock, name="test")
        return self

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        auth = f"Bearer {token}" if token else f"Token {self.key}"
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(
            transport=transport, base_url="http://meetbot", headers={"Authorization": auth}
        )

    async def agent(self, name: str) -> str:
        return (await create_agent(self.services.store, self.clock, name=name)).token

    async def beat(self, token: str, **fields: Any) -> httpx.Response:
        body = {"name": "host", "slots": 4, "warm_idle": 1, "received": 0, "busy": 0}
        body |= {"incarnation": "one"} | fields
        async with self.client(token) as c:
            return await c.post(wire.HEARTBEAT_PATH, json=body)

    async def poll(
        self, token: str, wait: float = 0, ack: list[str] | None = None, agent_id: str | None = None
    ) -> Any:
        body = {"wait": wait, "ack": ack or [], "agent_id": agent_id}
        async with self.client(token) as c:
            r = await c.post(wire.POLL_PATH, json=body)
        assert r.status_code == 200, r.text
        return wire.PollAnswer.model_validate(r.json()).handoffs

    async def create(self, **body: Any) -> httpx.Response:
        async with self.client() as c:
            return await c.post("/api/v1/bot/", json={"meeting_url": MEET, **body})

    async def bot(self, bot_id: str) -> Any:
        async with self.client() as c:
            return (await c.get(f"/api/v1/bot/{bot_id}/")).json()


@pytest.fixture
async def fleet(any_store: Store) -> Fleet:
    return await Fleet(any_store).setup()


async def test_an_adhoc_bot_takes_a_live_agents_warm_browser_then_507(fleet: Fleet) -> None:
    token = await fleet.agent("a")
    assert (await fleet.create()).status_code == 507  # no agent yet
    answer = (await fleet.beat(token, warm_idle=1)).json()
    assert answer["timeout"] == 15.0
    created = await fleet.create()
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    (handoff,) = await fleet.poll(token, wait=5)
    assert (handoff.bot_id, handoff.warm) == (bot_id, True)
    assert handoff.assignment["bot_id"] == bot_id
    assert handoff.assignment["token"]
    r = await fleet.create()
    assert (r.status_code, r.json()["code"]) == (507, "adhoc_pool_exhausted")  # claimed
    assert [h.id for h in await fleet.poll(token)] == [handoff.id]  # until acknowledged
    assert await fleet.poll(token, ack=[handoff.id]) == []
    # The agent took it and warmed another browser: one is offered again.
    await fleet.beat(token, warm_idle=1, received=1, busy=1, bots=[bot_id])
    assert (await fleet.create()).status_code == 201


async def test_unknown_and_revoked_agent_tokens_get_401_and_no_bots(fleet: Fleet) -> None:
    r = await fleet.beat("mba_nope")
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    token = await fleet.agent("a")
    assert (await fleet.beat(token)).status_code == 200
    (agent,) = [a async for a in _agents(fleet)]
    await revoke_agent(fleet.services.store, fleet.clock, agent)
    assert (await fleet.beat(token)).status_code == 401
    async with fleet.client(token) as c:
        assert (await c.post(wire.POLL_PATH, json={"wait": 0})).status_code == 401
    assert (await fleet.create()).status_code == 507


async def _agents(fleet: Fleet) -> Any:
    async with fleet.services.store.transaction(write=False) as tx:
        for agent in await tx.agents.list_agents():
            yield agent.id


async def test_a_scheduled_bot_reserves_the_fleets_slots_and_goes_to_an_agent(
    fleet: Fleet,
) -> None:
    join_at = iso(fleet.clock.now() + timedelta(hours=1))
    r = await fleet.create(join_at=join_at)
    assert (r.status_code, r.json()["code"]) == (409, "schedule_full")  # no agent: no slots
    token = await fleet.agent("a")
    await fleet.beat(token, slots=1, warm_idle=0)
    assert await refresh_capacity(fleet.services) == 1
    r = await fleet.create(join_at=join_at)
    assert r.status_code == 201, r.text
    assert (await fleet.create(join_at=join_at)).status_code == 409  # one slot, one bot
    fleet.clock.advance(3600 - 600)  # the dispatch lead
    await fleet.beat(token, slots=1, warm_idle=0)
    assert await dispatch_due(fleet.services) == 1
    (handoff,) = await fleet.poll(token)
    assert (handoff.bot_id, handoff.warm) == (r.json()["id"], False)
    assert (await fleet.bot(r.json()["id"]))["status"] == "booting"


async def test_a_lost_agents_bot_not_yet_joining_goes_to_another_with_a_new_token(
    fleet: Fleet,
) -> None:
    first, second = await fleet.agent("a"), await fleet.agent("b")
    await fleet.beat(first, warm_idle=1)
    bot_id = (await fleet.create()).json()["id"]
    (old,) = await fleet.poll(first)
    fleet.clock.advance(16)  # the first agent is silent past MEETBOT_AGENT_TIMEOUT
    await fleet.beat(second, warm_idle=1)
    assert await tend_fleet(fleet.services) == 1
    assert await tend_fleet(fleet.services) == 0  # once
    assert await fleet.poll(first) == []  # its hand-off is void
    (new,) = await fleet.poll(second)
    assert new.bot_id == bot_id
    assert new.assignment["token"] != old.assignment["token"]
    bot = await fleet.bot(bot_id)
    assert bot["status"] == "booting"
    # The old runner's token is no longer the bot's; the new one's is.
    for token, code in ((old.assignment["token"], 401), (new.assignment["token"], 200)):
        async with fleet.client(token) as c:
            at = iso(fleet.clock.now())
            r = await c.post(f"/internal/bots/{bot_id}/join", json={"at": at})
        assert r.status_code == code, r.text


async def test_a_lost_agents_bot_waits_when_no_agent_has_room(fleet: Fleet) -> None:
    token = await fleet.agent("a")
    await fleet.beat(token, warm_idle=1)
    bot_id = (await fleet.create()).json()["id"]
    fleet.clock.advance(16)
    assert await tend_fleet(fleet.services) == 0
    assert (await fleet.bot(bot_id))["status"] == "booting"
    assert await refresh_capacity(fleet.services) == 0  # a lost agent's slots do not count


async def test_a_draining_agents_untaken_bot_goes_to_another_and_a_taken_one_stays(
    fleet: Fleet,
) -> None:
    draining, other = await fleet.agent("a"), await fleet.agent("b")
    await fleet.beat(draining, warm_idle=2)
    taken_id = (await fleet.create()).json()["id"]
    (taken,) = await fleet.poll(draining)
    untaken_id = (await fleet.create()).json()["id"]
    # SIGTERM: the agent stops polling; its heartbeat acknowledges what it took.
    await fleet.beat(draining, warm_idle=0, draining=True, received=1, ack=[taken.id])
    await fleet.beat(other, warm_idle=1)
    assert await tend_fleet(fleet.services) == 1
    (moved,) = await fleet.poll(other)
    assert moved.bot_id == untaken_id
    assert taken_id != untaken_id
    assert await fleet.poll(draining) == []


async def test_metrics_show_the_fleet_the_bots_and_the_autoscaler_target(fleet: Fleet) -> None:
    live, lost = await fleet.agent("a"), await fleet.agent("b")
    await fleet.beat(lost, slots=9)
    fleet.clock.advance(16)
    await fleet.beat(live, slots=4, warm_idle=2, busy=1)
    await refresh_capacity(fleet.services)
    assert (await fleet.create()).status_code == 201  # ad-hoc: booting
    launcher = fleet.services.launcher
    assert isinstance(launcher, FleetLauncher)
    await launcher.refresh_snapshot()
    join_at = iso(fleet.clock.now() + timedelta(minutes=15))
    assert (await fleet.create(join_at=join_at)).status_code == 201  # scheduled
    async with fleet.client() as c:
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
    assert samples[("meetbot_fleet_agents", (("state", "live"),))] == 1
    assert samples[("meetbot_fleet_agents", (("state", "lost"),))] == 1
    assert samples[("meetbot_slots", ())] == 4
    assert samples[("meetbot_slots_busy", ())] == 2  # 1 busy + the create's hand-off
    assert samples[("meetbot_warm_idle", ())] == 1  # 2 warm, 1 claimed by the create
    assert samples[("meetbot_bots", (("status", "booting"),))] == 1
    assert samples[("meetbot_bots", (("status", "scheduled"),))] == 1
    assert samples[("meetbot_reserved_bots", (("window", "1h"),))] == 1
    # the booting one + the scheduled one, due within a lead + the agents' 2 warm browsers
    assert samples[("meetbot_slots_needed", ())] == 4
    assert samples[("meetbot_webhook_deliveries_due", ())] == 0
    assert samples[("meetbot_dispatch_lateness_seconds_count", ())] == 0
    fleet.clock.advance(5 * 60 + 1)  # the scheduled bot's dispatch time has come
    await fleet.beat(live, slots=4, warm_idle=1, busy=1, received=1)
    assert await dispatch_due(fleet.services) == 1
    async with fleet.client() as c:
        text = (await c.get("/metrics")).text
    (lateness,) = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "meetbot_dispatch_lateness_seconds_count"
    ]
    assert lateness.value == 1


async def test_a_scheduled_bot_no_agent_has_room_for_waits_until_its_join_at(
    fleet: Fleet,
) -> None:
    token = await fleet.agent("a")
    await fleet.beat(token, slots=1, warm_idle=0)
    await refresh_capacity(fleet.services)
    join_at = fleet.clock.now() + timedelta(hours=1)
    bot_id = (await fleet.create(join_at=iso(join_at))).json()["id"]
    fleet.clock.set(join_at - timedelta(minutes=10))  # dispatch time; the agent is gone
    assert await dispatch_due(fleet.services) == 1
    assert (await fleet.bot(bot_id))["status"] == "scheduled"
    await fleet.beat(token, slots=1, warm_idle=0)  # back (a rollout restarted it)
    assert await dispatch_due(fleet.services) == 1
    assert (await fleet.bot(bot_id))["status"] == "booting"
    (handoff,) = await fleet.poll(token)
    assert handoff.bot_id == bot_id


async def test_a_scheduled_bot_no_agent_has_room_for_at_its_join_at_fails(fleet: Fleet) -> None:
    token = await fleet.agent("a")
    await fleet.beat(token, slots=1, warm_idle=0)
    await refresh_capacity(fleet.services)
    join_at = fleet.clock.now() + timedelta(hours=1)
    bot_id = (await fleet.create(join_at=iso(join_at))).json()["id"]
    fleet.clock.set(join_at)
    assert await dispatch_due(fleet.services) == 1
    bot = await fleet.bot(bot_id)
    assert (bot["status"], bot["sub_code"]) == ("failed", "failed_to_launch_in_time")


async def test_two_replicas_creating_at_once_never_hand_out_one_browser_twice(
    any_store: Store,
) -> None:
    one = await Fleet(any_store).setup()
    two = Fleet(any_store)
    two.key = one.key
    token = await one.agent("a")
    await one.beat(token, warm_idle=3, slots=10)
    answers = await asyncio.gather(*(replica.create() for replica in (one, two) * 4))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 3 + [507] * 5
    handoffs = await two.poll(token, wait=5)
    assert sorted(h.bot_id for h in handoffs) == sorted(
        r.json()["id"] for r in answers if r.status_code == 201
    )


async def test_a_poll_waiting_on_one_replica_is_answered_by_a_claim_on_another(
    any_store: Store,
) -> None:
    """The long poll is woken by the replica's one read of the agents with queued hand-offs,
    not by its own deadline (60 s: far beyond the guard)."""
    one = await Fleet(any_store).setup()
    two = Fleet(any_store)
    two.key = one.key
    token = await one.agent("a")
    await one.beat(token, warm_idle=1)
    waiting = asyncio.create_task(two.poll(token, wait=60))
    await asyncio.sleep(0.3)  # the poll is waiting on the second replica
    bot_id = (await one.create()).json()["id"]
    (handoff,) = await asyncio.wait_for(waiting, timeout=30)
    assert handoff.bot_id == bot_id


async def test_an_agent_that_just_came_up_counts_for_reservations_at_once(fleet: Fleet) -> None:
    """Regression: reservations counted the live slots as the scheduler last read them (every
    second), so a scheduled create just after the first agent's heartbeat was 409."""
    token = await fleet.agent("a")
    await fleet.beat(token, slots=2, warm_idle=0)  # no refresh_capacity: the create reads it
    join_at = iso(fleet.clock.now() + timedelta(hours=1))
    created = await fleet.create(join_at=join_at)
    assert created.status_code == 201, created.text


async def test_agents_sharing_one_token_each_get_a_row_and_revoking_one_revokes_all(
    fleet: Fleet,
) -> None:
    """A Kubernetes Deployment's pods share the Secret's token: each pod (its host name) is an
    agent of its own, with its own warm browsers and hand-offs."""
    token = await fleet.agent("k8s")
    first = (await fleet.beat(token, name="pod-a", warm_idle=1)).json()["agent_id"]
    second = (await fleet.beat(token, name="pod-b", warm_idle=1)).json()["agent_id"]
    assert first != second
    assert (await fleet.beat(token, name="pod-b", warm_idle=1)).json()["agent_id"] == second
    async with fleet.services.store.transaction(write=False) as tx:
        rows = {a.id: a for a in await tx.agents.list_agents()}
    assert {a.name for a in rows.values()} == {"pod-a", "pod-b"}
    ids = {(await fleet.create()).json()["id"], (await fleet.create()).json()["id"]}
    assert (await fleet.create()).status_code == 507  # one warm browser each, both claimed
    (a,) = await fleet.poll(token, agent_id=first)
    (b,) = await fleet.poll(token, agent_id=second)
    assert {a.bot_id, b.bot_id} == ids
    async with fleet.client(token) as c:  # an agent id of another token is refused
        other = await fleet.agent("other")
        await fleet.beat(other, name="x")
        r = await c.post(wire.POLL_PATH, json={"wait": 0, "agent_id": "nope"})
        assert r.status_code == 401
    await revoke_agent(fleet.services.store, fleet.clock, second)
    for name in ("pod-a", "pod-b", "pod-c"):
        assert (await fleet.beat(token, name=name)).status_code == 401


async def test_a_lost_agent_sharing_a_token_is_removed_after_an_hour(fleet: Fleet) -> None:
    token = await fleet.agent("k8s")
    await fleet.beat(token, name="pod-a")
    await fleet.beat(token, name="pod-b")
    fleet.clock.advance(3600 + 16)
    await fleet.beat(token, name="pod-c")
    assert await prune_agents(fleet.services) == 1
    async with fleet.services.store.transaction(write=False) as tx:
        names = {a.name for a in await tx.agents.list_agents()}
    assert names == {"pod-a", "pod-c"}  # the token's own row stays, so the token can be revoked


async def test_a_runner_exit_an_agent_tells_fails_its_bot_only_for_that_runner(
    fleet: Fleet,
) -> None:
    """A remote agent's runner that crashed failed its bot only after the runner heartbeat
    timeout (30 s); the agent now tells it in its heartbeat, with which runner it was."""
    token = await fleet.agent("a")
    await fleet.beat(token, warm_idle=1)
    bot_id = (await fleet.create()).json()["id"]
    (handoff,) = await fleet.poll(token)
    runner_token = handoff.assignment["token"]
    older = {"bot_id": bot_id, "token_sha": token_digest("an older runner's"), "returncode": -9}
    await fleet.beat(token, warm_idle=0, busy=1, exited=[older])
    assert (await fleet.bot(bot_id))["status"] == "booting"  # not that bot's runner: ignored
    exit_ = {"bot_id": bot_id, "token_sha": token_digest(runner_token), "returncode": -9}
    r = await fleet.beat(token, warm_idle=0, busy=0, exited=[exit_])
    assert r.status_code == 200, r.text
    bot = await fleet.bot(bot_id)
    assert (bot["status"], bot["sub_code"]) == ("failed", "bot_process_lost")
    assert (await fleet.beat(token, exited=[exit_])).status_code == 200  # told again: no-op

"""A fleet's agents: their tokens, heartbeats, long polls, and the bots of lost agents.

Tokens are random, shown once (``meetbot agents create``), stored as SHA-256 hashes; an
agent is named by its id afterwards. Each request of an agent is authenticated by its token:
unknown or revoked, 401 (and a revoked agent is never offered a bot: claims skip it).

The long poll (:func:`poll`) answers as soon as a hand-off is queued for the agent: a claim
made in this process wakes it at once (:class:`~meetbot.control.service.core.CommandBus`), one
made by another replica is found within :data:`~.agent_polls.POLL_STEP` (one read for all the
polls waiting in this process, :mod:`.agent_polls`).

:func:`tend_fleet` (the scheduler's ``agents`` job) reads the live agents' slots for the
reservations' capacity and hands the ``booting`` bots of lost or revoked agents to others
(``Redispatch``: same status, a new runner token; the old runner, if it still runs, hears
401 and exits). Bots already joining or in a call stay with their runner: if it stops
reporting, the runner reaper ends them (:mod:`.lost_runners`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from meetbot import errors
from meetbot.contract import agent_protocol as wire
from meetbot.contract.lifecycle import Fail, Redispatch, Status
from meetbot.control.agents import (
    LOST_INSTANCE_TTL,
    Agent,
    AgentState,
    FleetCapacity,
    HeartbeatRow,
    instance_hash,
    live_since,
)
from meetbot.control.launchers.fleet import open_assignment, wake_key
from meetbot.control.ports import Store, Tx
from meetbot.control.service.core import Services, new_id, new_token, token_hash, transition
from meetbot.control.service.credentials import UNREADABLE, platform_credentials
from meetbot.control.service.handoff import Handoff
from meetbot.control.service.lost_runners import runner_lost
from meetbot.ports import Clock

log = logging.getLogger("meetbot.control.agents")

AGENT_TOKEN_PREFIX = "mba_"
POLL_BATCH = 100


@dataclass(frozen=True, slots=True)
class IssuedAgent:
    id: str
    name: str
    token: str
    """Shown once; only its hash is stored."""


@dataclass(frozen=True, slots=True)
class AgentView:
    agent: Agent
    state: AgentState


async def create_agent(store: Store, clock: Clock, *, name: str) -> IssuedAgent:
    token = AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    agent = Agent(id=new_id(), name=name, token_hash=token_hash(token), created_at=clock.now())
    async with store.transaction() as tx:
        await tx.agents.add(agent)
    return IssuedAgent(agent.id, name, token)


async def ensure_agent(store: Store, clock: Clock, *, name: str, token: str) -> Agent:
    """The agent with this token, created (named ``name``) if there is none: ``meetbot
    serve``'s own agent (``MEETBOT_LAUNCHER=local``), whose token the server derives, keeps
    one row across restarts."""
    digest = token_hash(token)
    async with store.transaction() as tx:
        agent = await tx.agents.by_token(digest)
        if agent is None:
            agent = Agent(id=new_id(), name=name, token_hash=digest, created_at=clock.now())
            await tx.agents.add(agent)
    return agent


async def list_agents(store: Store, clock: Clock, timeout: float) -> list[AgentView]:
    now = clock.now()
    async with store.transaction(write=False) as tx:
        agents = await tx.agents.list_agents()
    return [AgentView(a, a.state(now, timeout)) for a in agents]


async def revoke_agent(store: Store, clock: Clock, agent_id: str) -> Agent:
    """Revoke the agent with this id (never its token); :class:`NotFound` if none."""
    if agent_id.startswith(AGENT_TOKEN_PREFIX):
        raise errors.InvalidRequest(
            "That is an agent token, not an agent id: pass the id (see `meetbot agents list`)."
        )
    async with store.transaction() as tx:
        agent = await tx.agents.revoke(agent_id, clock.now())
    if agent is None:
        raise errors.NotFound(f"No agent with id {agent_id}.")
    return agent


def _refuse(agent: Agent | None) -> Agent:
    if agent is None or agent.revoked_at is not None:
        raise errors.Unauthorized("Unknown or revoked agent token.")
    return agent


async def heartbeat(svc: Services, token: str, beat: wire.Heartbeat) -> wire.HeartbeatAnswer:
    """Store what the agent says of itself; acknowledge the hand-offs it took."""
    now = svc.clock.now()
    row = HeartbeatRow(
        name=beat.name,
        slots=beat.slots,
        warm_idle=beat.warm_idle,
        busy=beat.busy,
        received=beat.received,
        incarnation=beat.incarnation,
        draining=beat.draining,
        bots=tuple(beat.bots),
        version=beat.version,
    )
    async with svc.store.transaction() as tx:
        agent = await _beating(tx, token_hash(token), beat.name, now)
        await tx.agents.ack(agent.id, beat.ack, now)  # before the claims are counted again
        await tx.agents.heartbeat(agent.id, row, now)
    for exit_ in beat.exited:
        await runner_lost(svc, exit_.bot_id, token_sha=exit_.token_sha)
    timeout = svc.settings.agent_timeout
    return wire.HeartbeatAnswer(
        agent_id=agent.id, heartbeat_interval=min(timeout / 5, 5.0), timeout=timeout
    )


async def _beating(tx: Tx, hashed: str, name: str, now: datetime) -> Agent:
    """The row of the agent named ``name`` that heartbeats with this token: the token's own row
    while it is unclaimed or has that name, else a row of its own (one token, many agents:
    :mod:`meetbot.control.agents`)."""
    first = _refuse(await tx.agents.by_token(hashed))
    if first.last_seen_at is None or first.name == name:
        return first
    agent = await tx.agents.by_token(instance_hash(hashed, name))
    if agent is None:
        agent = Agent(
            id=new_id(), name=name, token_hash=instance_hash(hashed, name), created_at=now
        )
        await tx.agents.add(agent)
        log.info("agent %s (%s) shares the token of agent %s", agent.id, name, first.id)
    return _refuse(agent)


async def _polling(tx: Tx, hashed: str, agent_id: str | None) -> Agent:
    first = _refuse(await tx.agents.by_token(hashed))
    if agent_id is None or agent_id == first.id:
        return first
    agent = await tx.agents.get(agent_id)
    if agent is None or agent.token_hash != instance_hash(hashed, agent.name):
        raise errors.Unauthorized("Unknown or revoked agent token.")
    return _refuse(agent)


async def poll(svc: Services, token: str, request: wire.PollRequest) -> wire.PollAnswer:
    """The agent's queued hand-offs, at once if there are any, else as soon as one is queued
    (within ``request.wait`` seconds)."""
    async with svc.store.transaction(write=bool(request.ack)) as tx:
        agent = await _polling(tx, token_hash(token), request.agent_id)
        if request.ack:
            await tx.agents.ack(agent.id, request.ack, svc.clock.now())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.wait
    key = wake_key(agent.id)
    with (
        svc.commands.waiting(key) as woken,
        svc.agent_polls.waiting(agent.id, svc.store, lambda a: svc.commands.notify(wake_key(a))),
    ):
        while True:
            woken.clear()
            answer = await _queued(svc, agent.id)
            left = deadline - loop.time()
            if answer.handoffs or left <= 0:
                return answer
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await woken.wait()


async def _queued(svc: Services, agent_id: str) -> wire.PollAnswer:
    async with svc.store.transaction(write=False) as tx:
        rows = await tx.agents.pending(agent_id, POLL_BATCH)
    handoffs = []
    box = svc.secret_box
    for row in rows:
        if row.bot_id is None or row.assignment is None or box is None:
            continue
        handoffs.append(
            wire.Handoff(
                id=row.id,
                bot_id=row.bot_id,
                warm=row.warm,
                assignment=open_assignment(box, row.id, row.assignment),
            )
        )
    return wire.PollAnswer(handoffs=handoffs)


async def refresh_capacity(svc: Services) -> int:
    """The live agents' slots, for reservations (unless ``MEETBOT_FLEET_MAX_SLOTS``)."""
    since = live_since(svc.clock.now(), svc.settings.agent_timeout)
    async with svc.store.transaction(write=False) as tx:
        total = await tx.agents.total_slots(since)
    if isinstance(svc.capacity, FleetCapacity):
        svc.capacity.live_slots = total
    return total


async def redispatch_stranded(svc: Services, *, batch: int = 16) -> int:
    """Hand the ``booting`` bots of lost or revoked agents (and those a draining agent has not
    taken) to live ones; a bot no agent has
    room for waits for the next pass (the runner reaper fails it if that takes too long).
    Returns how many were handed again."""
    now = svc.clock.now()
    since = live_since(now, svc.settings.agent_timeout)
    async with svc.store.transaction(write=False) as tx:
        stranded = await tx.agents.stranded(since, batch)
    moved = 0
    for bot_id in stranded:
        async with Handoff(svc) as handoff, svc.store.transaction() as tx:
            bot = await tx.bots.get(bot_id, for_update=True)
            if bot is None or bot.status is not Status.BOOTING:
                continue
            if not await tx.agents.stranded(since, bot_id=bot_id):
                continue  # another replica moved it meanwhile
            agent = await tx.agents.of_bot(bot_id)
            slot = await handoff.claim(tx)
            if slot is None:
                log.warning("bot %s: its agent is gone and no agent has room", bot_id)
                continue
            try:
                credentials = await platform_credentials(svc, tx, bot)
            except errors.CredentialsUnreadable:
                log.exception("bot %s: its credentials do not decrypt", bot.id)
                await transition(svc, tx, bot, Fail(UNREADABLE), now)
                continue
            token = new_token()
            bot = bot.evolve(
                runner_token_hash=token_hash(token), dispatched_at=now, last_seen_at=None
            )
            bot = await transition(svc, tx, bot, Redispatch(), now)  # legal; same state
            await tx.bots.update(bot)  # the new token (no status change, so no event)
            await handoff.assign(tx, slot, bot, token, credentials)
            moved += 1
            gone_from = agent.id if agent else None
            log.info("bot %s: its agent %s is gone or draining; handed on", bot_id, gone_from)
    svc.reactions.events_committed()  # a bot failed for its credentials has news
    return moved


async def tend_fleet(svc: Services) -> int:
    """The scheduler's ``agents`` job."""
    await refresh_capacity(svc)
    return await redispatch_stranded(svc)


async def prune_agents(svc: Services) -> int:
    """The scheduler's ``agent_rows`` job (a fleet, once a minute): remove the rows of agents
    sharing another's token that have been lost for :data:`LOST_INSTANCE_TTL` with no bot."""
    async with svc.store.transaction() as tx:
        return await tx.agents.prune(svc.clock.now() - LOST_INSTANCE_TTL)

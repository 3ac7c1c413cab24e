"""The agent's loops: heartbeat, long poll for hand-offs, and the drain.

Two named tasks share one :class:`~meetbot.agent.control_client.ControlClient`:

- the **heartbeat** sends :class:`~meetbot.contract.agent_protocol.Heartbeat` every
  ``heartbeat_interval`` (the control plane's answer says how often), and at once (at most every
  ``min_beat_gap`` s) when the host's counts change, so a browser that became warm is offered
  quickly;
- the **poll** long-polls for hand-offs and gives each to the host.

Each hand-off is taken once per ``id`` and a bot started once per ``bot_id`` + ``token`` (a
second delivery is only acknowledged again). ``received`` (hand-offs taken since this
``incarnation`` began) and ``warm_idle`` are read in the same step as the host claims its warm
runner, so the control plane's count of offered browsers is exact.

:meth:`Agent.run` returns when ``stop`` is set (SIGTERM) after the drain: no more polls, warm
runners stopped, running bots given ``drain_timeout`` s to finish, then asked to leave
(``host_shutdown``) and given ``leave_grace`` s; a last heartbeat says ``busy: 0``. A revoked
token (401) drains the same way and :meth:`Agent.run` returns :data:`EXIT_REVOKED`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Final

from meetbot.agent.control_client import AgentRevoked, ControlChannel, ControlUnreachable
from meetbot.agent.hosts import RunnerHost
from meetbot.contract.agent_protocol import Handoff, Heartbeat, PollRequest, RunnerExit
from meetbot.contract.assignment import AssignmentError, parse_assignment

log = logging.getLogger("meetbot.agent")

EXIT_OK: Final = 0
EXIT_REVOKED: Final = 3
BACKOFF_MAX: Final = 5.0
MAX_EXITS: Final = 1000
"""Runner exits kept for the control plane while it is unreachable (the oldest go first)."""


@dataclass(frozen=True, slots=True)
class AgentOptions:
    name: str
    slots: int
    warm: int
    drain_timeout: float = 600.0
    leave_grace: float = 60.0
    poll_wait: float = 25.0
    min_beat_gap: float = 0.05
    version: str = ""


class Agent:
    def __init__(self, control: ControlChannel, host: RunnerHost, options: AgentOptions) -> None:
        self.control = control
        self.host = host
        self.options = options
        self.incarnation = uuid.uuid4().hex
        self.agent_id: str | None = None
        self.draining = False
        self.closing = False
        """Stopping without a drain (``run(drain=False)``): nothing more is offered."""
        self.revoked = asyncio.Event()
        self.registered = asyncio.Event()
        self.heartbeat_interval = 1.0
        self._taken: set[str] = set()
        self._started: set[tuple[str, str]] = set()
        self._unacked: set[str] = set()
        self._exits: list[RunnerExit] = []
        """Runner exits not yet in an answered heartbeat, oldest first."""
        self._beat_now = asyncio.Event()

    # --- what the control plane is told -----------------------------------------------------

    @property
    def received(self) -> int:
        return len(self._taken)

    def heartbeat(self) -> Heartbeat:
        """This moment's heartbeat (warm count and ``received`` read together)."""
        self._exits = [*self._exits, *self.host.take_exits()][-MAX_EXITS:]
        return Heartbeat(
            name=self.options.name,
            slots=self.options.slots,
            warm_idle=0 if self.draining or self.closing else self.host.warm_idle(),
            received=self.received,
            incarnation=self.incarnation,
            busy=self.host.busy(),
            bots=self.host.bots(),
            draining=self.draining,
            ack=sorted(self._unacked),
            exited=list(self._exits),
            version=self.options.version,
        )

    def take(self, handoff: Handoff) -> bool:
        """Take one hand-off (synchronously: the host claims its runner now). ``False``: a
        second delivery (only acknowledged again) or an unreadable assignment."""
        self._unacked.add(handoff.id)
        if handoff.id in self._taken:
            return False
        self._taken.add(handoff.id)
        try:
            assignment = parse_assignment(json.dumps(handoff.assignment))
        except AssignmentError as exc:
            log.error("hand-off %s (bot %s): invalid assignment: %s", handoff.id,
                      handoff.bot_id, exc)  # fmt: skip
            return False
        key = (assignment.bot_id, assignment.token)
        if key in self._started or self.host.runs(*key):  # an adopted runner has it already
            return False
        self._started.add(key)
        log.info("hand-off %s: bot %s (%s)", handoff.id, assignment.bot_id,
                 "warm" if handoff.warm else "cold")  # fmt: skip
        self.host.take(assignment, warm=handoff.warm)
        return True

    # --- the loops --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, drain: bool = True) -> int:
        """Run until ``stop`` (or a revoked token). ``drain=False`` (``meetbot serve``'s own
        agent, ``MEETBOT_LAUNCHER=local``): no drain at ``stop``; a last heartbeat offers no
        warm browser, the host stops its warm runners and busy ones go on (the next process
        adopts them); a revoked token still drains."""
        await self.host.start()
        beats = asyncio.create_task(self._heartbeats(), name="agent.heartbeat")
        polls = asyncio.create_task(self._polls(), name="agent.poll")
        stopped = asyncio.create_task(stop.wait(), name="agent.stop")
        revoked = asyncio.create_task(self.revoked.wait(), name="agent.revoked")
        try:
            await asyncio.wait({stopped, revoked, beats}, return_when=asyncio.FIRST_COMPLETED)
            polls.cancel()
            await asyncio.gather(polls, return_exceptions=True)
            if drain or self.revoked.is_set():
                await self._drain()
            else:
                await self._detach()
        finally:
            for task in (beats, polls, stopped, revoked):
                task.cancel()
            await asyncio.gather(beats, polls, stopped, revoked, return_exceptions=True)
            await self.host.close()
        return EXIT_REVOKED if self.revoked.is_set() else EXIT_OK

    async def _drain(self) -> None:
        self.draining = True
        log.info("draining: no new bots; %d running", self.host.busy())
        await self.host.stop_warm()
        self._beat_now.set()
        if not await self.host.wait_idle(self.options.drain_timeout):
            log.info("drain timeout: %d bot(s) asked to leave (host_shutdown)", self.host.busy())
            self.host.leave_all()
            if not await self.host.wait_idle(self.options.leave_grace):
                log.warning("%d runner(s) still running after the drain", self.host.busy())
        if not self.revoked.is_set():
            with contextlib.suppress(AgentRevoked, ControlUnreachable):
                await self._send_heartbeat(timeout=5.0)

    async def _detach(self) -> None:
        self.closing = True
        log.info("stopping without a drain: %d running bot(s) go on", self.host.busy())
        with contextlib.suppress(AgentRevoked, ControlUnreachable):
            await self._send_heartbeat(timeout=5.0)

    async def _send_heartbeat(self, timeout: float = 10.0) -> None:
        beat = self.heartbeat()
        answer = await self.control.heartbeat(beat, timeout=timeout)
        self._unacked.difference_update(beat.ack)
        self._exits = self._exits[len(beat.exited) :]  # told; later ones were appended after
        self.agent_id = answer.agent_id
        self.heartbeat_interval = answer.heartbeat_interval
        self.registered.set()

    async def _heartbeats(self) -> None:
        backoff = 0.25
        while True:
            self.host.changed.clear()
            self._beat_now.clear()
            sent = time.monotonic()
            try:
                await self._send_heartbeat()
                backoff = 0.25
                wait = self.heartbeat_interval
            except AgentRevoked as exc:
                log.error("%s", exc)
                self.revoked.set()
                return
            except ControlUnreachable as exc:
                log.warning("heartbeat failed: %s", exc)
                wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX)
            await self._until_beat(sent + wait)
            await asyncio.sleep(max(0.0, sent + self.options.min_beat_gap - time.monotonic()))

    async def _until_beat(self, deadline: float) -> None:
        changed = asyncio.ensure_future(self.host.changed.wait())
        asked = asyncio.ensure_future(self._beat_now.wait())
        try:
            await asyncio.wait(
                {changed, asked},
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            changed.cancel()
            asked.cancel()

    async def _polls(self) -> None:
        await self.registered.wait()
        backoff = 0.25
        while not self.draining:
            request = PollRequest(
                wait=self.options.poll_wait, ack=sorted(self._unacked), agent_id=self.agent_id
            )
            started = time.monotonic()
            try:
                answer = await self.control.poll(request)
            except AgentRevoked as exc:
                log.error("%s", exc)
                self.revoked.set()
                return
            except ControlUnreachable as exc:
                log.warning("poll failed: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = 0.25
            self._unacked.difference_update(request.ack)
            taken = [h for h in answer.handoffs if self.take(h)]
            if answer.handoffs:
                self._beat_now.set()  # the new counts and the acks, now
            if not taken and time.monotonic() - started < 0.05:
                await asyncio.sleep(0.05)  # an empty answer at once: do not spin

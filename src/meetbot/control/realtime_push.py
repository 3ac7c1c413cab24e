"""Recall-style push: a bot's real-time frames sent out to its ``realtime_endpoints``.

The frames are the stream's (:mod:`meetbot.control.service.stream`): the bot's events, read
from the database after a cursor, and for a WebSocket that asks for them its audio. A control
plane pushes them (it has them all; the runner is never involved, so a slow or dead receiver
never slows the bot). :class:`RealtimePush` scans for dispatched bots that have endpoints
every :attr:`PushOptions.scan_interval` seconds, takes the bot's lease (``realtime:<bot id>``:
one replica pushes a bot) and runs one :class:`EndpointPusher` per endpoint until the bot's
final event is sent.

- ``websocket``: one connection; every event is a JSON text frame (the event as the webhooks
  send it: ``type``, ``id``, ``created_at``, ``data``); audio events are JSON text frames too
  (:func:`audio_frame`: base64 PCM in ``data.buffer``).
- ``webhook``: one signed POST per event (Standard Webhooks headers, the bot's
  ``webhook_secret``), in order: the next is sent once the previous got a 2xx.

When the endpoint is down (refused, a non-2xx answer, a send that does not finish within
:attr:`PushOptions.send_timeout`), the pusher reconnects after a backoff (0.5 s doubling to
30 s) and resumes after the last event it sent: events wait in the database, nothing is kept
in memory but one page (:data:`EVENT_PAGE` events or :data:`AUDIO_PAGE` audio chunks). Audio
is real time only: what was heard while the endpoint was down is not sent later. Once the bot
has ended, a pusher that cannot deliver for :attr:`PushOptions.give_up` seconds stops (logged).
Delivery is at least once (a frame in flight when a connection broke is sent again): receivers
tell frames apart by ``id``. A control plane that restarts pushes again from the bot's first
event.

The transport is a small Protocol (:class:`PushTransport`); its driver, websockets + aiohttp
under the webhooks' SSRF guard, is :mod:`meetbot.control.realtime_transport`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from meetbot.contract.lifecycle import ENDED, Status
from meetbot.contract.media_format import SAMPLE_RATE
from meetbot.contract.models import Bot, OutboxEvent, RealtimeEndpoint
from meetbot.contract.reports import BaseReport
from meetbot.control.realtime_endpoints import AUDIO_MIXED, AUDIO_SEPARATE
from meetbot.control.service.core import Services
from meetbot.control.service.stream import AUDIO_REPORTS, Pulse
from meetbot.control.webhooks import outbox, sealed_secrets
from meetbot.ports import Storage
from meetbot.timefmt import iso

log = logging.getLogger("meetbot.control.realtime_push")

EVENT_PAGE = 200
AUDIO_PAGE = 20
PUSHED_STATUSES = frozenset(
    {
        Status.BOOTING,
        Status.JOINING,
        Status.RECORDING,
        Status.LEAVING,
        Status.PROCESSING,
        Status.TRANSCRIBING,
    }
)
"""Bots pushed: dispatched ones and those whose media is being made (``transcript.ready``)."""


class PushFailed(Exception):
    """The endpoint could not take a frame (or a connection): reconnect after a backoff."""


class PushLink(Protocol):
    """One open connection to an endpoint (for a webhook: its signing secret and URL)."""

    async def send(self, text: str, frame_id: str) -> None:
        """Send one JSON frame; raise :class:`PushFailed` if the endpoint did not take it."""
        ...

    async def aclose(self) -> None: ...


class PushTransport(Protocol):
    async def open(self, endpoint: RealtimeEndpoint, secret: str | None) -> PushLink:
        """Connect (a WebSocket) or prepare (a webhook); raise :class:`PushFailed`."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PushOptions:
    scan_interval: float = 1.0
    poll_interval: float = 0.25
    """How often a pusher reads again when no wake came (events committed on other replicas)."""
    send_timeout: float = 15.0
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    give_up: float = 300.0
    """Seconds an ended bot's endpoint may fail before its pusher stops."""
    lease_seconds: float = 60.0


def audio_frame(bot_id: str, report: BaseReport, pcm: bytes) -> tuple[str, str, str]:
    """``(event type, id, JSON text)`` of one stored audio chunk as a push frame."""
    participant = getattr(report, "participant_id", None)
    type_ = AUDIO_MIXED if participant is None else AUDIO_SEPARATE
    data: dict[str, Any] = {
        "bot_id": bot_id,
        "buffer": base64.b64encode(pcm).decode("ascii"),
        "encoding": "s16le",
        "sample_rate": SAMPLE_RATE,
        "channels": 1,
        "offset_s": getattr(report, "offset_s", None),
        "duration_s": getattr(report, "duration_s", None),
    }
    if participant is not None:
        data["participant"] = {"id": participant, "name": getattr(report, "name", None)}
    frame_id = str(uuid.uuid4())
    body = {"type": type_, "id": frame_id, "created_at": iso(report.at), "data": data}
    return type_, frame_id, json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def ends_push(event: OutboxEvent) -> bool:
    """The bot's last event: nothing follows a deletion or an ended status."""
    if event.type == outbox.BOT_DELETED:
        return True
    if event.type != outbox.STATUS_UPDATE:
        return False
    return str(event.data.get("new_status")) in {s.value for s in ENDED}


@dataclass(eq=False)
class EndpointPusher:
    """Pushes one bot's frames to one endpoint until the bot's last event is sent."""

    svc: Services
    transport: PushTransport
    pulse: Pulse
    bot: Bot
    endpoint: RealtimeEndpoint
    secret: str | None
    storage: Storage | None = None
    options: PushOptions = field(default_factory=PushOptions)
    after_seq: int = 0
    """The last event sent (or skipped: not among the endpoint's events)."""
    sent: int = 0
    failures: int = 0
    done: bool = False

    @property
    def audio_types(self) -> tuple[str, ...]:
        wanted = []
        if AUDIO_MIXED in self.endpoint.events:
            wanted.append("audio_chunk")
        if AUDIO_SEPARATE in self.endpoint.events:
            wanted.append("participant_audio_chunk")
        return tuple(t for t in wanted if t in AUDIO_REPORTS) if self.storage else ()

    async def run(self) -> None:
        backoff = self.options.backoff_min
        failing_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self.done:
            try:
                link = await self.transport.open(self.endpoint, self.secret)
                try:
                    async for _ in self._pump(link):
                        backoff, failing_since = self.options.backoff_min, None
                finally:
                    with contextlib.suppress(Exception):
                        await link.aclose()
            except PushFailed as exc:
                self.failures += 1
                failing_since = failing_since if failing_since is not None else loop.time()
                if await self._given_up(loop.time() - failing_since):
                    log.warning(
                        "bot %s: realtime endpoint %s unreachable for %.0f s after the bot"
                        " ended; stopping: %s",
                        self.bot.id,
                        self.endpoint.type,
                        loop.time() - failing_since,
                        exc,
                    )
                    return
                log.info(
                    "bot %s: realtime %s endpoint failed (%s); again in %.1f s",
                    self.bot.id,
                    self.endpoint.type,
                    exc,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.backoff_max)

    async def _pump(self, link: PushLink) -> Any:
        """Send what there is, wait for more. Yields each time all it had was taken (the
        endpoint works: the backoff starts again); a failed send raises instead."""
        audio_after: int | None = None
        if self.audio_types:  # audio from now on (a reconnect skips what was missed)
            async with self.svc.store.transaction(write=False) as tx:
                audio_after = await tx.observations.last_seq(self.bot.id)
        while True:
            async with self.svc.store.transaction(write=False) as tx:
                found = await tx.events.list_after(
                    self.bot.workspace_id, self.after_seq, EVENT_PAGE, bot_id=self.bot.id
                )
                chunks: Sequence[tuple[int, BaseReport]] = ()
                if audio_after is not None:
                    chunks = await tx.observations.list_after(
                        self.bot.id, self.audio_types, audio_after, AUDIO_PAGE
                    )
            for event in found:
                assert event.seq is not None
                if event.type in self.endpoint.events:
                    await link.send(outbox.body_of(event), event.id)
                    self.sent += 1
                self.after_seq = event.seq
                self.done |= ends_push(event)
            for seq, report in chunks:
                audio_after = seq
                key = getattr(report, "key", None)
                if isinstance(key, str) and self.storage is not None:
                    try:
                        pcm = await self.storage.get(key)
                    except (OSError, KeyError) as exc:
                        log.warning("bot %s: audio chunk %s unreadable: %r", self.bot.id, key, exc)
                        continue
                    _, frame_id, text = audio_frame(self.bot.id, report, pcm)
                    await link.send(text, frame_id)
                    self.sent += 1
            yield
            if self.done:
                return
            if not found and not chunks:
                await self.pulse.wait(self.options.poll_interval)

    async def _given_up(self, failing_for: float) -> bool:
        if failing_for < self.options.give_up:
            return False
        async with self.svc.store.transaction(write=False) as tx:
            bot = await tx.bots.get(self.bot.id)
        return bot is None or bot.status in ENDED


def lease_name(bot_id: str) -> str:
    return f"realtime:{bot_id}"


class RealtimePush:
    """The worker: a task per pushed bot (its lease held), a pusher per endpoint."""

    def __init__(
        self,
        svc: Services,
        transport: PushTransport,
        pulse: Pulse,
        storage: Storage | None = None,
        options: PushOptions | None = None,
    ) -> None:
        self.svc = svc
        self.transport = transport
        self.pulse = pulse
        self.storage = storage
        self.options = options or PushOptions(poll_interval=svc.settings.stream_poll_interval)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: set[str] = set()
        self._loop: asyncio.Task[None] | None = None
        self.pushers: dict[str, list[EndpointPusher]] = {}
        """The pushers of the bots pushed now (for tests and metrics)."""

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="realtime-push")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.transport.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:
                log.exception("realtime push: scanning bots failed")
            await asyncio.sleep(self.options.scan_interval)

    async def scan(self) -> None:
        """Start a task for each pushed bot with endpoints that has none yet."""
        async with self.svc.store.transaction(write=False) as tx:
            found = await tx.bots.in_statuses(PUSHED_STATUSES, limit=10_000, pushed=True)
        wanted = {b.id: b for b in found if b.realtime_endpoints}
        self._finished &= set(wanted)  # forget bots no longer pushed
        for bot_id, bot in wanted.items():
            if bot_id in self._tasks or bot_id in self._finished:
                continue
            if not await self._take_lease(bot_id):
                continue
            task = asyncio.create_task(self._push_bot(bot), name=f"realtime-push:{bot_id}")
            self._tasks[bot_id] = task

    async def _take_lease(self, bot_id: str) -> bool:
        now = self.svc.clock.now()
        until = now + timedelta(seconds=self.options.lease_seconds)
        async with self.svc.store.transaction() as tx:
            return await tx.leases.acquire(lease_name(bot_id), self.owner, until, now)

    async def _push_bot(self, bot: Bot) -> None:
        secret = sealed_secrets.open_one(
            self.svc.secret_box, sealed_secrets.bot_context(bot.id), bot.webhook_secret
        )
        pushers = [
            EndpointPusher(
                self.svc, self.transport, self.pulse, bot, e, secret, self.storage, self.options
            )
            for e in bot.realtime_endpoints
        ]
        self.pushers[bot.id] = pushers
        renew = asyncio.create_task(self._renew(bot.id), name=f"realtime-lease:{bot.id}")
        try:
            pushing = asyncio.gather(*(p.run() for p in pushers))
            racing: set[asyncio.Future[Any]] = {pushing, renew}
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if not pushing.done():  # the lease passed to another replica
                pushing.cancel()
                await asyncio.gather(pushing, return_exceptions=True)
            else:
                self._finished.add(bot.id)
                pushing.result()
        except Exception:
            log.exception("bot %s: realtime push failed", bot.id)
        finally:
            renew.cancel()
            await asyncio.gather(renew, return_exceptions=True)
            self._tasks.pop(bot.id, None)
            self.pushers.pop(bot.id, None)
            with contextlib.suppress(Exception):
                async with self.svc.store.transaction() as tx:
                    await tx.leases.release(lease_name(bot.id), self.owner)

    async def _renew(self, bot_id: str) -> None:
        while True:
            await asyncio.sleep(self.options.lease_seconds / 3)
            try:
                held = await self._take_lease(bot_id)
            except Exception:
                log.exception("bot %s: renewing the realtime lease failed", bot_id)
                continue
            if not held:
                log.warning("bot %s: the realtime lease passed to another replica", bot_id)
                return

"""The delivery worker: claim due deliveries, send them signed, record what happened.

One loop (the ``webhooks`` task) and one task per ordering key in flight
(``webhooks-run-<id>``), under one stop event. Each turn of the loop is one transaction that
records the attempts finished since the last turn, gives back what was claimed but not tried,
and claims work for the free slots (at most ``concurrency`` keys in flight). Only the oldest
open delivery of each (target, bot) is ever due; a claim takes it with up to ``run_length - 1``
deliveries queued right behind it (a *run*), and the run's task sends them one at a time, in
order, stopping at the first one that is not delivered (the rest go back unattempted, waiting
behind it). So a bot's events go out in order while many bots' go out in parallel, and one
transaction moves many deliveries even when the database is busy with other writers.
Connections are kept alive per target by the sender. The loop turns when a run ends, on
:meth:`notify` (called after a transaction that emitted events commits), and every
``poll_interval`` (other replicas' events, retries coming due, expired leases). Under load,
results pile up while a turn runs, so turns batch themselves.

Nothing is held only in memory: a delivery is ``delivering`` under a lease while it is sent,
and a worker killed at any point leaves leases that expire and are claimed again (the receiver
may then see an event twice, always with the same ``webhook-id``). A run never starts an
attempt that could outlast its lease. :meth:`stop` drains: no new claims, in-flight sends get
``drain_timeout`` to finish, the rest are given back unattempted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from meetbot.control.ports import SendResult, WebhookSender
from meetbot.control.webhooks import sealed_secrets
from meetbot.control.webhooks.backoff import RetryPolicy, next_retry_at
from meetbot.control.webhooks.models import Attempt, AttemptRecord, ClaimedDelivery, DeliveryStatus
from meetbot.control.webhooks.ports import WebhookStore, WebhookTx
from meetbot.control.webhooks.signing import sign_all
from meetbot.crypto import SecretBox
from meetbot.errors import StoreUnavailable
from meetbot.ports import Clock

if TYPE_CHECKING:
    from meetbot.config import Settings

log = logging.getLogger("meetbot.control.webhooks")
T = TypeVar("T")
MAX_FAILED_TURNS = 10


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    timeout: float = 15.0
    """Seconds per attempt, all included."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 64
    """Ordering keys (target, bot) in flight at once, each sending one delivery at a time."""
    run_length: int = 32
    """Deliveries of one key claimed together and sent one after the other."""
    poll_interval: float = 0.5
    sweep_interval: float = 10.0
    lease_margin: float = 5.0
    """A lease lasts ``timeout + lease_margin``: past it, the delivery is claimed again."""
    drain_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DeliveryOptions:
        values: dict[str, Any] = {
            "timeout": settings.webhook_timeout,
            "retry": RetryPolicy(window=settings.webhook_retry_window),
        }
        return cls(**(values | overrides))


@dataclass(frozen=True, slots=True)
class GiveBack:
    """A claimed delivery to give back unattempted: due now (the head of its key once the
    attempts before it are recorded) or waiting behind an earlier open delivery."""

    claimed: ClaimedDelivery
    due: bool


def give_back(tail: list[ClaimedDelivery], *, head_due: bool) -> list[GiveBack]:
    """The unattempted rest of a run: only its first can be due, the others wait behind it."""
    return [GiveBack(c, head_due and i == 0) for i, c in enumerate(tail)]


@dataclass(slots=True)
class WorkerStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0
    """Results not recorded because the lease had passed to another worker."""


def request_headers(claimed: ClaimedDelivery, at: datetime) -> dict[str, str]:
    d = claimed.delivery
    signed = sign_all(claimed.secrets, d.event_id, at, d.body.encode())
    return {"content-type": "application/json", **signed}


def outcome(
    claimed: ClaimedDelivery,
    result: SendResult,
    at: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> AttemptRecord:
    """What an attempt's result makes of the delivery (pure, given ``rng``)."""
    d = claimed.delivery
    attempt = Attempt(d.id, at, result.status_code, result.latency_ms, result.error, claimed.url)
    if result.ok:
        return AttemptRecord(d.id, claimed.token, attempt, DeliveryStatus.DELIVERED, None)
    # The window is the worker's setting; a delivery may carry a shorter one of its own.
    deadline = min(d.expires_at, d.created_at + timedelta(seconds=policy.window))
    retry_at = next_retry_at(d.attempts + 1, at, deadline, policy, rng)
    status = DeliveryStatus.FAILED if retry_at is None else DeliveryStatus.PENDING
    return AttemptRecord(d.id, claimed.token, attempt, status, retry_at)


class DeliveryWorker:
    def __init__(
        self,
        store: WebhookStore,
        sender: WebhookSender,
        clock: Clock,
        settings: Settings,
        *,
        options: DeliveryOptions | None = None,
        rng: random.Random | None = None,
        box: SecretBox | None = None,
    ) -> None:
        """``box``: opens endpoints' and bots' sealed secrets (see :mod:`.sealed_secrets`)."""
        self._box = box
        self._store = store
        self._sender = sender
        self._clock = clock
        self.options = options or DeliveryOptions.from_settings(settings)
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._results: list[AttemptRecord] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._given_back: list[GiveBack] = []
        self._abandoned: list[GiveBack] = []
        self._task: asyncio.Task[None] | None = None
        self._failed_turns = 0
        self.stats = WorkerStats()

    # --- control ---------------------------------------------------------------------------

    def notify(self) -> None:
        """Events were committed: look for due deliveries now."""
        self._wake.set()

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="webhooks")
        return self._task

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def close(self) -> None:
        """Stop and wait for the drain."""
        self.stop()
        if self._task is not None:
            await self._task

    async def run(self) -> None:
        """Deliver until :meth:`stop`, then drain."""
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                sweep = loop.time() >= next_sweep
                free = self.options.concurrency - len(self._sends)
                claimed = await self._guarded(
                    self._turn(free, sweep=sweep, release=self._take_given_back())
                )
                if claimed is None:  # the database failed; _guarded waited a while
                    self._failed_turns += 1
                    if self._failed_turns >= MAX_FAILED_TURNS:
                        self._give_up_results()
                    continue
                self._failed_turns = 0
                if sweep:
                    next_sweep = loop.time() + self.options.sweep_interval
                runs = _runs(claimed)
                for run in runs:
                    self._start_run(run)
                if free > 0 and len(runs) == free:
                    continue  # there may be more due right now
                if not self._results and not self._given_back:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.options.poll_interval):
                            await self._wake.wait()
        finally:
            await self._drain()

    async def deliver_due(self) -> int:
        """One pass without the loop (tests, CLI): claim, send, record; return how many were
        attempted."""
        claimed = await self._turn(self.options.concurrency)
        before = len(self._results)
        await asyncio.gather(*(self._run(run) for run in _runs(claimed)))
        attempted = len(self._results) - before
        await self._turn(0, release=self._take_given_back())
        return attempted

    # --- sends -----------------------------------------------------------------------------

    def _start_run(self, run: list[ClaimedDelivery]) -> None:
        name = f"webhooks-run-{run[0].delivery.id}"
        task = asyncio.create_task(self._send_run(run), name=name)
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send_run(self, run: list[ClaimedDelivery]) -> None:
        try:
            await self._run(run)
        finally:
            self._wake.set()

    async def _run(self, run: list[ClaimedDelivery]) -> None:
        """Send one key's run in order; stop at the first delivery not delivered, or when the
        lease has no room for another attempt, and give the rest back."""
        for i, claimed in enumerate(run):
            if i and not self._room_for_attempt(claimed):
                self._given_back += give_back(run[i:], head_due=True)
                return
            try:
                record = await self._attempt(claimed)
            except asyncio.CancelledError:
                self._abandoned += give_back(run[i:], head_due=True)
                raise
            self._results.append(record)
            if record.status is DeliveryStatus.PENDING:  # to be retried: the rest waits
                self._given_back += give_back(run[i + 1 :], head_due=False)
                return

    def _room_for_attempt(self, claimed: ClaimedDelivery) -> bool:
        lease = claimed.delivery.lease_until
        if lease is None:
            return True
        return self._clock.now() + timedelta(seconds=self.options.timeout) <= lease

    def _take_given_back(self) -> list[GiveBack]:
        given, self._given_back = self._given_back, []
        return given

    async def _drain(self) -> None:
        """Let in-flight sends finish for a while; give the others back unattempted."""
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=self.options.drain_timeout)
        unfinished = set(self._sends)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        abandoned, self._abandoned = self._abandoned + self._take_given_back(), []
        for attempt in range(3):
            if await self._guarded(self._turn(0, release=abandoned)) is not None:
                break
            log.warning("webhook worker: final record failed (try %d)", attempt + 1)

    # --- steps -----------------------------------------------------------------------------

    async def _turn(
        self, free: int, *, sweep: bool = False, release: list[GiveBack] | None = None
    ) -> list[ClaimedDelivery]:
        """One transaction: record finished attempts, give back ``release``, claim up to
        ``free`` runs. If it fails, results and ``release`` stay queued for the next turn."""
        records = list(self._results)
        release = release or []
        try:
            async with self._store.transaction() as tx:
                applied, claimed = await self._steps(tx, records, release, free, sweep)
        except BaseException:
            self._given_back[:0] = release
            raise
        del self._results[: len(records)]
        self._count(records, applied)
        self.stats.claimed += len(claimed)
        return claimed

    async def _steps(
        self,
        tx: WebhookTx,
        records: list[AttemptRecord],
        release: list[GiveBack],
        free: int,
        sweep: bool,
    ) -> tuple[int, list[ClaimedDelivery]]:
        now = self._clock.now()
        applied = await tx.webhooks.record(records, now) if records else 0
        for token in {g.claimed.token for g in release}:
            mine = [g for g in release if g.claimed.token == token]
            due = [g.claimed.delivery.id for g in mine if g.due]
            waiting = [g.claimed.delivery.id for g in mine if not g.due]
            await tx.webhooks.release(token, due, now, waiting=waiting)
        if sweep:
            await tx.webhooks.promote_waiting(now)
        if not free:
            return applied, []
        lease = now + timedelta(seconds=self.options.timeout + self.options.lease_margin)
        token = uuid.uuid4().hex
        claimed = await tx.webhooks.claim(now, lease, free, token, run=self.options.run_length)
        return applied, claimed

    def _give_up_results(self) -> None:
        """Stop retrying to store results: their leases expire and they are sent again."""
        log.error("webhook worker: dropping %d unrecorded results", len(self._results))
        records, self._results = self._results, []
        self._count(records, 0)
        self._failed_turns = 0

    def _count(self, records: list[AttemptRecord], applied: int) -> None:
        self.stats.lost += len(records) - applied
        for r in records:
            if r.status is DeliveryStatus.DELIVERED:
                self.stats.delivered += 1
            elif r.status is DeliveryStatus.FAILED:
                self.stats.failed += 1
                log.warning("webhook delivery %s failed for good", r.delivery_id)
            else:
                self.stats.retried += 1

    async def _attempt(self, claimed: ClaimedDelivery) -> AttemptRecord:
        at = self._clock.now()
        target = sealed_secrets.target_context(
            claimed.delivery.endpoint_id, claimed.delivery.bot_id
        )
        secrets = sealed_secrets.open_all(self._box, target, claimed.secrets)
        claimed = replace(claimed, secrets=secrets)
        try:
            if not claimed.secrets:
                result = SendResult(None, 0.0, "no signing secret for this target")
            else:
                headers = request_headers(claimed, at)
                body = claimed.delivery.body.encode()
                result = await self._sender.send(claimed.url, body, headers, self.options.timeout)
        except Exception as exc:  # a bug in a sender must not stall the queue
            log.exception("webhook sender failed on delivery %s", claimed.delivery.id)
            result = SendResult(None, 0.0, f"internal error: {type(exc).__name__}")
        return outcome(claimed, result, at, self.options.retry, self._rng)

    async def _guarded(self, step: Awaitable[T]) -> T | None:
        """Run a database step; log and swallow its failure (the loop tries again later)."""
        try:
            return await step
        except StoreUnavailable as exc:  # an outage, not a bug: no traceback every turn
            log.warning("webhook delivery step failed: %s", exc.detail)
        except Exception:
            log.exception("webhook delivery step failed")
        await asyncio.sleep(self.options.poll_interval)
        return None


def _runs(claimed: list[ClaimedDelivery]) -> list[list[ClaimedDelivery]]:
    """Claimed deliveries grouped by ordering key, each group in the claim's (``seq``) order."""
    runs: dict[str, list[ClaimedDelivery]] = {}
    for c in claimed:
        runs.setdefault(c.delivery.order_key, []).append(c)
    return list(runs.values())

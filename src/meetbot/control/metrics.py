"""What ``/metrics`` shows, in Prometheus' text format (``prometheus-client``).

Kept as the requests and the scheduler go (no I/O): request counts and latencies by route
template and status (:meth:`Metrics.observe_request`, from the API's middleware), dispatch
lateness and join lateness (subscribed to the service's reactions). Read at each scrape
(:meth:`Metrics.collect`): bots by status, reserved bots per window and due webhook deliveries
(three indexed queries in one read transaction, :class:`~meetbot.control.ports.StatsRepo`), and
the launcher's :class:`~meetbot.control.ports.CapacitySnapshot` (no I/O). ``meetbot_slots_needed``
is what an autoscaler targets: scheduled bots whose reservation starts within the next dispatch
lead, plus running bots, plus the warm pool's target.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from meetbot.contract.lifecycle import DISPATCHED, ENDED, Status
from meetbot.contract.models import Bot
from meetbot.control.ports import CapacitySnapshot, Launcher, Store

# No ``*_created`` series: half the text, and nothing a dashboard reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS: Final = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds late; early (negative) lands in ``le="0"``. No negative bucket: prometheus-client
would then leave out ``_sum``, and the mean lateness with it."""
RESERVATION_WINDOWS: Final = (("15m", 15 * 60), ("1h", 3600), ("24h", 24 * 3600))
"""``meetbot_reserved_bots{window}``: scheduled bots whose reservation starts within it."""
ACTIVE: Final = tuple(s for s in Status if s not in ENDED)


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """What one scrape reads from the database."""

    bots_by_status: dict[Status, int]
    reserved: dict[str, int]
    """Window name → scheduled bots whose reservation starts before now + window."""
    reserved_within_lead: int
    """Scheduled bots whose reservation (``join_at - dispatch lead``) starts within one lead."""
    due_deliveries: int

    @property
    def running(self) -> int:
        return sum(n for s, n in self.bots_by_status.items() if s in DISPATCHED)


def slots_needed(counts: StoreCounts, capacity: CapacitySnapshot) -> int:
    """Slots an autoscaler should provide: the bots that need one within the next dispatch
    lead, the running ones, and the warm pool."""
    return counts.reserved_within_lead + counts.running + capacity.warm_target


async def read_counts(store: Store, now: datetime, lead: timedelta) -> StoreCounts:
    """The scrape's three queries, in one read transaction."""
    cutoffs = [now + lead + timedelta(seconds=s) for _, s in RESERVATION_WINDOWS]
    async with store.transaction(write=False) as tx:
        by_status = await tx.stats.active_bots_by_status()
        scheduled = await tx.stats.scheduled_before([now + 2 * lead, *cutoffs])
        due = await tx.stats.due_deliveries(now)
    reserved = {name: n for (name, _), n in zip(RESERVATION_WINDOWS, scheduled[1:], strict=True)}
    return StoreCounts(by_status, reserved, scheduled[0], due)


class DatabaseCounts(Collector):
    """``meetbot_db_transactions_total`` and ``meetbot_db_statements_total``: what this process
    asked of the database since it started (statements are round trips), for sizing it."""

    def __init__(self) -> None:
        self.transactions = 0
        self.statements = 0

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "meetbot_db_transactions", "Database transactions begun", value=self.transactions
        )
        yield CounterMetricFamily(
            "meetbot_db_statements", "SQL statements sent (round trips)", value=self.statements
        )


class Metrics:
    """The registry and its metrics (one per control plane; tests make their own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "meetbot_http_requests",
            "HTTP requests answered, by method, route template and status code",
            ("method", "route", "status"),
            registry=r,
        )
        self.latency = Histogram(
            "meetbot_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dispatch_lateness = Histogram(
            "meetbot_dispatch_lateness_seconds",
            "Scheduled bots: dispatch time - (join_at - dispatch lead)",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.join_lateness = Histogram(
            "meetbot_join_lateness_seconds",
            "Bots with a join_at: the moment they started joining - join_at",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.bots = Gauge("meetbot_bots", "Bots not ended, by status", ("status",), registry=r)
        self.reserved = Gauge(
            "meetbot_reserved_bots",
            "Scheduled bots whose reserved window starts within the next `window`",
            ("window",),
            registry=r,
        )
        self.webhook_due = Gauge(
            "meetbot_webhook_deliveries_due", "Webhook deliveries due now (the queue)", registry=r
        )
        self.database = DatabaseCounts()
        r.register(self.database)
        self.slots = Gauge("meetbot_slots", "Bots that can run at once", registry=r)
        self.busy = Gauge("meetbot_slots_busy", "Slots running or reserved for a bot", registry=r)
        self.warm_idle = Gauge("meetbot_warm_idle", "Warm browsers ready for a bot", registry=r)
        self.warm_starting = Gauge("meetbot_warm_starting", "Warm browsers starting", registry=r)
        self.warm_target = Gauge("meetbot_warm_target", "The warm pool's size", registry=r)
        self.agents = Gauge(
            "meetbot_fleet_agents",
            "A fleet's agents by state (live, draining, lost, revoked)",
            ("state",),
            registry=r,
        )
        self.slots_needed = Gauge(
            "meetbot_slots_needed",
            "Slots needed: scheduled bots due within the next dispatch lead + running bots +"
            " the warm pool (the autoscaler's target)",
            registry=r,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    # --- kept as things happen ----------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            label = str(status)
            children = (
                self.requests.labels(method, route, label),
                self.latency.labels(method, route, label),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def bot_dispatched(self, bot: Bot, lead: timedelta) -> None:
        if bot.join_at is not None and bot.dispatched_at is not None:
            due = max(bot.join_at - lead, bot.created_at)  # due when created, if created late
            self.dispatch_lateness.observe((bot.dispatched_at - due).total_seconds())

    def bot_joining(self, bot: Bot, at: datetime) -> None:
        if bot.join_at is not None:
            self.join_lateness.observe((at - bot.join_at).total_seconds())

    # --- read at scrape time ------------------------------------------------------------------

    def update(self, counts: StoreCounts, capacity: CapacitySnapshot) -> None:
        for status in ACTIVE:
            self.bots.labels(status.value).set(counts.bots_by_status.get(status, 0))
        for name, n in counts.reserved.items():
            self.reserved.labels(name).set(n)
        self.webhook_due.set(counts.due_deliveries)
        self.slots.set(capacity.slots)
        self.busy.set(capacity.busy)
        self.warm_idle.set(capacity.warm_idle)
        self.warm_starting.set(capacity.warm_starting)
        self.warm_target.set(capacity.warm_target)
        self.slots_needed.set(slots_needed(counts, capacity))
        for state, n in capacity.agents.items():
            self.agents.labels(state).set(n)

    async def collect(
        self, store: Store, launcher: Launcher, now: datetime, lead: timedelta
    ) -> bytes:
        """Read the scrape-time values, then the whole registry as Prometheus text."""
        self.update(await read_counts(store, now, lead), launcher.snapshot())
        for name in ("transactions", "statements"):
            count = getattr(store, name, None)  # a SQL store counts them; the memory one does not
            if isinstance(count, int):
                setattr(self.database, name, count)
        return generate_latest(self.registry)

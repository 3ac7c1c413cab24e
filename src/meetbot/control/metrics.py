"""``GET /metrics`` in the Prometheus text format: what an operator and an autoscaler watch.

Every figure but one is read from the database at scrape time, so every replica shows the same
(:func:`meetbot.control.service.metrics.snapshot`); the dispatch lateness histogram is this
replica's own (Prometheus sums the replicas' buckets).

- ``meetbot_fleet_agents{state}``, ``meetbot_fleet_slots``, ``meetbot_fleet_busy``,
  ``meetbot_fleet_warm_idle`` (browsers offered for a claim): the live agents;
- ``meetbot_capacity_slots``: the capacity scheduled bots reserve against;
- ``meetbot_bots{status}``; ``meetbot_reserved_bots{window}``: scheduled bots joining within
  the next ``dispatch_lead``, hour, day;
- ``meetbot_slots_needed``: bots holding a runner plus scheduled bots dispatched within the
  next dispatch lead: the value an autoscaler targets (divide by an agent's ``--slots``);
- ``meetbot_webhook_queue_depth``: deliveries not yet delivered or failed;
- ``meetbot_dispatch_lateness_seconds``: histogram of how late a scheduled bot was dispatched
  after ``join_at - dispatch_lead``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DispatchLateness:
    """This replica's histogram of dispatch lateness (seconds)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._histogram = Histogram(
            "meetbot_dispatch_lateness_seconds",
            "How late scheduled bots were dispatched after join_at - dispatch_lead.",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )

    def observe(self, seconds: float) -> None:
        self._histogram.observe(max(seconds, 0.0))


@dataclass(frozen=True, slots=True)
class Snapshot:
    agents_by_state: Mapping[str, int] = field(default_factory=dict)
    slots: int = 0
    busy: int = 0
    warm_idle: int = 0
    capacity: int = 0
    bots_by_status: Mapping[str, int] = field(default_factory=dict)
    reserved: Mapping[str, int] = field(default_factory=dict)
    """Window name → scheduled bots joining within it."""
    slots_needed: int = 0
    webhook_queue_depth: int = 0


class _SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        agents = GaugeMetricFamily("meetbot_fleet_agents", "Agents by state.", labels=["state"])
        for state in ("live", "draining", "lost", "revoked"):
            agents.add_metric([state], s.agents_by_state.get(state, 0))
        yield agents
        yield GaugeMetricFamily("meetbot_fleet_slots", "Live agents' slots.", value=s.slots)
        yield GaugeMetricFamily("meetbot_fleet_busy", "Live agents' busy runners.", value=s.busy)
        yield GaugeMetricFamily(
            "meetbot_fleet_warm_idle", "Warm browsers offered for a claim.", value=s.warm_idle
        )
        yield GaugeMetricFamily(
            "meetbot_capacity_slots", "Capacity scheduled bots reserve against.", value=s.capacity
        )
        bots = GaugeMetricFamily("meetbot_bots", "Bots by status.", labels=["status"])
        for status, n in sorted(s.bots_by_status.items()):
            bots.add_metric([status], n)
        yield bots
        reserved = GaugeMetricFamily(
            "meetbot_reserved_bots", "Scheduled bots joining within a window.", labels=["window"]
        )
        for window, n in s.reserved.items():
            reserved.add_metric([window], n)
        yield reserved
        yield GaugeMetricFamily(
            "meetbot_slots_needed",
            "Slots needed within the next dispatch lead (the autoscaler's target).",
            value=s.slots_needed,
        )
        yield GaugeMetricFamily(
            "meetbot_webhook_queue_depth", "Webhook deliveries open.", value=s.webhook_queue_depth
        )


def render(snap: Snapshot, lateness: DispatchLateness) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snap))
    return generate_latest(registry) + generate_latest(lateness.registry)

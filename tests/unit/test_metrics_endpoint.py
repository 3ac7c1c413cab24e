"""``GET /metrics``: request counts and latencies by route template, the scrape-time counts,
the capacity snapshot, lateness histograms and the optional bearer token (parsed back with
prometheus_client's own parser)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.plane import TestPlane, build_test_plane
from meetbot.config import Settings
from meetbot.contract import reports
from meetbot.control.launchers.local import LocalLauncher
from meetbot.control.ports import CapacitySnapshot
from meetbot.control.service import runners
from meetbot.control.service.dispatch import dispatch_due
from meetbot.crypto import SecretBox
from meetbot.testing.fakes import FixedClock
from meetbot.testing.memory_store import MemoryStore
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"
LEAD = 600


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found[(name, frozenset(labels.items()))]


async def scrape(client: httpx.AsyncClient, **headers: str) -> dict[Any, float]:
    answer = await client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


@pytest.fixture
async def plane() -> TestPlane:
    plane = await build_test_plane(
        MemoryStore(), max_concurrent_bots=4, adhoc_pool_size=1, dispatch_lead=LEAD
    )
    return plane  # the app subscribes its metrics to the dispatch and join reactions


async def test_requests_are_counted_by_route_template_and_status(plane: TestPlane) -> None:
    async with plane.client() as client:
        for bot_id in ("00000000-0000-4000-8000-000000000001", "other"):
            assert (await client.get(f"/api/v1/bot/{bot_id}/")).status_code == 404
        await client.get("/no/such/path")
        found = await scrape(client)
    route = {"method": "GET", "route": "/api/v1/bot/{bot_id}/", "status": "404"}
    assert value(found, "meetbot_http_requests_total", **route) == 2
    assert value(found, "meetbot_http_request_duration_seconds_count", **route) == 2
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(found, "meetbot_http_requests_total", **unmatched) == 1
    assert not any("other" in dict(labels).get("route", "") for _, labels in found)


async def test_bots_capacity_reservations_and_slots_needed(plane: TestPlane) -> None:
    now = plane.clock.now()
    async with plane.client() as client:
        adhoc = await client.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert adhoc.status_code == 201, adhoc.text
        for minutes in (15, 50, 300):  # reserved from join_at - 10 min
            at = iso(now + timedelta(minutes=minutes))
            created = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": at})
            assert created.status_code == 201, created.text
        found = await scrape(client)
    assert value(found, "meetbot_bots", status="scheduled") == 3
    assert value(found, "meetbot_bots", status="booting") == 1
    assert value(found, "meetbot_bots", status="recording") == 0
    assert value(found, "meetbot_reserved_bots", window="15m") == 1
    assert value(found, "meetbot_reserved_bots", window="1h") == 2
    assert value(found, "meetbot_reserved_bots", window="24h") == 3
    assert value(found, "meetbot_slots") == 4
    assert value(found, "meetbot_slots_busy") == 1
    assert value(found, "meetbot_warm_idle") == 0  # the fake refills only when told
    assert value(found, "meetbot_warm_target") == 1
    # due within one lead (the 15-minute bot) + running (the ad-hoc one) + the warm pool
    assert value(found, "meetbot_slots_needed") == 1 + 1 + 1


async def test_webhook_queue_depth_counts_due_deliveries(plane: TestPlane) -> None:
    async with plane.client() as client:
        body = {"meeting_url": MEET, "webhook_url": "https://8.8.8.8/hook"}
        assert (await client.post("/api/v1/bot/", json=body)).status_code == 201
        found = await scrape(client)
    assert value(found, "meetbot_webhook_deliveries_due") >= 1


async def test_dispatch_and_join_lateness_are_observed(plane: TestPlane) -> None:
    join_at = plane.clock.now() + timedelta(hours=1)
    async with plane.client() as client:
        created = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "join_at": iso(join_at)}
        )
        bot_id = created.json()["id"]
        plane.clock.set(join_at - timedelta(seconds=LEAD - 2))  # the scheduler is 2 s late
        assert await dispatch_due(plane.services) == 1
        assignment = plane.launcher.assigned(bot_id)
        assert assignment is not None
        request = reports.JoinRequest(at=join_at + timedelta(seconds=0.2))
        await runners.start_joining(plane.services, bot_id, assignment.token, request)
        found = await scrape(client)
    assert value(found, "meetbot_dispatch_lateness_seconds_count") == 1
    assert value(found, "meetbot_dispatch_lateness_seconds_sum") == pytest.approx(2.0)
    assert value(found, "meetbot_dispatch_lateness_seconds_bucket", le="2.5") == 1
    assert value(found, "meetbot_join_lateness_seconds_sum") == pytest.approx(0.2)
    assert value(found, "meetbot_join_lateness_seconds_bucket", le="0.1") == 0


async def test_a_metrics_token_is_wanted_when_set() -> None:
    plane = await build_test_plane(MemoryStore(), metrics_token="scrape-me")
    async with plane.client() as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        found = await scrape(client, Authorization="Bearer scrape-me")
    assert value(found, "meetbot_slots") == plane.services.settings.max_concurrent_bots


async def test_the_local_launcher_reports_its_capacity(tmp_path: Path) -> None:
    """Its agent's host, read without I/O (not started: no runner yet)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path, adhoc_pool_size=2, max_concurrent_bots=5,
    )  # fmt: skip
    launcher = LocalLauncher(
        settings, MemoryStore(), FixedClock(), SecretBox(bytes(32)), lambda key: None
    )
    assert launcher.snapshot() == CapacitySnapshot(
        slots=5, busy=0, warm_idle=0, warm_starting=0, warm_target=2
    )

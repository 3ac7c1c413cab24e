"""Deliveries of bot events follow the server's settings and clock, on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from harness.plane import build_test_plane
from meetbot.contract.reports import Joining, ReportBatch
from meetbot.control.service.runners import handle_reports
from meetbot.testing.fakes import FixedClock

MEET = "https://meet.google.com/abc-defg-hij"
WINDOW = 600.0


async def test_bot_events_use_the_retry_window_and_the_services_clock(any_store: Any) -> None:
    """Regression: bot events were emitted without ``webhook_retry_window`` (their deliveries
    always expired after 24 h) and their deliveries started at the wall clock's time, not the
    services' clock. This clock runs years ahead of the wall clock, and the runner's ahead of
    it: the deliveries start at the services' now."""
    clock = FixedClock(datetime(2031, 5, 1, 12, 0, tzinfo=UTC))
    plane = await build_test_plane(
        any_store, clock=clock, webhook_allow_private=True, webhook_retry_window=WINDOW
    )
    async with plane.client() as client:
        r = await client.post("/api/v1/webhook_endpoints/", json={"url": "http://127.0.0.1:9/h"})
        assert r.status_code == 201, r.text
        endpoint = r.json()["id"]
        bot = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()
        assigned = plane.launcher.assigned(bot["id"])
        assert assigned is not None
        clock.advance(5)
        ahead = clock.now() + timedelta(minutes=3)
        batch = ReportBatch(events=[Joining(at=ahead)])
        await handle_reports(plane.services, bot["id"], assigned.token, batch)
        clock.advance(5)
        r = await client.post(f"/api/v1/bot/{bot['id']}/leave_call/")
        assert r.status_code == 200, r.text
    async with any_store.transaction(write=False) as tx:
        deliveries = await tx.webhooks.list_deliveries(
            endpoint, status=None, before_seq=None, limit=10
        )
    start = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    created = [d.created_at for d in reversed(deliveries)]
    assert created == [start, start + timedelta(seconds=5), start + timedelta(seconds=10)]
    assert {d.expires_at - d.created_at for d in deliveries} == {timedelta(seconds=WINDOW)}

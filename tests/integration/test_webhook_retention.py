"""The janitor deletes finished deliveries past ``webhook_delivery_retention``; open ones and
the event feed stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from webhook_fixtures import WS, add_bot, add_endpoint, emit_status, endpoint

from harness.plane import build_test_plane
from meetbot.control.scheduler import Scheduler
from meetbot.control.webhooks.models import Attempt, AttemptRecord, DeliveryStatus
from meetbot.testing.fakes import FixedClock

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = 24 * 3600.0
S = DeliveryStatus


async def settle(store: Any, status: DeliveryStatus, at: datetime) -> str:
    """Claim the one due delivery and record an attempt that leaves it ``status``."""
    async with store.transaction() as tx:
        (c,) = await tx.webhooks.claim(at, at + timedelta(seconds=30), 1, "tok")
    code = 200 if status is S.DELIVERED else 500
    attempt = Attempt(c.delivery.id, at, code, 3.0, None, c.url)
    retry_at = at + timedelta(days=60) if status is S.PENDING else None  # not due again
    async with store.transaction() as tx:
        assert (
            await tx.webhooks.record(
                [AttemptRecord(c.delivery.id, c.token, attempt, status, retry_at)], at
            )
            == 1
        )
    return c.delivery.id


async def test_the_janitor_prunes_old_finished_deliveries_in_batches(
    any_store: Any, tmp_path: Path
) -> None:
    clock = FixedClock(T0)
    plane = await build_test_plane(any_store, clock=clock, data_dir=tmp_path)
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    old_bot, new_bot = await add_bot(any_store, T0), await add_bot(any_store, T0)
    await emit_status(any_store, old_bot, 4, T0)
    delivered = [await settle(any_store, S.DELIVERED, T0) for _ in range(2)]
    failed = await settle(any_store, S.FAILED, T0)
    retrying = await settle(any_store, S.PENDING, T0)
    recent_day = T0 + timedelta(days=29)
    await emit_status(any_store, new_bot, 1, recent_day)
    recent = await settle(any_store, S.DELIVERED, recent_day)

    clock.set(T0 + timedelta(days=30, seconds=1))
    scheduler = Scheduler(plane.services)
    assert plane.services.settings.webhook_delivery_retention == 30 * DAY
    scheduler.prune_batch = 2  # three old finished ones: two batches
    assert await scheduler.tidy() == 3
    assert await scheduler.tidy() == 0

    async with any_store.transaction(write=False) as tx:
        for gone in [*delivered, failed]:
            assert await tx.webhooks.get_delivery(gone) is None
            assert await tx.webhooks.list_attempts(gone, 10) == []
        kept = [
            d.id
            for d in await tx.webhooks.list_deliveries(
                ep.id, status=None, before_seq=None, limit=10
            )
        ]
        assert kept == [recent, retrying]
        assert len(await tx.webhooks.list_attempts(retrying, 10)) == 1
        assert len(await tx.events.list_after(WS, 0, 100)) == 5  # the feed keeps every event

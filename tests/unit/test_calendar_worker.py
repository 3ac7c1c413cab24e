"""The calendar worker (issue 15): a wake that comes while the calendar is syncing (a push
notification about a change made after that sync's listing) syncs it once more after it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from harness.ics import feed, vevent
from harness.plane import build_test_plane
from meetbot.contract.lifecycle import TERMINAL, Status
from meetbot.control.calendar_worker import CalendarWorker
from meetbot.control.calendars.models import CalendarKind
from meetbot.control.service import calendar_sync, calendars
from meetbot.control.service.calendars import CalendarSpec
from meetbot.testing.fake_calendars import FakeCalendarSources
from meetbot.testing.fakes import FixedClock
from meetbot.testing.memory_store import MemoryStore

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MEET = "https://meet.google.com/abc-defg-hij"


async def test_a_wake_during_a_sync_syncs_again_after_it() -> None:
    plane = await build_test_plane(MemoryStore(), clock=FixedClock(NOW))
    sources = FakeCalendarSources()
    plane.services.calendar_sources = sources
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    spec = CalendarSpec(kind=CalendarKind.ICS, config={"url": "https://cal/a"})
    calendar = await calendars.connect(plane.services, plane.workspace_id, spec)
    worker = CalendarWorker(plane.services, interval=60)  # only wakes make it sync
    await worker.start()
    try:
        sources.hold = asyncio.Event()
        worker.wake(calendar.id)
        await asyncio.wait_for(sources.listing.wait(), 5)  # the first listing read the feed
        moved = T + 2 * HOUR
        sources.publish("https://cal/a", feed(vevent("m", moved, moved + HOUR, location=MEET)))
        worker.wake(calendar.id)  # the push for the move, while the first sync runs
        await asyncio.sleep(0.05)
        sources.hold.set()
        async with asyncio.timeout(5):
            while True:
                async with plane.services.store.transaction(write=False) as tx:
                    live = await tx.bots.in_statuses([s for s in Status if s not in TERMINAL])
                if [b.join_at for b in live] == [moved]:
                    break
                await asyncio.sleep(0.01)
        assert sources.lists == 2
    finally:
        await worker.stop()


async def test_a_wake_of_a_calendar_another_plane_syncs_retries_until_it_gets_the_lease() -> None:
    plane = await build_test_plane(MemoryStore(), clock=FixedClock(NOW))
    sources = FakeCalendarSources()
    plane.services.calendar_sources = sources
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    spec = CalendarSpec(kind=CalendarKind.ICS, config={"url": "https://cal/a"})
    calendar = await calendars.connect(plane.services, plane.workspace_id, spec)
    await calendar_sync.sync(plane.services, calendar.id)  # next due in 5 minutes
    sources.lists = 0
    sources.listing.clear()
    name = calendar_sync.lease_name(calendar.id)
    async with plane.services.store.transaction() as tx:  # another control plane's sync
        assert await tx.leases.acquire(name, "other-plane", NOW + HOUR, NOW)
    worker = CalendarWorker(plane.services, interval=0.02)
    await worker.start()
    try:
        worker.wake(calendar.id)
        await asyncio.sleep(0.2)
        assert sources.lists == 0  # busy: not synced, but not forgotten
        async with plane.services.store.transaction() as tx:
            await tx.leases.release(name, "other-plane")
        await asyncio.wait_for(sources.listing.wait(), 5)
    finally:
        await worker.stop()

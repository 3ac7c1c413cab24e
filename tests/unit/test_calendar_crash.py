"""A sync that crashes at any write leaves nothing a retry would not redo (issue 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from harness.ics import feed, vevent
from harness.plane import build_test_plane
from meetbot.contract.lifecycle import TERMINAL, Status
from meetbot.control.calendars.models import CalendarKind
from meetbot.control.ports import Store, Tx
from meetbot.control.service import calendar_sync, calendars
from meetbot.control.service.calendars import CalendarSpec
from meetbot.testing.fake_calendars import FakeCalendarSources
from meetbot.testing.fakes import FixedClock
from meetbot.testing.memory_store import MemoryStore

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MEET = "https://meet.google.com/abc-defg-hij"


class Crash(Exception):
    pass


class CrashingStore:
    """A store whose ``fail_at``-th write transaction is rolled back with :class:`Crash`
    (the process 'dies' there)."""

    def __init__(self, inner: Store, fail_at: int) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.writes = 0

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        return self._transaction(write)

    @asynccontextmanager
    async def _transaction(self, write: bool) -> AsyncIterator[Tx]:
        if write:
            self.writes += 1
        failing = write and self.writes == self.fail_at
        async with self.inner.transaction(write=write) as tx:
            yield tx
            if failing:
                raise Crash()

    async def close(self) -> None:
        await self.inner.close()


def _feed(moved: bool) -> str:
    start = T + 2 * HOUR if moved else T
    return feed(
        vevent("s", start, start + HOUR, location=MEET, rrule="FREQ=DAILY;COUNT=3"),
        vevent("x", T + 5 * HOUR, T + 6 * HOUR, location="https://meet.google.com/xxx-yyyy-zzz"),
    )


@pytest.mark.parametrize("fail_at", range(1, 16))
async def test_a_crash_at_any_write_then_a_retry_converges(fail_at: int) -> None:
    inner = MemoryStore()
    plane = await build_test_plane(inner, clock=FixedClock(NOW))
    sources = FakeCalendarSources()
    plane.services.calendar_sources = sources
    sources.publish("https://cal/a", _feed(moved=False))
    calendar = await calendars.connect(
        plane.services,
        plane.workspace_id,
        CalendarSpec(kind=CalendarKind.ICS, config={"url": "https://cal/a"}),
    )
    await calendar_sync.sync(plane.services, calendar.id)
    sources.publish("https://cal/a", _feed(moved=True))  # the series moves two hours

    crashing = CrashingStore(inner, fail_at)
    plane.services.store = crashing
    crashed = False
    try:
        await calendar_sync.sync(plane.services, calendar.id)
    except Crash:
        crashed = True
    assert crashed or crashing.writes < fail_at  # it crashed at its fail_at-th write
    plane.services.store = inner
    plane.clock.advance(calendar_sync.LEASE_SECONDS + 1)  # a crashed holder's lease expires
    result = await calendar_sync.sync(plane.services, calendar.id)
    assert result.outcome is calendar_sync.Outcome.SYNCED

    async with inner.transaction(write=False) as tx:
        live = await tx.bots.in_statuses([s for s in Status if s not in TERMINAL])
        rows = await tx.calendars.events(calendar.id)
        stored = await tx.calendars.get(calendar.id)
    day = timedelta(days=1)
    moved = T + 2 * HOUR
    assert sorted(b.join_at for b in live if b.join_at) == sorted(
        [moved, moved + day, moved + 2 * day, T + 5 * HOUR]
    )
    assert not any(r.dirty for r in rows)
    assert stored is not None
    assert stored.cursor is not None
    assert stored.status.value == "connected"

"""The calendar worker: syncs calendars when they are due (``next_sync_at``, every
``MEETBOT_CALENDAR_POLL_SECONDS``) and at once when told (:meth:`CalendarWorker.wake`: a
calendar connected, ``POST .../sync/``, a push notification).

One named task, one stop event, a graceful drain; syncs run a few at a time
(:data:`CONCURRENCY`). A sync is single-flight per calendar across every control plane (its
lease), so two replicas polling one database do not sync a calendar twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from meetbot.control.service import Services
from meetbot.control.service.calendar_sync import Outcome, sync
from meetbot.errors import StoreUnavailable

log = logging.getLogger("meetbot.control.calendar_worker")

CONCURRENCY = 4
POLL_INTERVAL = 1.0
"""How often the store is asked for due calendars (seconds)."""
BATCH = 50


class CalendarWorker:
    def __init__(self, services: Services, *, interval: float = POLL_INTERVAL) -> None:
        self.services = services
        self.interval = interval
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._woken: set[str] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()
        """Woken while its sync ran: synced again once that one ends (the change the wake
        announced may have come after that sync's listing)."""
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._task: asyncio.Task[None] | None = None
        self._syncs: set[asyncio.Task[None]] = set()

    def wake(self, calendar_id: str) -> None:
        """Sync this calendar now (a reaction: never blocks); if it is syncing, once more
        after that sync."""
        self._woken.add(calendar_id)
        self._wake.set()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="calendars:worker")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._syncs:
            await asyncio.gather(*self._syncs, return_exceptions=True)
        self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self._turn()
            except StoreUnavailable as exc:
                log.warning("calendars: %s; retrying in %.2fs", exc.detail, self.interval)
            except Exception:
                log.exception("calendars: a turn failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()

    async def _turn(self) -> None:
        woken = set(self._woken)
        self._woken.clear()
        async with self.services.store.transaction(write=False) as tx:
            due = await tx.calendars.due(self.services.clock.now(), BATCH)
        for calendar_id in dict.fromkeys([*woken, *(c.id for c in due)]):
            if calendar_id in self._running:
                if calendar_id in woken:
                    self._again.add(calendar_id)
                continue
            self._running.add(calendar_id)
            one = self._one(calendar_id, calendar_id in woken)
            task = asyncio.create_task(one, name=f"calendars:{calendar_id}")
            self._syncs.add(task)
            task.add_done_callback(self._syncs.discard)

    async def _one(self, calendar_id: str, woken: bool) -> None:
        try:
            async with self._slots:
                result = await sync(self.services, calendar_id)
            if woken and result.outcome is Outcome.BUSY:
                # Another control plane is syncing it (its lease): try again at the next
                # turn, until this wake's sync has run after the change it announced.
                self._woken.add(calendar_id)
        except StoreUnavailable as exc:
            log.warning("calendar %s: %s", calendar_id, exc.detail)
        except Exception:
            log.exception("calendar %s: sync failed", calendar_id)
        finally:
            self._running.discard(calendar_id)
            if calendar_id in self._again:
                self._again.discard(calendar_id)
                self.wake(calendar_id)

"""Calendars (issue 15): how long a sync takes and how many database round trips it makes.

- first sync and no-change sync of ``--calendars`` ICS feeds of ``--events`` events each
  (``--recurring`` of them weekly series, so expanded over the 28-day horizon), served on
  loopback with ETags (the no-change sync is a conditional GET answered 304): time and
  statements per calendar;
- change → bot latency with push: a Google calendar (the tests' fake Google server on
  loopback) whose event moves, then Google's notification is posted; until the bot's
  ``join_at`` is the new time.

Runs in one process (control plane, feed server and fake Google share the event loop) on a
SQLite file (or ``--postgres``: a throwaway PostgreSQL database on 127.0.0.1, dropped after).
The push part runs on the same database after the ICS part, so its sync sees every bot the
first part made. Database round trips: statements plus commits. It measures; it asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test harness: a control plane on fakes

from bench_db import bench_database  # noqa: E402
from harness.fake_google import fake_google, gevent  # noqa: E402
from harness.ics import feed, vevent  # noqa: E402
from harness.plane import build_test_plane  # noqa: E402
from meetbot.control.calendar_worker import CalendarWorker  # noqa: E402
from meetbot.control.calendars.ics import HttpCalendarSources  # noqa: E402
from meetbot.control.calendars.models import CalendarKind  # noqa: E402
from meetbot.control.service import calendar_sync, calendars  # noqa: E402
from meetbot.control.service.calendars import CalendarSpec  # noqa: E402
from meetbot.control.store import open_store  # noqa: E402
from meetbot.control.webhooks.targets import TargetPolicy  # noqa: E402
from meetbot.testing.fakes import FixedClock  # noqa: E402

NOW = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def meet_code(n: int) -> str:
    s = ""
    for _ in range(10):
        n, r = divmod(n, 26)
        s += LETTERS[r]
    return f"https://meet.google.com/{s[:3]}-{s[3:7]}-{s[7:]}"


def calendar_text(c: int, events: int, recurring: float) -> str:
    items = []
    series = int(events * recurring)
    for e in range(events):
        start = NOW + timedelta(days=1 + (e * 27) // events, hours=8 + e % 10, minutes=(c * 7) % 60)
        rrule = "FREQ=WEEKLY;COUNT=4" if e < series else None
        code = meet_code(c * 100_000 + e)
        items.append(
            vevent(f"c{c}-e{e}", start, start + timedelta(minutes=30), location=code, rrule=rrule)
        )
    return feed(*items)


class Counter:
    def __init__(self, store: Any) -> None:
        self.n = 0
        engines = {id(e): e for e in (store._engine, store._writer_engine)}.values()
        for engine in engines:
            sa.event.listen(engine.sync_engine, "before_cursor_execute", self._count)
            sa.event.listen(engine.sync_engine, "commit", self._count)

    def _count(self, *args: Any) -> None:
        self.n += 1


def summary(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"median {statistics.median(values):.1f}, p95 {p95:.1f}, max {values[-1]:.1f}"


async def sync_round(plane: Any, ids: list[str], counter: Counter, label: str) -> None:
    times, trips = [], []
    started = time.monotonic()
    for calendar_id in ids:
        before = counter.n
        t0 = time.perf_counter()
        result = await calendar_sync.sync(plane.services, calendar_id)
        times.append((time.perf_counter() - t0) * 1000)
        trips.append(counter.n - before)
        assert result.outcome is calendar_sync.Outcome.SYNCED, result
        if len(times) % 10 == 0:
            print(
                f"  ... {len(times)} calendars, {time.monotonic() - started:.0f} s,"
                f" last {times[-1]:.0f} ms, load {os.getloadavg()[0]:.1f}"
            )
    total = time.monotonic() - started
    print(f"{label}: {len(ids)} calendars in {total:.1f} s")
    print(f"  ms per calendar: {summary(times)}")
    print(f"  database round trips per calendar: {summary([float(t) for t in trips])}")


async def ics_part(args: argparse.Namespace, url: str) -> None:
    store = await open_store(url)
    counter = Counter(store)
    plane = await build_test_plane(
        store, clock=FixedClock(NOW), webhook_allow_private=True, max_concurrent_bots=10**6
    )
    sources = HttpCalendarSources(TargetPolicy.from_settings(plane.services.settings))
    plane.services.calendar_sources = sources
    texts: dict[str, tuple[bytes, str]] = {}

    async def serve(request: web.Request) -> web.Response:
        body, etag = texts[request.match_info["name"]]
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="text/calendar", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/{name}.ics", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ids = []
    for c in range(args.calendars):
        text = calendar_text(c, args.events, args.recurring).encode()
        texts[str(c)] = (text, f'"{c}-{len(text)}"')
        spec = CalendarSpec(
            kind=CalendarKind.ICS, config={"url": f"http://127.0.0.1:{port}/{c}.ics"}
        )
        ids.append((await calendars.connect(plane.services, plane.workspace_id, spec)).id)
    await sync_round(plane, ids, counter, "first sync")
    async with store.transaction(write=False) as tx:
        rows = await tx.calendars.events(ids[0])
        by_status = await tx.stats.active_bots_by_status()
    print(f"  occurrences per calendar: {len(rows)}; bots: {sum(by_status.values())}")
    await sync_round(plane, ids, counter, "no-change sync (304)")
    await sources.close()
    await runner.cleanup()
    await store.close()


async def push_part(args: argparse.Namespace, url: str) -> None:
    async with fake_google() as google:
        store = await open_store(url)
        plane = await build_test_plane(
            store,
            clock=FixedClock(NOW),
            webhook_allow_private=True,
            max_concurrent_bots=10**6,
            calendar_google_api_url=google.api_url,
            calendar_google_token_url=google.token_url,
        )
        settings = plane.services.settings
        sources = HttpCalendarSources(TargetPolicy.from_settings(settings), settings)
        plane.services.calendar_sources = sources
        google.page_size = 250
        for e in range(args.events):
            start = NOW + timedelta(days=1 + e % 27, hours=8 + e % 10)
            google.put(
                gevent(
                    f"ev{e}",
                    start.isoformat(),
                    (start + timedelta(minutes=30)).isoformat(),
                    meet=meet_code(e),
                )
            )
        spec = CalendarSpec(
            kind=CalendarKind.GOOGLE,
            config={"client_id": "app", "calendar_id": "primary"},
            secrets={"refresh_token": "good-refresh", "client_secret": "x"},
        )
        calendar = await calendars.connect(plane.services, plane.workspace_id, spec)
        await calendar_sync.sync(plane.services, calendar.id)
        (channel,) = google.channels
        worker = CalendarWorker(plane.services, interval=3600)
        plane.reactions.on_calendar_due.append(worker.wake)
        await worker.start()
        latencies = []
        transport = httpx.ASGITransport(app=plane.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
            for n in range(args.moves):
                start = NOW + timedelta(days=2, hours=1, minutes=n + 1)
                google.put(
                    gevent(
                        "ev0",
                        start.isoformat(),
                        (start + timedelta(minutes=30)).isoformat(),
                        meet=meet_code(0),
                    )
                )
                t0 = time.perf_counter()
                headers = {
                    "X-Goog-Channel-ID": channel["id"],
                    "X-Goog-Channel-Token": channel["token"],
                    "X-Goog-Resource-State": "exists",
                }
                await client.post("/api/v1/calendars/push/google/", headers=headers)
                while True:
                    async with store.transaction(write=False) as tx:
                        (row,) = [
                            r for r in await tx.calendars.events(calendar.id) if r.ical_uid == "ev0"
                        ]
                        bot = await tx.bots.get(row.bot_id) if row.bot_id else None
                    if bot is not None and bot.join_at == start:
                        break
                    await asyncio.sleep(0.002)
                latencies.append((time.perf_counter() - t0) * 1000)
        await worker.stop()
        await sources.close()
        await store.close()
    print(
        f"change -> bot join_at with push ({args.events}-event Google calendar,"
        f" {args.moves} moves):"
    )
    print(f"  ms: {summary(latencies)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calendars", type=int, default=100)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--recurring", type=float, default=0.1)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL, not SQLite")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, bench_database(args.postgres) as pg:
        url = pg or f"sqlite:///{tmp}/calendars.db"
        print(f"database: {'PostgreSQL' if pg else 'SQLite'}")
        await ics_part(args, url)
        print(f"load average after the syncs: {os.getloadavg()[0]:.2f}")
        await push_part(args, url)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())

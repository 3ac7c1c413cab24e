"""ICS calendars end to end: a feed served on loopback (conditional GET), the API, SQLite and
PostgreSQL, the worker, the egress rules, and one bot per meeting when syncs race."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from harness.ics import feed, vevent
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import TERMINAL, Status
from meetbot.contract.models import Bot
from meetbot.control.calendar_worker import CalendarWorker
from meetbot.control.calendars.ics import HttpCalendarSources
from meetbot.control.service import calendar_sync
from meetbot.control.store import open_store
from meetbot.control.webhooks import outbox
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.testing.fakes import FixedClock

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MEET = "https://meet.google.com/abc-defg-hij"


@dataclass
class Feeds:
    """ICS feeds on loopback: ``text[name]``, an ETag per text, 304 for a matching
    If-None-Match, or ``status[name]`` instead."""

    base: str = ""
    text: dict[str, str] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    hits: list[tuple[str, int]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.status:
            self.hits.append((name, self.status[name]))
            return web.Response(status=self.status[name])
        body = self.text.get(name)
        if body is None:
            self.hits.append((name, 404))
            return web.Response(status=404)
        etag = f'"{abs(hash(body))}"'
        if request.headers.get("If-None-Match") == etag:
            self.hits.append((name, 304))
            return web.Response(status=304, headers={"ETag": etag})
        self.hits.append((name, 200))
        return web.Response(
            body=body.encode(), content_type="text/calendar", headers={"ETag": etag}
        )

    def url(self, name: str) -> str:
        return f"{self.base}/{name}.ics"


@pytest.fixture
async def feeds() -> AsyncIterator[Feeds]:
    served = Feeds()
    app = web.Application()
    app.router.add_get("/{name}.ics", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    served.base = f"http://127.0.0.1:{port}"
    try:
        yield served
    finally:
        await runner.cleanup()


@pytest.fixture
async def plane(sql_url: str) -> AsyncIterator[TestPlane]:
    store = await open_store(sql_url)
    built = await build_test_plane(store, clock=FixedClock(NOW), webhook_allow_private=True)
    sources = HttpCalendarSources(TargetPolicy.from_settings(built.services.settings))
    built.services.calendar_sources = sources
    try:
        yield built
    finally:
        await sources.close()
        await store.close()


async def _live_bots(plane: TestPlane) -> list[Bot]:
    async with plane.services.store.transaction(write=False) as tx:
        bots = await tx.bots.in_statuses([s for s in Status if s not in TERMINAL])
    return sorted(bots, key=lambda b: b.join_at or NOW)


async def test_connect_sync_list_and_conditional_get(plane: TestPlane, feeds: Feeds) -> None:
    feeds.text["a"] = feed(
        vevent("m", T, T + HOUR, summary="Planning", location=MEET + "?authuser=2"),
        vevent("n", T + 2 * HOUR, T + 3 * HOUR, summary="No link", location="Room 4"),
    )
    async with plane.client() as client:
        created = await client.post(
            "/api/v1/calendars/",
            json={"kind": "ics", "url": feeds.url("a"), "join_offset_seconds": 120},
        )
        assert created.status_code == 201, created.text
        calendar = created.json()
        assert calendar["status"] == "connected"
        assert calendar["next_sync_at"] is not None
        result = await calendar_sync.sync(plane.services, calendar["id"])
        assert result.outcome is calendar_sync.Outcome.SYNCED
        (bot,) = await _live_bots(plane)
        assert bot.join_at == T - timedelta(seconds=120)
        assert bot.meeting.url == MEET

        page = (await client.get(f"/api/v1/calendars/{calendar['id']}/events/?limit=1")).json()
        assert len(page["results"]) == 1
        assert page["next"]
        rest = await client.get(
            f"/api/v1/calendars/{calendar['id']}/events/", params={"cursor": page["next"]}
        )
        events = page["results"] + rest.json()["results"]
        assert rest.json()["next"] is None
        by_uid = {e["ical_uid"]: e for e in events}
        assert by_uid["m"]["will_record"] is True
        assert by_uid["m"]["bot_id"] == bot.id
        assert by_uid["m"]["platform"] == "google_meet"
        assert by_uid["n"]["will_record"] is False
        assert by_uid["n"]["will_record_rule"] == "no_meeting_url"
        later = await client.get(
            f"/api/v1/calendars/{calendar['id']}/events/",
            params={"from": (T + HOUR).isoformat()},
        )
        assert [e["ical_uid"] for e in later.json()["results"]] == ["n"]

        # Unchanged feed: a conditional GET answered 304, nothing applied.
        await calendar_sync.sync(plane.services, calendar["id"])
        assert feeds.hits[-1] == ("a", 304)
        shown = (await client.get(f"/api/v1/calendars/{calendar['id']}/")).json()
        assert shown["status"] == "connected"
        assert shown["last_synced_at"] is not None

        # A 401: the calendar shows why; its bot stays.
        feeds.status["a"] = 401
        await calendar_sync.sync(plane.services, calendar["id"])
        shown = (await client.get(f"/api/v1/calendars/{calendar['id']}/")).json()
        assert shown["status"] == "disconnected"
        assert shown["status_reason"].startswith("unauthorized")
        assert len(await _live_bots(plane)) == 1

        # Not iCalendar: the calendar shows why (this failed as a 500-style crash before).
        del feeds.status["a"]
        feeds.text["a"] = "<html>Sign in</html>"
        result = await calendar_sync.sync(plane.services, calendar["id"])
        assert result.outcome is calendar_sync.Outcome.FAILED
        shown = (await client.get(f"/api/v1/calendars/{calendar['id']}/")).json()
        assert shown["status_reason"].startswith("malformed")
        assert len(await _live_bots(plane)) == 1

        deleted = await client.delete(f"/api/v1/calendars/{calendar['id']}/")
        assert deleted.status_code == 204
        assert await _live_bots(plane) == []
        missing = await client.get(f"/api/v1/calendars/{calendar['id']}/")
        assert missing.status_code == 404
        assert missing.json()["code"]

    async with plane.services.store.transaction(write=False) as tx:
        events = await tx.events.list_after(plane.workspace_id, 0, 1000)
    types = [e.type for e in events]
    assert outbox.CALENDAR_SYNC_EVENTS in types
    assert outbox.CALENDAR_UPDATE in types


async def test_three_calendars_racing_make_one_bot(plane: TestPlane, feeds: Feeds) -> None:
    ids = []
    async with plane.client() as client:
        for n, suffix in enumerate(["", "?authuser=1", "?hs=1"]):
            feeds.text[f"c{n}"] = feed(vevent(f"u{n}", T, T + HOUR, location=MEET + suffix))
            made = await client.post(
                "/api/v1/calendars/", json={"kind": "ics", "url": feeds.url(f"c{n}")}
            )
            ids.append(made.json()["id"])
    runs = [calendar_sync.sync(plane.services, i) for i in ids for _ in range(7)]
    await asyncio.gather(*runs)
    (bot,) = await _live_bots(plane)
    async with plane.client() as client:
        shown = (await client.get(f"/api/v1/bot/{bot.id}/")).json()
    assert sorted(e["calendar_id"] for e in shown["calendar_events"]) == sorted(ids)


async def test_twenty_syncs_racing_on_one_calendar(plane: TestPlane, feeds: Feeds) -> None:
    feeds.text["a"] = feed(vevent("m", T, T + HOUR, location=MEET))
    async with plane.client() as client:
        made = await client.post("/api/v1/calendars/", json={"kind": "ics", "url": feeds.url("a")})
    calendar_id = made.json()["id"]
    results = await asyncio.gather(
        *(calendar_sync.sync(plane.services, calendar_id) for _ in range(20))
    )
    outcomes = [r.outcome for r in results]
    assert calendar_sync.Outcome.SYNCED in outcomes
    assert set(outcomes) <= {calendar_sync.Outcome.SYNCED, calendar_sync.Outcome.BUSY}
    assert len(await _live_bots(plane)) == 1


async def test_the_worker_syncs_a_calendar_when_connected(plane: TestPlane, feeds: Feeds) -> None:
    feeds.text["a"] = feed(vevent("m", T, T + HOUR, location=MEET))
    worker = CalendarWorker(plane.services, interval=0.05)
    plane.reactions.on_calendar_due.append(worker.wake)
    await worker.start()
    try:
        async with plane.client() as client:
            made = await client.post(
                "/api/v1/calendars/", json={"kind": "ics", "url": feeds.url("a")}
            )
            assert made.status_code == 201
        found: list[Bot] = []

        async def poll() -> None:
            found[:] = await _live_bots(plane)

        for _ in range(2000):
            await poll()
            if found:
                break
            await asyncio.sleep(0.01)
        assert len(found) == 1
    finally:
        await worker.stop()


async def test_egress_rules_refuse_a_private_feed(sql_url: str) -> None:
    store = await open_store(sql_url)
    plane = await build_test_plane(store, clock=FixedClock(NOW))
    sources = HttpCalendarSources(TargetPolicy.from_settings(plane.services.settings))
    plane.services.calendar_sources = sources
    try:
        async with plane.client() as client:
            refused = await client.post(
                "/api/v1/calendars/", json={"kind": "ics", "url": "http://127.0.0.1:9/x.ics"}
            )
            assert refused.status_code == 400
            assert refused.json()["code"]
            bad_rule = await client.post(
                "/api/v1/calendars/",
                json={"kind": "ics", "url": "https://example.com/x.ics", "record": ["sometimes"]},
            )
            assert bad_rule.status_code == 400
    finally:
        await sources.close()
        await store.close()


async def test_patch_rules_and_event_overrides_through_the_api(
    plane: TestPlane, feeds: Feeds
) -> None:
    feeds.text["a"] = feed(
        vevent("m", T, T + HOUR, location=MEET),
        vevent("s", T + 2 * HOUR, T + 3 * HOUR, location=MEET, rrule="FREQ=DAILY;COUNT=2"),
    )
    async with plane.client() as client:
        made = await client.post(
            "/api/v1/calendars/", json={"kind": "ics", "url": feeds.url("a"), "bot_name": "Notes"}
        )
        calendar_id = made.json()["id"]
        await calendar_sync.sync(plane.services, calendar_id)
        assert len(await _live_bots(plane)) == 3
        assert {b.bot_name for b in await _live_bots(plane)} == {"Notes"}

        patched = await client.patch(f"/api/v1/calendars/{calendar_id}/", json={"record": "none"})
        assert patched.status_code == 200
        assert patched.json()["record"] == "none"
        assert patched.json()["bot_name"] == "Notes"
        await calendar_sync.sync(plane.services, calendar_id)
        assert await _live_bots(plane) == []

        events = (await client.get(f"/api/v1/calendars/{calendar_id}/events/")).json()["results"]
        single = next(e for e in events if e["ical_uid"] == "m")
        one = await client.patch(
            f"/api/v1/calendars/{calendar_id}/events/{single['id']}/", json={"record": True}
        )
        assert one.status_code == 200
        assert one.json()["will_record"] is True
        assert one.json()["bot_id"]
        series = next(e for e in events if e["ical_uid"] == "s")
        both = await client.patch(
            f"/api/v1/calendars/{calendar_id}/events/{series['id']}/",
            json={"record_series": True},
        )
        assert both.status_code == 200
        assert len(await _live_bots(plane)) == 3
        bad = await client.patch(
            f"/api/v1/calendars/{calendar_id}/events/nope/", json={"record": True}
        )
        assert bad.status_code == 404
        invalid = await client.patch(
            f"/api/v1/calendars/{calendar_id}/", json={"record": ["host", "whenever"]}
        )
        assert invalid.status_code == 400

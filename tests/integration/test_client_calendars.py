"""``client.calendars`` (both clients) against a real ``meetbot serve``: an iCalendar feed on
loopback is connected, synced, its occurrences listed, overridden, and disconnected."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from client_server import MEET, api_key, served

from harness.ics import feed, vevent
from meetbot.client import AsyncMeetbot, Calendar, CalendarEvent, InvalidRequest, Meetbot, NotFound
from meetbot.lab.serve import Server

__all__ = ["api_key", "served"]  # fixtures

START = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
HOUR = timedelta(hours=1)
FEED = feed(
    vevent("m", START, START + HOUR, summary="Planning", location=MEET),
    vevent("n", START + 2 * HOUR, START + 3 * HOUR, summary="No link", location="Room 4"),
).encode()


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def feed_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/team.ics"
    server.shutdown()
    server.server_close()


def sync_fields(made: Calendar) -> dict[str, object]:
    """``made``'s values of the fields a sync changes, to compare the rest of ``got``."""
    names = ("status", "status_reason", "last_synced_at", "next_sync_at")
    return {name: getattr(made, name) for name in names}


def synced(client: Meetbot, calendar_id: str, timeout: float = 30.0) -> list[CalendarEvent]:
    """The occurrences once the background sync has listed them."""
    deadline = time.monotonic() + timeout
    while True:
        found = list(client.calendars.events(calendar_id, page_size=1))
        if len(found) == 2 or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_connect_sync_list_override_and_disconnect(
    served: Server, api_key: str, feed_url: str
) -> None:
    with Meetbot(served.url, api_key) as client:
        calendar = client.calendars.create(
            "ics", url=feed_url, bot_name="Notes", join_offset_seconds=60, metadata={"t": "1"}
        )
        assert isinstance(calendar, Calendar)
        assert (calendar.kind, calendar.url, calendar.bot_name) == ("ics", feed_url, "Notes")
        got = client.calendars.get(calendar.id)  # the first sync may have run since: its
        # status and sync times may differ, what the user gave may not
        assert got.model_copy(update=sync_fields(calendar)) == calendar
        assert calendar.id in [c.id for c in client.calendars.list(page_size=1)]
        assert client.calendars.sync(calendar.id).id == calendar.id
        events = {e.ical_uid: e for e in synced(client, calendar.id)}
        assert set(events) == {"m", "n"}
        assert events["m"].will_record
        assert events["m"].meeting_url == MEET
        assert not events["n"].will_record
        assert events["n"].will_record_rule == "no_meeting_url"
        later = client.calendars.events(calendar.id, start=START + HOUR)
        assert [e.ical_uid for e in later] == ["n"]

        skipped = client.calendars.update_event(calendar.id, events["m"].id, record=False)
        assert skipped.record_override is False
        assert not skipped.will_record
        cleared = client.calendars.update_event(calendar.id, events["m"].id, record=None)
        assert cleared.record_override is None

        changed = client.calendars.update(calendar.id, bot_name="Scribe", record="none")
        assert (changed.bot_name, changed.record) == ("Scribe", "none")
        assert changed.join_offset_seconds == 60  # not named: kept
        with pytest.raises(InvalidRequest):
            client.calendars.create("ics")  # no url
        client.calendars.delete(calendar.id)
        with pytest.raises(NotFound):
            client.calendars.get(calendar.id)


def test_the_async_calendars_client(served: Server, api_key: str, feed_url: str) -> None:
    async def go() -> None:
        async with AsyncMeetbot(served.url, api_key) as client:
            calendar = await client.calendars.create("ics", url=feed_url, record="none")
            assert calendar.record == "none"
            assert (await client.calendars.get(calendar.id)).id == calendar.id
            assert calendar.id in [c.id async for c in client.calendars.list()]
            await client.calendars.sync(calendar.id)
            updated = await client.calendars.update(calendar.id, webhook_url=None)
            assert updated.webhook_url is None
            found = [e async for e in client.calendars.events(calendar.id, page_size=1)]
            assert all(isinstance(e, CalendarEvent) for e in found)
            await client.calendars.delete(calendar.id)

    asyncio.run(go())

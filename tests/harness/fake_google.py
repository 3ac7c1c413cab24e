"""A local server that follows Google Calendar's documented formats, for calendar tests:
the OAuth token endpoint (refresh tokens), ``events.list`` with ``singleEvents`` items,
``pageToken`` pages (``page_size`` items, sometimes none), ``nextSyncToken`` only on the last
page, ``syncToken`` deltas with cancelled items, **410** for an expired token, ``events/watch``
channels (expiring ``channel_days`` after 2026-01-02) and ``channels/stop`` (204; 404 for a
channel it does not know)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeGoogle:
    base: str = ""
    page_size: int = 2
    refresh_tokens: set[str] = field(default_factory=lambda: {"good-refresh"})
    version: int = 0
    items: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    """Event id → (version it changed at, item)."""
    expired_before: int = 0
    """Sync tokens of versions below this answer 410."""
    requests: list[dict[str, str]] = field(default_factory=list)
    issued: int = 0

    def put(self, item: dict[str, Any]) -> None:
        self.version += 1
        self.items[item["id"]] = (self.version, item)

    def cancel(self, event_id: str) -> None:
        self.version += 1
        self.items[event_id] = (self.version, {"id": event_id, "status": "cancelled"})

    channels: list[dict[str, Any]] = field(default_factory=list)
    channel_days: int = 7
    stopped: list[dict[str, Any]] = field(default_factory=list)
    """The bodies of ``channels/stop`` requests for channels it knew."""

    @property
    def open_channels(self) -> list[str]:
        """The ids of the channels opened and not stopped."""
        gone = {s["id"] for s in self.stopped}
        return [c["id"] for c in self.channels if c["id"] not in gone]

    async def watch(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer at-"):
            return web.json_response({"error": {"code": 401}}, status=401)
        body = await request.json()
        self.channels.append(body)  # with its ``token``, as Google keeps it
        # 2026-01-02 + channel_days, in ms
        expiration = 1767312000000 + self.channel_days * 24 * 3600 * 1000
        answer = {"kind": "api#channel", "id": body["id"], "resourceId": f"res-{body['id']}"}
        return web.json_response({**answer, "expiration": str(expiration)})

    async def stop(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer at-"):
            return web.json_response({"error": {"code": 401}}, status=401)
        body = await request.json()
        if (
            body.get("id") not in self.open_channels
            or body.get("resourceId") != f"res-{body['id']}"
        ):
            return web.json_response({"error": {"code": 404}}, status=404)
        self.stopped.append(body)
        return web.Response(status=204)

    @property
    def api_url(self) -> str:
        return self.base

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") not in self.refresh_tokens
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        self.issued += 1
        return web.json_response({"access_token": f"at-{self.issued}", "expires_in": 3600})

    async def events(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer at-"):
            return web.json_response({"error": {"code": 401}}, status=401)
        query = dict(request.query)
        self.requests.append(query)
        since = 0
        if "syncToken" in query:
            since = int(query["syncToken"].removeprefix("sync-"))
            if since < self.expired_before:
                return web.json_response({"error": {"code": 410, "message": "Gone"}}, status=410)
        listed = sorted(
            (v, i)
            for v, i in self.items.values()
            if v > since and (since or i.get("status") != "cancelled")
        )
        offset = int(query.get("pageToken", "0"))
        page = [i for _, i in listed[offset : offset + self.page_size]]
        body: dict[str, Any] = {"kind": "calendar#events", "items": page}
        if offset + self.page_size < len(listed):
            body["nextPageToken"] = str(offset + self.page_size)
        else:
            body["nextSyncToken"] = f"sync-{self.version}"
        return web.json_response(body)


@asynccontextmanager
async def fake_google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle()
    app = web.Application()
    app.router.add_post("/token", fake.token)
    app.router.add_get("/calendars/{calendar}/events", fake.events)
    app.router.add_post("/calendars/{calendar}/events/watch", fake.watch)
    app.router.add_post("/channels/stop", fake.stop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def gevent(
    event_id: str,
    start: str,
    end: str,
    *,
    meet: str | None = None,
    series: str | None = None,
    original: str | None = None,
    status: str = "confirmed",
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": event_id,
        "iCalUID": f"{series or event_id}@google.com",
        "status": status,
        "summary": "Meeting",
        "start": {"dateTime": start},
        "end": {"dateTime": end},
    }
    if meet:
        item["hangoutLink"] = meet
        item["conferenceData"] = {"entryPoints": [{"entryPointType": "video", "uri": meet}]}
    if series:
        item["recurringEventId"] = series
        item["originalStartTime"] = {"dateTime": original or start}
    return item

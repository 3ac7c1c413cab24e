"""A local server that follows Microsoft Graph's documented formats, for calendar tests: the
OAuth token endpoint, ``/me/calendarView/delta`` (``@odata.nextLink`` pages of
``odata.maxpagesize``, then an ``@odata.deltaLink``; later deltas with ``@removed`` items;
**410** for an expired sync state), ``POST /subscriptions`` and ``DELETE /subscriptions/{id}``
(204; 404 for one it does not know)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeMicrosoft:
    base: str = ""
    version: int = 0
    items: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    expired_before: int = 0
    requests: list[str] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)

    def put(self, item: dict[str, Any]) -> None:
        self.version += 1
        self.items[item["id"]] = (self.version, item)

    def remove(self, event_id: str) -> None:
        self.version += 1
        self.items[event_id] = (
            self.version,
            {"id": event_id, "@removed": {"reason": "deleted"}},
        )

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("refresh_token") != "good-refresh":
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response({"access_token": "ms-at", "expires_in": 3600})

    async def delta(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer ms-at":
            return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
        self.requests.append(str(request.rel_url))
        size = int(request.headers.get("Prefer", "odata.maxpagesize=100").split("=")[1])
        since = int(request.query.get("$deltatoken", "0"))
        if "$deltatoken" in request.query and since < self.expired_before:
            return web.json_response({"error": {"code": "SyncStateNotFound"}}, status=410)
        since = int(request.query.get("since", since))
        listed = sorted(
            (v, i) for v, i in self.items.values() if v > since and (since or "@removed" not in i)
        )
        skip = int(request.query.get("$skiptoken", "0"))
        page = [i for _, i in listed[skip : skip + size]]
        path = f"{self.base}/me/calendarView/delta"
        body: dict[str, Any] = {"value": page}
        if skip + size < len(listed):
            body["@odata.nextLink"] = f"{path}?since={since}&$skiptoken={skip + size}"
        else:
            body["@odata.deltaLink"] = f"{path}?$deltatoken={self.version}"
        return web.json_response(body)

    deleted: list[str] = field(default_factory=list)
    expiry: str | None = None
    """An ``expirationDateTime`` to answer instead of the one asked for (a shorter one)."""

    async def subscribe(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.subscriptions.append(body)
        answer = {**body, "id": f"sub-{len(self.subscriptions)}"}
        if self.expiry:
            answer["expirationDateTime"] = self.expiry
        return web.json_response(answer, status=201)

    @property
    def open_subscriptions(self) -> list[str]:
        made = [f"sub-{n + 1}" for n in range(len(self.subscriptions))]
        return [s for s in made if s not in self.deleted]

    async def unsubscribe(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer ms-at":
            return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
        sub = request.match_info["id"]
        if sub not in self.open_subscriptions:
            return web.json_response({"error": {"code": "ResourceNotFound"}}, status=404)
        self.deleted.append(sub)
        return web.Response(status=204)


@asynccontextmanager
async def fake_microsoft() -> AsyncIterator[FakeMicrosoft]:
    fake = FakeMicrosoft()
    app = web.Application()
    app.router.add_post("/token", fake.token)
    app.router.add_get("/me/calendarView/delta", fake.delta)
    app.router.add_post("/subscriptions", fake.subscribe)
    app.router.add_delete("/subscriptions/{id}", fake.unsubscribe)
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


def mevent(event_id: str, start: str, end: str, *, join_url: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": event_id,
        "iCalUId": f"ical-{event_id}",
        "subject": "Meeting",
        "type": "singleInstance",
        "isCancelled": False,
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
    }
    if join_url:
        item["onlineMeeting"] = {"joinUrl": join_url}
    return item

"""Google Calendar: ``events.list`` with ``singleEvents=true``, pages followed to the last one
(which alone carries ``nextSyncToken``), then ``syncToken`` deltas; **410 Gone** → the token
expired: a full listing from scratch. OAuth: the user's app gives a refresh token; an access
token is fetched from the token endpoint (``invalid_grant`` → ``unauthorized: revoked token``).

Identity: Google's event id; the API shows the event's ``iCalUID`` (the same in every
attendee's copy) as ``ical_uid``. An occurrence of a series has ``recurringEventId`` and
``originalStartTime`` (its id is ``<series id>_<original start>``): it is stored under the series
id and its original start, so a deleted occurrence that arrives with its id only is found
again. A ``cancelled`` series id deletes every occurrence of the series not listed again.
The meeting link: ``conferenceData.entryPoints[]`` of type ``video``, else ``hangoutLink``,
else location and description.

Tested only against a local fake server that follows Google's documented formats
(``tests/harness/fake_google.py``), not against Google.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from meetbot.control.calendars.models import Attendee, Occurrence
from meetbot.control.calendars.source import (
    Channel,
    Listing,
    SourceMalformed,
    SourceRefused,
    SourceUnauthorized,
    SourceUnreachable,
    Window,
)
from meetbot.control.webhooks.targets import InvalidWebhookUrl, TargetPolicy, validate_webhook_url

API_URL = "https://www.googleapis.com/calendar/v3"
TOKEN_URL = "https://oauth2.googleapis.com/token"
MAX_PAGES = 1000
TIMEOUT = 30.0
_INSTANCE = re.compile(r"^(?P<series>.+)_(?P<start>\d{8}(T\d{6}Z?)?)$")


def _time(value: Mapping[str, Any] | None) -> datetime | None:
    if not value or "dateTime" not in value:
        return None  # an all-day event (``date``): no meeting time
    return datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00")).astimezone(UTC)


def _instance_start(text: str) -> str:
    if "T" not in text:
        return text
    return datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC).isoformat()


def occurrence(item: Mapping[str, Any]) -> Occurrence:
    """One ``events.list`` item (``singleEvents=true``) as an occurrence."""
    series = item.get("recurringEventId")
    original = _time(item.get("originalStartTime"))
    uid, rid = str(item["id"]), ""
    if series and original is not None:
        uid, rid = str(series), original.isoformat()
    elif (match := _INSTANCE.match(uid)) and item.get("status") == "cancelled":
        uid, rid = match["series"], _instance_start(match["start"])
    entry = [
        str(e.get("uri"))
        for e in (item.get("conferenceData") or {}).get("entryPoints", [])
        if e.get("entryPointType") == "video"
    ]
    links = (*entry, item.get("hangoutLink"), item.get("location"), item.get("description"))
    organizer = (item.get("organizer") or {}).get("email")
    return Occurrence(
        ical_uid=uid,
        recurrence_id=rid,
        start=_time(item.get("start")),
        end=_time(item.get("end")),
        title=str(item.get("summary") or ""),
        cancelled=item.get("status") == "cancelled",
        recurring=bool(series),
        organizer=str(organizer).lower() if organizer else None,
        attendees=tuple(
            Attendee(str(a.get("email", "")).lower(), str(a.get("responseStatus", "")).upper())
            for a in item.get("attendees", [])
        ),
        confirmed=item.get("status") != "tentative",
        links=tuple(str(x) if x else None for x in links),
        icalendar_uid=str(item["iCalUID"]) if item.get("iCalUID") else None,
    )


class GoogleSource:
    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: TargetPolicy,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        *,
        api_url: str = API_URL,
        token_url: str = TOKEN_URL,
    ) -> None:
        self._client = client
        self._policy = policy
        self._calendar = str(config.get("calendar_id") or "primary")
        self._client_id = str(config.get("client_id") or "")
        self._secrets = secrets
        self._api = api_url.rstrip("/")
        self._token_url = token_url
        self._access: str | None = None

    async def list(self, cursor: str | None, window: Window) -> Listing:
        token = json.loads(cursor).get("sync_token") if cursor else None
        if token:
            try:
                items, next_token = await self._pages({"syncToken": token})
            except _Gone:
                token = None
        if not token:
            items, next_token = await self._pages({})
        found = tuple(
            o
            for o in (occurrence(i) for i in items)
            if o.cancelled or o.start is None or window.start <= o.start < window.end
        )
        removed = tuple(
            str(i["id"]) for i in items if i.get("status") == "cancelled" and "_" not in i["id"]
        )
        return Listing(
            occurrences=tuple(o for o in found if o.start is not None or o.cancelled),
            removed_uids=removed,
            complete=not token,
            cursor=json.dumps({"sync_token": next_token}),
        )

    async def watch(self, address: str, channel_id: str, token: str) -> Channel:
        """``events/watch``: Google posts to ``address`` (HTTPS) when the calendar changes,
        with ``X-Goog-Channel-ID`` and ``X-Goog-Channel-Token``; the channel expires (7 days by
        default) and is not renewed by Google."""
        url = f"{self._api}/calendars/{self._calendar}/events/watch"
        body = {"id": channel_id, "type": "web_hook", "address": address, "token": token}
        answer = await self._send("POST", url, body)
        expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        return Channel(str(answer["id"]), str(answer.get("resourceId", "")), expires)

    async def unwatch(self, channel_id: str, resource_id: str) -> None:
        """``channels/stop`` (``{id, resourceId}``; Google answers 204); 404: gone already."""
        body = {"id": channel_id, "resourceId": resource_id}
        await self._send("POST", f"{self._api}/channels/stop", body, missing_ok=True)

    async def _pages(self, params: dict[str, str]) -> tuple[builtins.list[dict[str, Any]], str]:
        items: builtins.list[dict[str, Any]] = []
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            query = {"singleEvents": "true", "maxResults": "250", **params}
            if page_token:
                query["pageToken"] = page_token
            body = await self._get(f"{self._api}/calendars/{self._calendar}/events", query)
            items += body.get("items", [])
            page_token = body.get("nextPageToken")
            if not page_token:
                sync_token = body.get("nextSyncToken")
                if not sync_token:
                    raise SourceMalformed("the last page has no nextSyncToken")
                return items, str(sync_token)
        raise SourceMalformed(f"more than {MAX_PAGES} pages")

    async def _check(self, url: str) -> None:
        try:
            await validate_webhook_url(url, self._policy)
        except InvalidWebhookUrl as exc:
            raise SourceRefused(exc.detail) from None

    async def _get(self, url: str, query: Mapping[str, str]) -> dict[str, Any]:
        return await self._send("GET", url, None, query)

    async def _send(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        query: Mapping[str, str] | None = None,
        *,
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        await self._check(url)
        for attempt in range(2):
            if self._access is None:
                self._access = await self._refresh()
            try:
                response = await self._client.request(
                    method,
                    url,
                    params=query,
                    json=body,
                    headers={"Authorization": f"Bearer {self._access}"},
                    timeout=TIMEOUT,
                )
            except httpx.HTTPError as exc:
                raise SourceUnreachable(f"{type(exc).__name__}: {exc}") from None
            if response.status_code == 401 and attempt == 0:
                self._access = None  # expired: refresh once
                continue
            if response.status_code == 410:
                raise _Gone()
            if response.status_code in (401, 403):
                raise SourceUnauthorized(f"HTTP {response.status_code}")
            if response.status_code == 204 or (missing_ok and response.status_code == 404):
                return {}
            if response.status_code != 200:
                raise SourceUnreachable(f"HTTP {response.status_code}")
            try:
                return dict(response.json())
            except ValueError:
                raise SourceMalformed("not JSON") from None
        raise SourceUnauthorized("HTTP 401")

    async def _refresh(self) -> str:
        await self._check(self._token_url)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": str(self._secrets.get("refresh_token") or ""),
            "client_id": self._client_id,
            "client_secret": str(self._secrets.get("client_secret") or ""),
        }
        try:
            response = await self._client.post(self._token_url, data=form, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise SourceUnreachable(f"token endpoint: {type(exc).__name__}: {exc}") from None
        if response.status_code in (400, 401):
            raise SourceUnauthorized("revoked token")
        if response.status_code != 200:
            raise SourceUnreachable(f"token endpoint: HTTP {response.status_code}")
        return str(response.json()["access_token"])


class _Gone(Exception):
    """410: the sync token expired."""

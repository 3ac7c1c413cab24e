"""Microsoft 365 / Outlook calendars (Microsoft Graph): ``calendarView/delta`` over the window
(occurrences expanded by Graph), ``@odata.nextLink`` pages followed to the
``@odata.deltaLink``, which is the cursor; deleted items come as ``@removed``; 410 (the sync
state expired) → a full listing. The delta link is bound to its window: once the horizon moved
a day, a full listing starts a new one. Subscriptions (``POST /subscriptions`` on
``me/events``) push changes; they expire (under 7 days for events) and are renewed at half
their life; Graph first validates the notification URL (``validationToken`` echoed as text).

Identity: Graph's occurrence id (each occurrence of a series has its own); the API shows the
event's ``iCalUId`` as ``ical_uid``.

Tested only against a local fake server that follows Graph's documented formats
(``tests/harness/fake_microsoft.py``), not against Microsoft.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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

API_URL = "https://graph.microsoft.com/v1.0"
TOKEN_URL = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
SCOPE = "offline_access Calendars.Read"
PAGE_SIZE = 100
MAX_PAGES = 1000
TIMEOUT = 30.0
SUBSCRIPTION_LIFETIME = timedelta(days=2)
REWINDOW_AFTER = timedelta(days=1)


def _time(value: Mapping[str, Any] | None) -> datetime | None:
    if not value or not value.get("dateTime"):
        return None
    text = str(value["dateTime"]).replace("Z", "")
    parsed = datetime.fromisoformat(text[:26])
    # calendarView answers in UTC unless a Prefer: outlook.timezone header asks otherwise.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def occurrence(item: Mapping[str, Any]) -> Occurrence:
    meeting = item.get("onlineMeeting") or {}
    links = (
        meeting.get("joinUrl"),
        item.get("onlineMeetingUrl"),
        (item.get("location") or {}).get("displayName"),
        (item.get("body") or {}).get("content"),
    )
    organizer = ((item.get("organizer") or {}).get("emailAddress") or {}).get("address")
    attendees = tuple(
        Attendee(
            str((a.get("emailAddress") or {}).get("address", "")).lower(),
            str((a.get("status") or {}).get("response", "")).upper(),
        )
        for a in item.get("attendees", [])
    )
    return Occurrence(
        ical_uid=str(item["id"]),
        recurrence_id="",
        start=None if item.get("isAllDay") else _time(item.get("start")),
        end=_time(item.get("end")),
        title=str(item.get("subject") or ""),
        cancelled=bool(item.get("isCancelled")),
        recurring=item.get("type") in ("occurrence", "exception"),
        organizer=str(organizer).lower() if organizer else None,
        attendees=attendees,
        confirmed=item.get("showAs") != "tentative",
        links=tuple(str(x) if x else None for x in links),
        icalendar_uid=str(item["iCalUId"]) if item.get("iCalUId") else None,
    )


class MicrosoftSource:
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
        self._config = config
        self._secrets = secrets
        self._api = api_url.rstrip("/")
        self._token_url = token_url
        self._access: str | None = None

    def _view(self) -> str:
        calendar = self._config.get("calendar_id")
        base = f"{self._api}/me/calendars/{calendar}" if calendar else f"{self._api}/me"
        return f"{base}/calendarView/delta"

    async def list(self, cursor: str | None, window: Window) -> Listing:
        saved = json.loads(cursor) if cursor else {}
        link = saved.get("delta_link")
        end = saved.get("window_end")
        if link and end and datetime.fromisoformat(end) + REWINDOW_AFTER < window.end:
            link = None  # the delta link's window is stale: start a new one
        items: builtins.list[dict[str, Any]] = []
        complete = False
        if link:
            try:
                items, link = await self._pages(str(link))
            except _Gone:
                link = None
        if not link:
            start = window.start.strftime("%Y-%m-%dT%H:%M:%SZ")
            stop = window.end.strftime("%Y-%m-%dT%H:%M:%SZ")
            first = f"{self._view()}?startDateTime={start}&endDateTime={stop}"
            items, link = await self._pages(first)
            complete = True
            end = window.end.isoformat()
        removed = tuple(str(i["id"]) for i in items if "@removed" in i)
        found = tuple(occurrence(i) for i in items if "@removed" not in i and i.get("id"))
        return Listing(
            occurrences=found,
            removed_uids=removed,
            complete=complete,
            cursor=json.dumps({"delta_link": link, "window_end": end}),
        )

    async def watch(self, address: str, channel_id: str, token: str) -> Channel:
        expires = datetime.now(UTC) + SUBSCRIPTION_LIFETIME
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "lifecycleNotificationUrl": address,
            "resource": "me/events",
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "clientState": f"{channel_id} {token}",
        }
        answer = await self._send("POST", f"{self._api}/subscriptions", body)
        when = _time({"dateTime": answer.get("expirationDateTime")}) or expires
        # With a 2-day lifetime, the sync's "renew a day before expiry" is "at half its life".
        return Channel(channel_id, str(answer.get("id", "")), when)

    async def unwatch(self, channel_id: str, resource_id: str) -> None:
        """``DELETE /subscriptions/{id}`` (204); 404: it expired already."""
        await self._send(
            "DELETE", f"{self._api}/subscriptions/{resource_id}", None, missing_ok=True
        )

    async def _pages(self, url: str) -> tuple[builtins.list[dict[str, Any]], str]:
        items: builtins.list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            body = await self._send("GET", url, None)
            items += body.get("value", [])
            if "@odata.nextLink" in body:
                url = str(body["@odata.nextLink"])
                continue
            if "@odata.deltaLink" in body:
                return items, str(body["@odata.deltaLink"])
            raise SourceMalformed("a page with neither @odata.nextLink nor @odata.deltaLink")
        raise SourceMalformed(f"more than {MAX_PAGES} pages")

    async def _check(self, url: str) -> None:
        try:
            await validate_webhook_url(url, self._policy)
        except InvalidWebhookUrl as exc:
            raise SourceRefused(exc.detail) from None

    async def _send(
        self, method: str, url: str, body: Mapping[str, Any] | None, *, missing_ok: bool = False
    ) -> dict[str, Any]:
        await self._check(url)
        for attempt in range(2):
            if self._access is None:
                self._access = await self._refresh()
            headers = {
                "Authorization": f"Bearer {self._access}",
                "Prefer": f"odata.maxpagesize={PAGE_SIZE}",
            }
            try:
                response = await self._client.request(
                    method, url, json=body, headers=headers, timeout=TIMEOUT
                )
            except httpx.HTTPError as exc:
                raise SourceUnreachable(f"{type(exc).__name__}: {exc}") from None
            if response.status_code == 401 and attempt == 0:
                self._access = None
                continue
            if response.status_code == 410:
                raise _Gone()
            if response.status_code in (401, 403):
                raise SourceUnauthorized(f"HTTP {response.status_code}")
            if response.status_code == 204 or (missing_ok and response.status_code == 404):
                return {}
            if response.status_code not in (200, 201):
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
            "client_id": str(self._config.get("client_id") or ""),
            "client_secret": str(self._secrets.get("client_secret") or ""),
            "scope": SCOPE,
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
    """410: the delta's sync state expired."""

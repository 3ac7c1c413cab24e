"""ICS subscription feeds (Google's or Outlook's secret address), read with a conditional GET.

The cursor keeps the feed's validators (``ETag``, ``Last-Modified``) and the end of the window
last expanded: a 304 means nothing changed, unless the horizon moved more than
:data:`REEXPAND_AFTER` since (then the feed is read again in full, so that occurrences that
entered the window get their bots). A feed is always a complete listing. Every request, each
redirect's too, follows the webhooks' egress rules (``MEETBOT_WEBHOOK_ALLOW_PRIVATE``,
``MEETBOT_WEBHOOK_ALLOWED_HOSTS``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx

from meetbot.config import Settings
from meetbot.control.calendars import occurrences
from meetbot.control.calendars.models import Calendar, CalendarKind
from meetbot.control.calendars.source import (
    CalendarSource,
    Listing,
    SourceError,
    SourceMalformed,
    SourceRefused,
    SourceUnauthorized,
    SourceUnreachable,
    Window,
)
from meetbot.control.webhooks.targets import InvalidWebhookUrl, TargetPolicy, validate_webhook_url

REEXPAND_AFTER = timedelta(days=1)
MAX_REDIRECTS = 3
MAX_BYTES = 20 * 1024 * 1024
TIMEOUT = 20.0


def _cursor(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class IcsSource:
    def __init__(self, client: httpx.AsyncClient, policy: TargetPolicy, url: str) -> None:
        self._client = client
        self._policy = policy
        self._url = url

    async def list(self, cursor: str | None, window: Window) -> Listing:
        saved = _cursor(cursor)
        headers = {"Accept": "text/calendar"}
        end = saved.get("window_end")
        if end and datetime.fromisoformat(end) + REEXPAND_AFTER >= window.end:
            if saved.get("etag"):
                headers["If-None-Match"] = saved["etag"]
            if saved.get("last_modified"):
                headers["If-Modified-Since"] = saved["last_modified"]
        response = await self._get(headers)
        if response.status_code == 304:
            return Listing(unchanged=True, cursor=cursor)
        try:
            calendar = occurrences.parse(response.content)
            found, skipped = occurrences.expand_all(calendar, window.start, window.end)
        except occurrences.MalformedCalendar as exc:
            raise SourceMalformed(str(exc)) from None
        state = {
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            "window_end": window.end.isoformat(),
        }
        return Listing(
            occurrences=tuple(found),
            complete=True,
            cursor=json.dumps(state),
            skipped=tuple(skipped),
        )

    async def _get(self, headers: Mapping[str, str]) -> httpx.Response:
        url = self._url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                await validate_webhook_url(url, self._policy)
            except InvalidWebhookUrl as exc:
                raise SourceRefused(exc.detail) from None
            try:
                response = await self._client.get(url, headers=headers, timeout=TIMEOUT)
            except httpx.HTTPError as exc:
                raise SourceUnreachable(f"{type(exc).__name__}: {exc}") from None
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            break
        else:
            raise SourceUnreachable("too many redirects")
        if response.status_code in (401, 403):
            raise SourceUnauthorized(f"HTTP {response.status_code}")
        if response.status_code == 304:
            return response
        if response.status_code != 200:
            raise SourceUnreachable(f"HTTP {response.status_code}")
        if len(response.content) > MAX_BYTES:
            raise SourceMalformed("the feed is larger than 20 MB")
        return response


class HttpCalendarSources:
    """The production drivers: one HTTP client for every calendar."""

    def __init__(self, policy: TargetPolicy, settings: Settings | None = None) -> None:
        self._policy = policy
        self._settings = settings or Settings()
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)

    def open(self, calendar: Calendar, secrets: Mapping[str, Any]) -> CalendarSource:
        if calendar.kind is CalendarKind.ICS:
            return IcsSource(self._client, self._policy, str(calendar.config["url"]))
        if calendar.kind is CalendarKind.CALDAV:
            from meetbot.control.calendars.caldav import CalDavSource

            auth = (str(calendar.config.get("username") or ""), str(secrets.get("password") or ""))
            return CalDavSource(self._client, self._policy, str(calendar.config["url"]), auth)
        if calendar.kind is CalendarKind.GOOGLE:
            from meetbot.control.calendars.google import GoogleSource

            return GoogleSource(
                self._client,
                self._policy,
                calendar.config,
                secrets,
                api_url=self._settings.calendar_google_api_url,
                token_url=self._settings.calendar_google_token_url,
            )
        if calendar.kind is CalendarKind.MICROSOFT:
            from meetbot.control.calendars.microsoft import MicrosoftSource

            return MicrosoftSource(
                self._client,
                self._policy,
                calendar.config,
                secrets,
                api_url=self._settings.calendar_microsoft_api_url,
                token_url=self._settings.calendar_microsoft_token_url,
            )
        raise SourceError(f"calendars of kind {calendar.kind.value} are not supported yet")

    async def check_url(self, url: str) -> None:
        await validate_webhook_url(url, self._policy)

    async def close(self) -> None:
        await self._client.aclose()

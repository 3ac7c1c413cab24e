"""CalDAV calendars: RFC 6578 ``sync-collection`` with tokens, then one ``calendar-multiget``
of the changed resources; a full listing when the server refuses the token.

Spoken directly over the HTTP client of :class:`~.ics.HttpCalendarSources`
(async, every request through the egress rules), not through the ``caldav`` package's client.
The cursor keeps the sync token and, per resource (href), the UID it held, so that a deleted
resource (a 404 in the delta) deletes that UID's occurrences. Details seen against Radicale
(docs/calendars.md): tombstones appear even in the initial sync (skipped); an invalid token is
403 ``valid-sync-token``; a truncated answer (507 on the collection) is followed with its new
token for at most :data:`MAX_PAGES` pages, and a listing that still ends truncated is partial.
"""

from __future__ import annotations

import builtins
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from urllib.parse import urljoin

import httpx

from meetbot.control.calendars import occurrences
from meetbot.control.calendars.models import Occurrence
from meetbot.control.calendars.source import (
    Listing,
    SourceMalformed,
    SourceRefused,
    SourceUnauthorized,
    SourceUnreachable,
    Window,
)
from meetbot.control.webhooks.targets import InvalidWebhookUrl, TargetPolicy, validate_webhook_url

MAX_PAGES = 100
MULTIGET_BATCH = 200
TIMEOUT = 30.0
DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"
_SYNC = (
    '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
    "<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
    "<D:prop><D:getetag/></D:prop></D:sync-collection>"
)
_MULTIGET = (
    '<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
    "{hrefs}</C:calendar-multiget>"
)


class TokenRefused(Exception):
    pass


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _parse(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise SourceMalformed(f"not a WebDAV answer: {exc}") from None


def _status_code(text: str | None) -> int:
    parts = (text or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class CalDavSource:
    def __init__(
        self, client: httpx.AsyncClient, policy: TargetPolicy, url: str, auth: tuple[str, str]
    ) -> None:
        self._client = client
        self._policy = policy
        self._url = url if url.endswith("/") else url + "/"
        self._auth = httpx.BasicAuth(*auth) if auth[0] else None

    async def list(self, cursor: str | None, window: Window) -> Listing:
        saved = json.loads(cursor) if cursor else {}
        token = str(saved.get("token") or "")
        uids: dict[str, str] = dict(saved.get("uids") or {})
        try:
            changed, gone, token, truncated = await self._delta(token)
            complete = not saved.get("token")
        except TokenRefused:
            changed, gone, token, truncated = await self._delta("")
            complete = True
        if complete:
            gone = set(uids) - set(changed)  # a full listing: every resource not in it is gone
        removed = {uids.pop(href) for href in gone if href in uids}
        found: builtins.list[Occurrence] = []
        skipped: builtins.list[str] = []
        for href, text in await self._multiget(sorted(changed)):
            try:
                calendar = occurrences.parse(text)
                items, dropped = occurrences.expand_all(calendar, window.start, window.end)
                skipped += dropped
            except occurrences.MalformedCalendar as exc:
                raise SourceMalformed(f"{href}: {exc}") from None
            resource_uids = {str(c.get("UID")) for c in calendar.walk("VEVENT") if c.get("UID")}
            if href in uids:
                removed.add(uids[href])  # its occurrences not listed again are gone
            removed |= resource_uids
            if resource_uids:
                uids[href] = sorted(resource_uids)[0]
            found += items
        return Listing(
            occurrences=tuple(found),
            removed_uids=tuple(sorted(removed)),
            complete=complete and not truncated,
            cursor=None if truncated else json.dumps({"token": token, "uids": uids}),
            skipped=tuple(skipped),
        )

    async def _request(self, method: str, body: str, depth: str) -> httpx.Response:
        try:
            await validate_webhook_url(self._url, self._policy)
        except InvalidWebhookUrl as exc:
            raise SourceRefused(exc.detail) from None
        try:
            response = await self._client.request(
                method,
                self._url,
                content=body.encode(),
                headers={"Content-Type": "application/xml; charset=utf-8", "Depth": depth},
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise SourceUnreachable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code == 401:
            raise SourceUnauthorized("HTTP 401")
        return response

    async def _delta(self, token: str) -> tuple[set[str], set[str], str, bool]:
        changed: set[str] = set()
        gone: set[str] = set()
        truncated = False
        for _ in range(MAX_PAGES):
            response = await self._request("REPORT", _SYNC.format(token=_escape(token)), "0")
            refused = response.status_code in (403, 409)
            if refused and token and b"valid-sync-token" in response.content:
                raise TokenRefused()
            if response.status_code != 207:
                if response.status_code == 403:
                    raise SourceUnauthorized("HTTP 403")
                raise SourceUnreachable(f"HTTP {response.status_code}")
            root = _parse(response.content)
            truncated = False
            for item in root.iter(f"{DAV}response"):
                href = urljoin(self._url, (item.findtext(f"{DAV}href") or "").strip())
                status = _status_code(item.findtext(f"{DAV}status"))
                if href.rstrip("/") == self._url.rstrip("/"):
                    truncated = truncated or status == 507
                elif status == 404:
                    gone.add(href)
                    changed.discard(href)
                else:
                    changed.add(href)
                    gone.discard(href)
            token = (root.findtext(f"{DAV}sync-token") or "").strip()
            if not truncated:
                break
        return changed, gone, token, truncated

    async def _multiget(self, hrefs: Sequence[str]) -> Iterable[tuple[str, bytes]]:
        out: builtins.list[tuple[str, bytes]] = []
        for start in range(0, len(hrefs), MULTIGET_BATCH):
            batch = hrefs[start : start + MULTIGET_BATCH]
            body = _MULTIGET.format(
                hrefs="".join(f"<D:href>{_escape(_path(h))}</D:href>" for h in batch)
            )
            response = await self._request("REPORT", body, "1")
            if response.status_code != 207:
                raise SourceUnreachable(f"calendar-multiget: HTTP {response.status_code}")
            for item in _parse(response.content).iter(f"{DAV}response"):
                href = urljoin(self._url, (item.findtext(f"{DAV}href") or "").strip())
                data = item.find(f".//{CAL}calendar-data")
                if data is not None and data.text:
                    out.append((href, data.text.encode()))
        return out


def _path(href: str) -> str:
    return httpx.URL(href).raw_path.decode()

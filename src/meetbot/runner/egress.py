"""The bot's browser goes only to meetings: the egress rules on every request Chromium makes.

:class:`EgressGuard` is installed on the browser context before the first navigation
(:meth:`EgressGuard.install`): every HTTP(S) request of the page and its frames (navigations,
redirects, subresources, ``fetch``/XHR) passes :meth:`BrowserContext.route`, every WebSocket of
the page passes :meth:`BrowserContext.route_web_socket`. A request is aborted when its host is
a loopback, private, link-local, multicast, reserved or metadata address (:mod:`meetbot.egress`)
— given as a name (resolved here), or as a number in any form — unless the host is one the
operator allows (``MEETBOT_SELF_HOSTED_MEETING_HOSTS``, sent in the assignment).

Service workers and shared workers, which would make requests in targets of their own, are
refused: every frame gets :data:`NO_SERVICE_WORKERS` before its scripts run (``register``
always rejects, ``new SharedWorker`` throws), and the context is launched with Playwright's
``service_workers="block"``. A dedicated worker's requests pass the guard like the page's.

WebRTC (ICE) goes only to public addresses and allowed hosts: :mod:`meetbot.runner.ice_filter`,
installed first in every frame by :meth:`EgressGuard.install`, its allowed list set by
:meth:`EgressGuard.allow_script` once the assignment is known.

Chromium resolves no name itself: it reaches every host through the runner's pinning proxy
(:mod:`meetbot.runner.egress_proxy`), which asks :meth:`EgressGuard.destination` where a host may
be reached and connects to exactly the addresses judged there (the ones :meth:`check` judged, for
:data:`CACHE_SECONDS`): a name that answers differently a moment later (DNS rebinding) changes
nothing. What the proxy refuses is recorded here too (:meth:`EgressGuard.refused`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from meetbot.egress import (
    AddressClass,
    HostAllowList,
    IPAddress,
    normal_host,
    numeric_host,
    refusal,
)
from meetbot.runner import ice_filter

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, CDPSession, Page, WebSocketRoute

log = logging.getLogger(__name__)

NO_SERVICE_WORKERS = """(() => {
  if (globalThis.SharedWorker) {
    Object.defineProperty(globalThis, "SharedWorker", {
      value: function SharedWorker() {
        throw new DOMException("Shared workers are disabled in this browser.", "SecurityError");
      }, writable: false, configurable: false, enumerable: false});
  }
  const container = globalThis.ServiceWorkerContainer;
  if (!container) return;
  const refuse = () => Promise.reject(
    new DOMException("Service workers are disabled in this browser.", "SecurityError"));
  Object.defineProperty(container.prototype, "register",
    {value: refuse, writable: false, configurable: false, enumerable: true});
})();"""
"""An init script: a page can start neither a service worker nor a shared worker (their
requests come from targets of their own, which the guard does not see; a dedicated worker's
requests pass the page's ``Fetch`` interception and are guarded)."""

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses as text``."""

BLOCKED_ERROR = "blockedbyclient"
"""What an aborted request fails with in the page (``net::ERR_BLOCKED_BY_CLIENT``)."""
CACHE_SECONDS = 30.0
RESOLVE_TIMEOUT = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a host may be reached: ``blocked`` is ``None`` and ``addresses`` are the judged
    addresses to connect to (and only those), or ``blocked`` says why not."""

    blocked: Blocked | None
    addresses: tuple[IPAddress, ...] = ()


@dataclass(frozen=True, slots=True)
class Blocked:
    """A request the guard refused."""

    url: str
    host: str
    reason: str
    """An :class:`~meetbot.egress.AddressClass` value, ``invalid-host`` or ``unresolvable``."""
    address: str | None = None
    navigation: bool = False
    """A navigation of the page's main frame (the bot cannot go on)."""

    def describe(self) -> str:
        where = f" ({self.address})" if self.address else ""
        return f"the browser was stopped from reaching {self.host}{where}: a {self.reason} address"


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class EgressGuard:
    """Decides, for each request of the bot's browser, whether it may leave."""

    def __init__(
        self,
        allowed: HostAllowList | None = None,
        *,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed = allowed or HostAllowList()
        """Hosts reachable whatever they resolve to; set once the assignment is known."""
        self.blocked: list[Blocked] = []
        """Every refusal, in order (the most recent 100)."""
        self.blocked_navigation: Blocked | None = None
        """The first refused navigation of the page's main frame."""
        self._resolver = resolver
        self._clock = clock
        self._cache: dict[tuple[str, int], tuple[float, Destination]] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[Destination]] = {}
        self._navigation_target: tuple[str, int] | None = None
        """``(host, port)`` of the main frame's last navigation let through."""
        self._ice_setter = ice_filter.new_setter_name()

    async def check(self, url: str) -> Blocked | None:
        """``None`` if ``url`` may be fetched, else the refusal (not recorded)."""
        try:
            parts = urlsplit(url)
            scheme, host, port = parts.scheme.lower(), parts.hostname or "", parts.port
        except ValueError:
            return Blocked(url, url[:100], "invalid-host")
        if scheme not in _DEFAULT_PORTS:
            return None  # data:, blob:, about:, chrome-extension: ... never reach a network
        port = port or _DEFAULT_PORTS[scheme]
        if self.allowed.allows(host, port):
            return None
        return (await self.destination(host, port, url)).blocked

    async def destination(self, host: str, port: int, url: str = "") -> Destination:
        """Where ``host`` may be reached on ``port``: the addresses judged (an allowed host's
        whatever they are, the others' for :data:`CACHE_SECONDS`), or the refusal of ``url``
        (default ``host:port``; not recorded)."""
        url = url or f"{host}:{port}"
        try:
            address = numeric_host(host)
        except ValueError:
            return Destination(Blocked(url, host, "invalid-host"))
        if self.allowed.allows(host, port):
            return Destination(None, (address,) if address else await self._resolve(host, port))
        if address is not None:
            return Destination(self._judge(url, host, [address]), (address,))
        key = (host.lower().rstrip("."), port)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._clock():
            found = cached[1]
        else:  # one question at a time per name, in a task of its own (callers may go away)
            pending = self._pending.get(key)
            if pending is None:
                pending = asyncio.ensure_future(self._resolve_and_judge(url, key[0], port))
                self._pending[key] = pending
                pending.add_done_callback(lambda task: self._resolved(key, task))
            found = await asyncio.shield(pending)
        if found.blocked is not None and found.blocked.url != url:
            return dataclasses.replace(found, blocked=dataclasses.replace(found.blocked, url=url))
        return found

    def _resolved(self, key: tuple[str, int], task: asyncio.Future[Destination]) -> None:
        del self._pending[key]
        if not task.cancelled() and task.exception() is None:
            self._cache[key] = (self._clock() + CACHE_SECONDS, task.result())

    async def _resolve(self, host: str, port: int) -> tuple[IPAddress, ...]:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT):
                texts = await self._resolver(host, port)
            return tuple(ipaddress.ip_address(t.split("%", 1)[0]) for t in texts)
        except (OSError, UnicodeError, ValueError, TimeoutError):
            return ()

    async def _resolve_and_judge(self, url: str, host: str, port: int) -> Destination:
        if host == "localhost" or host.endswith(".localhost"):  # Chromium: loopback, no DNS
            return Destination(Blocked(url, host, str(AddressClass.LOOPBACK)))
        found = await self._resolve(host, port)
        if not found:
            return Destination(Blocked(url, host, "unresolvable"))
        return Destination(self._judge(url, host, found), found)

    def _judge(self, url: str, host: str, addresses: Sequence[IPAddress]) -> Blocked | None:
        for address in addresses:
            cls = refusal(address, host)
            if cls is not None:
                return Blocked(url, host, str(cls), str(address))
        return None

    def refused(self, blocked: Blocked, host: str, port: int) -> None:
        """Record a connection the proxy refused: a navigation when the page's main frame was
        last sent to ``host:port`` (the proxy cannot tell a navigation from a subresource)."""
        navigation = self._navigation_target == (normal_host(host), port)
        self.record(dataclasses.replace(blocked, navigation=navigation))

    def record(self, blocked: Blocked) -> None:
        log.warning("blocked %s%s: %s", blocked.url[:200],
                    " (navigation)" if blocked.navigation else "", blocked.reason)  # fmt: skip
        self.blocked = [*self.blocked[-99:], blocked]
        if blocked.navigation and self.blocked_navigation is None:
            self.blocked_navigation = blocked

    # --- Playwright ----------------------------------------------------------------------------

    async def install(self, context: BrowserContext) -> None:
        """Route every request and WebSocket of ``context`` through the guard.

        HTTP(S) goes through the DevTools ``Fetch`` domain on each page (Playwright's
        ``route`` lets redirects through unseen; ``Fetch`` pauses every hop), WebSockets through
        Playwright's ``route_web_socket``."""
        addresses = await ice_filter.allowed_addresses(self.allowed)
        await context.add_init_script(script=ice_filter.filter_script(self._ice_setter, addresses))
        await context.add_init_script(script=NO_SERVICE_WORKERS)
        for page in context.pages:
            await self._watch_page(context, page)
        context.on("page", lambda page: self._watch_new_page(context, page))
        await context.route_web_socket(_every_url, self._on_web_socket)

    async def allow_script(self) -> str:
        """An init script that gives the WebRTC filter :attr:`allowed` (names resolved now):
        add it once the assignment has set :attr:`allowed`, before the meeting's page loads."""
        addresses = await ice_filter.allowed_addresses(self.allowed)
        return ice_filter.allow_script(self._ice_setter, addresses)

    async def _watch_new_page(self, context: BrowserContext, page: Page) -> None:
        """A popup: its first requests may leave before this runs (see ``docs/security.md``)."""
        try:
            await self._watch_page(context, page)
        except Exception as exc:  # closed already
            log.warning("no egress guard on a new page: %r", exc)

    async def _watch_page(self, context: BrowserContext, page: Page) -> None:
        session = await context.new_cdp_session(page)
        tree = await session.send("Page.getFrameTree")
        main_frame = str(tree["frameTree"]["frame"]["id"])
        session.on("Fetch.requestPaused", lambda event: self._on_paused(session, main_frame, event))
        await session.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})

    async def _on_paused(self, session: CDPSession, main_frame: str, event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        try:
            blocked = await self.check(str(event["request"]["url"]))
            navigation = (
                event.get("resourceType") == "Document" and event.get("frameId") == main_frame
            )
            if blocked is None:
                if navigation:
                    self._navigation_target = _host_and_port(str(event["request"]["url"]))
                await session.send("Fetch.continueRequest", {"requestId": request_id})
                return
            self.record(
                Blocked(blocked.url, blocked.host, blocked.reason, blocked.address, navigation)
            )
            await session.send(
                "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
            )
        except Exception as exc:  # the page or browser went away meanwhile
            log.debug("request %s not settled: %r", request_id, exc)

    async def _on_web_socket(self, ws: WebSocketRoute) -> None:
        blocked = await self.check(ws.url)
        if blocked is None:
            ws.connect_to_server()
            return
        self.record(blocked)
        await ws.close(code=1008, reason="blocked by meetbot's egress rules")


def _every_url(url: str) -> bool:
    return True


def _host_and_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    return None if port is None else (normal_host(parts.hostname or ""), port)

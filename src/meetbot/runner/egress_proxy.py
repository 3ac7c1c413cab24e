"""The pinning egress proxy: the bot's browser reaches every host through it (issue 12 §1).

Chromium is launched with ``--proxy-server=http://127.0.0.1:PORT`` and
``--proxy-bypass-list=<-loopback>`` (:meth:`EgressProxy.chromium_flags`), so it never resolves
a name nor opens a TCP connection itself (loopback included); WebRTC media (UDP) does not use
the proxy (:mod:`meetbot.runner.ice_filter` filters it). The proxy takes ``CONNECT host:port``
(``https``, ``wss``, and ``ws`` which Chromium also tunnels) and absolute-URI requests
(``GET http://host/path``), asks the guard where the host may be reached
(:meth:`~meetbot.runner.egress.EgressGuard.destination`: resolved once, every address judged by
the egress rules) and connects to exactly one of those addresses. A name that answers the guard
with a public address and anything else a moment later (DNS rebinding) is never asked again.

A refused host gets ``403`` (recorded by the guard: a navigation ends the bot ``failed``), an
unreachable one ``502``, anything not a proxy request ``400``. A plain HTTP request is sent
with ``Connection: close`` and its answer marked so (one request per connection: a connection
is pinned to the address judged for its host). The bytes themselves are relayed by
:mod:`meetbot.runner.egress_relay`.

The proxy lives in the runner's event loop; its sockets are made where the browser lives
(:mod:`meetbot.runner.browser_sockets`). Any local process may connect to it: it gives nothing
the egress rules do not allow a bot anyway.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from meetbot.egress import IPAddress
from meetbot.runner.browser_sockets import LocalSockets, SocketSource
from meetbot.runner.egress_relay import MAX_HEAD, Side, close_connection, join

if TYPE_CHECKING:
    from meetbot.runner.egress import EgressGuard

log = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10.0
HEAD_TIMEOUT: Final = 60.0
"""A client that sends no complete request head in this time is closed."""
_HTTP_PORTS: Final = {"http": 80, "ws": 80}


class BadRequest(ValueError):
    """Not a request this proxy serves (``400``)."""


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """What a client asked the proxy for."""

    tunnel: bool
    """``CONNECT``: the client speaks to the host itself once connected."""
    host: str
    port: int
    url: str
    """For the records: ``host:port`` of a tunnel, the URL of a plain request."""
    upstream_head: bytes = b""
    """A plain request's head as the origin server gets it (origin form, ``Connection: close``)."""


def parse_request(head: bytes) -> ProxyRequest:
    """The request whose head (CRLF CRLF included) is ``head``; :class:`BadRequest` if it is not
    ``CONNECT host:port`` or an absolute ``http://`` (or ``ws://``) request."""
    line, _, rest = head.partition(b"\r\n")
    try:
        method, target, version = line.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest("HTTP/1.x only")
    if method == "CONNECT":
        host, port = _authority(target)
        return ProxyRequest(True, host, port, f"{target}")
    try:
        parts = urlsplit(target)
        scheme, host, given = parts.scheme.lower(), parts.hostname or "", parts.port
    except ValueError:
        raise BadRequest(f"not a URL: {target[:100]!r}") from None
    if scheme not in _HTTP_PORTS or not host:
        raise BadRequest("only CONNECT and absolute http:// requests")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    upgrade = any(h.lower().startswith(b"upgrade:") for h in rest.split(b"\r\n"))
    first = f"{method} {path} {version}".encode("ascii")
    upstream = first + b"\r\n" + rest
    if not upgrade:  # an upgrade keeps its Connection: Upgrade
        upstream = close_connection(upstream)
    else:
        upstream = b"\r\n".join(
            h for h in upstream.split(b"\r\n") if not h.lower().startswith(b"proxy-connection:")
        )
    return ProxyRequest(False, host, given or _HTTP_PORTS[scheme], target, upstream)


def _authority(target: str) -> tuple[str, int]:
    host, colon, port = target.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise BadRequest(f"not host:port: {target[:100]!r}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise BadRequest(f"not host:port: {target[:100]!r}")
        host = host[1:-1]
    elif ":" in host:
        raise BadRequest(f"not host:port: {target[:100]!r}")
    return host, int(port)


def answer(status: int, reason: str, text: str) -> bytes:
    """A complete response of the proxy itself (the connection closes after it)."""
    body = text.encode("utf-8", "replace") + b"\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Client(Side):
    """The browser's end: reads one request head, then relays."""

    def __init__(self, proxy: EgressProxy) -> None:
        super().__init__()
        self._proxy = proxy
        self._buffer: bytearray | None = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._proxy._clients.add(self)
        self._timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, self.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._proxy._clients.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._buffer is None:
            super().data_received(data)
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                self.reply(answer(431, "Request Header Fields Too Large", "request head too long"))
            return
        if self._timer is not None:
            self._timer.cancel()
        head, rest = bytes(self._buffer[: end + 4]), bytes(self._buffer[end + 4 :])
        self._buffer = None
        assert self.transport is not None
        self.transport.pause_reading()
        if rest:
            self.relayed += len(rest)
            self._early.append(rest)
        self._task = asyncio.get_running_loop().create_task(self._proxy._open(self, head))

    def reply(self, response: bytes) -> None:
        """Answer as the proxy and close."""
        self._buffer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


class EgressProxy:
    """An HTTP proxy on ``127.0.0.1`` for one browser; :meth:`start`, always :meth:`close`."""

    def __init__(self, guard: EgressGuard, sockets: SocketSource | None = None) -> None:
        self.guard = guard
        self.port = 0
        self._sockets: SocketSource = sockets or LocalSockets()
        self._server: asyncio.Server | None = None
        self._clients: set[_Client] = set()
        self.connections = 0
        """Connections opened to hosts so far."""

    async def start(self, port: int = 0) -> int:
        """Listen on ``127.0.0.1:port`` (0: a free port) where :attr:`sockets` are made."""
        sock = await self._sockets.listener("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Client(self), sock=sock)
        self.port = int(sock.getsockname()[1])
        return self.port

    def chromium_flags(self) -> tuple[str, ...]:
        """Send every request of Chromium (loopback ones too) through this proxy."""
        return (f"--proxy-server=http://127.0.0.1:{self.port}", "--proxy-bypass-list=<-loopback>")

    async def move(self, sockets: SocketSource) -> None:
        """Listen (on the same port) and connect where ``sockets`` are made from now on: the
        browser's network namespace, once it is known."""
        old_server, old_sockets = self._server, self._sockets
        self._sockets = sockets
        await self.start(self.port)
        if old_server is not None:
            old_server.close()
        old_sockets.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self._clients):
            if client._task is not None:
                client._task.cancel()
            client.close()
            if client.other is not None:
                client.other.close()
        self._sockets.close()

    async def _open(self, client: _Client, head: bytes) -> None:
        try:
            request = parse_request(head)
        except BadRequest as exc:
            client.reply(answer(400, "Bad Request", str(exc)))
            return
        try:
            upstream = await self._connect(request)
        except Exception as exc:  # the browser must get an answer whatever went wrong
            log.exception("proxy: %s failed", request.url[:200])
            upstream = answer(502, "Bad Gateway", type(exc).__name__)
        if isinstance(upstream, bytes):
            client.reply(upstream)
            return
        if client.transport is None or client.transport.is_closing():
            upstream.close()
            return
        self.connections += 1
        if request.tunnel:
            client.transport.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            assert upstream.transport is not None
            upstream.transport.write(request.upstream_head)
        join(client, upstream)
        client.transport.resume_reading()

    async def _connect(self, request: ProxyRequest) -> Side | bytes:
        """The connected upstream end, or the proxy's answer to the client."""
        destination = await self.guard.destination(request.host, request.port, request.url)
        if destination.blocked is not None:
            self.guard.refused(destination.blocked, request.host, request.port)
            return answer(403, "Forbidden", destination.blocked.describe())
        sock = await self._dial(destination.addresses, request.port)
        if sock is None:
            return answer(502, "Bad Gateway", f"{request.host} is unreachable")
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: Side(rewrite_response=not request.tunnel), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        return upstream

    async def _dial(self, addresses: Sequence[IPAddress], port: int) -> socket.socket | None:
        """A socket connected to the first of ``addresses`` that answers, or ``None``."""
        for address in addresses:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    return await self._sockets.connect(address, port)
            except (OSError, TimeoutError) as exc:
                log.info("proxy: %s port %d: %s", address, port, exc)
        return None

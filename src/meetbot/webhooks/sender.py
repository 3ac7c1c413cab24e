"""The HTTP side of webhook delivery: the only module that imports httpx.

Address pinning. httpx hands every new connection to an httpcore *network backend* as
``connect_tcp(host, port)``; :class:`_GuardedBackend` resolves ``host`` once with
:func:`~meetbot.webhooks.targets.resolve_safe`, refuses forbidden addresses, and opens the socket
to the validated address itself. Nothing resolves the name a second time, so DNS rebinding
cannot slip an internal address in between check and connect. The URL is left untouched, so the
``Host`` header, TLS SNI and certificate verification all use the real host name.
Connections are pooled per origin (HTTP/1.1 keep-alive); a pooled connection was validated when
it was opened. Redirects are never followed (a 3xx is a failed attempt), proxies and ``.netrc``
from the environment are ignored (a proxy would resolve the name itself), and cookies are never
stored.
"""

from __future__ import annotations

import asyncio
import itertools
import select
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any, Self

import httpcore
import httpx

from meetbot.ports import SendResult
from meetbot.webhooks.targets import (
    InvalidWebhookUrl,
    Resolver,
    TargetPolicy,
    parse_url,
    resolve_safe,
    system_resolver,
)

USER_AGENT = "meetbot-webhooks/1"
MAX_RESPONSE_BYTES = 64 * 1024
"""Read at most this much of a receiver's answer; the rest is dropped with the connection."""


def _is_readable(sock: socket.socket | None) -> bool:
    """An idle keep-alive socket that is readable was closed by the server (or is broken)."""
    if sock is None or sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's stream with a cheap ``is_readable``: the pool asks it of every idle
    connection on every request, and anyio's attribute lookup builds a dict each time."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, sock: socket.socket | None) -> None:
        self._inner = inner
        self._sock = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _Stream(tls, self._sock)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _is_readable(self._sock)
        if info == "socket":
            return self._sock
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: TargetPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_safe(host, port, self._policy, self._resolver)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
                return _Stream(stream, stream.get_extra_info("socket"))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool rebuilt on the guarded backend."""

    def __init__(
        self, backend: _GuardedBackend, limits: httpx.Limits, ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


class HttpSender:
    """:class:`meetbot.ports.WebhookSender` over httpx, pinned to validated addresses.

    Requests are spread round-robin over ``shards`` clients, each with its own pool of
    ``max_connections // shards`` connections: httpcore's pool does work quadratic in its
    size on every request, so several small pools are much cheaper than one large one.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        max_connections: int = 256,
        shards: int = 8,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        per_shard = max(1, max_connections // max(1, shards))
        limits = httpx.Limits(
            max_connections=per_shard,
            max_keepalive_connections=per_shard,
            keepalive_expiry=30.0,
        )
        context = ssl_context or httpx.create_ssl_context(trust_env=False)
        backend = _GuardedBackend(policy, resolver)
        self._clients = [
            httpx.AsyncClient(
                transport=_PinnedTransport(backend, limits, context),
                follow_redirects=False,
                trust_env=False,
                cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
                headers={"user-agent": USER_AGENT},
            )
            for _ in range(max(1, shards))
        ]
        self._next = itertools.cycle(self._clients)

    async def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> SendResult:
        started = time.perf_counter()

        def result(status: int | None, error: str | None) -> SendResult:
            return SendResult(status, (time.perf_counter() - started) * 1000.0, error)

        try:
            parse_url(url)
            async with asyncio.timeout(timeout):
                async with next(self._next).stream(
                    "POST", url, content=body, headers=dict(headers), timeout=timeout
                ) as response:
                    await _drain(response)
        except InvalidWebhookUrl as exc:
            return result(None, f"refused: {exc.detail}")
        except (TimeoutError, httpx.TimeoutException):
            return result(None, f"timed out after {timeout:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return result(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        status = response.status_code
        if 300 <= status < 400:
            return result(status, "redirects are not followed")
        return result(status, None if 200 <= status < 300 else f"HTTP {status}")

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _drain(response: httpx.Response) -> None:
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen >= MAX_RESPONSE_BYTES:
            break

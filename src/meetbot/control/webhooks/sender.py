"""The HTTP side of webhook delivery: the only module that imports aiohttp.

Address pinning. aiohttp's connector asks its resolver for the addresses of a host name each
time it opens a connection (its DNS cache is off here); :class:`_PinnedResolver` resolves the
name once with :func:`~meetbot.control.webhooks.targets.resolve_safe`, refuses forbidden addresses,
and returns exactly the validated addresses, which the connector then connects to. Nothing resolves
the name a second time, so DNS rebinding cannot slip an internal address in between check and
connect. An IP literal never reaches a resolver, so :meth:`HttpSender.send` checks it first. The
URL is left untouched, so the ``Host`` header, TLS SNI and certificate verification all use the
real host name. Connections are pooled per target (HTTP/1.1 keep-alive); a pooled connection was
validated when it was opened. Redirects are never followed (a 3xx is a failed attempt), proxies
and ``.netrc`` from the environment are ignored (a proxy would resolve the name itself), and
cookies are never stored.

aiohttp costs about half the CPU of httpx per delivery (measured by ``bench/webhooks.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import ssl
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from meetbot.control.ports import SendResult
from meetbot.control.webhooks.targets import (
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
KEEPALIVE_SECONDS = 30.0


class _PinnedResolver(AbstractResolver):
    """Resolves through the SSRF guard: only validated addresses come back."""

    def __init__(self, policy: TargetPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_safe(host, port, self._policy, self._resolver)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET if address.version == 4 else socket.AF_INET6,
                proto=socket.IPPROTO_TCP,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class HttpSender:
    """:class:`meetbot.ports.WebhookSender` over aiohttp, pinned to validated addresses.

    Requests are spread round-robin over ``shards`` sessions (one is enough for aiohttp; tests
    use more to see connections are per session). The sessions are opened on first use, inside
    the event loop that sends.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        max_connections: int = 256,
        shards: int = 1,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._shards = max(1, shards)
        self._per_shard = max(1, max_connections // self._shards)
        self._resolver = _PinnedResolver(policy, resolver)
        self._ssl = ssl_context or ssl.create_default_context()
        self._sessions: list[aiohttp.ClientSession] = []
        self._next: itertools.cycle[aiohttp.ClientSession] | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._next is None:
            self._sessions = [self._open() for _ in range(self._shards)]
            self._next = itertools.cycle(self._sessions)
        return next(self._next)

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._per_shard,
            limit_per_host=0,
            use_dns_cache=False,
            resolver=self._resolver,
            ssl=self._ssl,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"user-agent": USER_AGENT},
            trust_env=False,
            auto_decompress=False,
            raise_for_status=False,
        )

    async def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> SendResult:
        started = time.perf_counter()

        def result(status: int | None, error: str | None) -> SendResult:
            return SendResult(status, (time.perf_counter() - started) * 1000.0, error)

        try:
            target = parse_url(url)
            if target.literal is not None:
                await resolve_safe(target.host, target.port, self._policy)
            async with asyncio.timeout(timeout):
                async with self._session().post(
                    url,
                    data=body,
                    headers=dict(headers),
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as response:
                    status = response.status
                    await _drain(response)
        except InvalidWebhookUrl as exc:
            return result(None, f"refused: {exc.detail}")
        except TimeoutError:
            return result(None, f"timed out after {timeout:g} s")
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error if exc.os_error is not None else exc
            return result(None, f"ConnectError: {cause}"[:500])
        except (aiohttp.ClientError, OSError) as exc:
            return result(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        if 300 <= status < 400:
            return result(status, "redirects are not followed")
        return result(status, None if 200 <= status < 300 else f"HTTP {status}")

    async def aclose(self) -> None:
        sessions, self._sessions, self._next = self._sessions, [], None
        for session in sessions:
            await session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read up to :data:`MAX_RESPONSE_BYTES`; a longer answer closes the connection."""
    seen = 0
    while seen < MAX_RESPONSE_BYTES:
        chunk = await response.content.read(MAX_RESPONSE_BYTES - seen)
        if not chunk:
            return
        seen += len(chunk)

"""The driver of :class:`~meetbot.control.realtime_push.PushTransport`: websockets for
``websocket`` endpoints, the webhooks' aiohttp sender for ``webhook`` ones.

Both go through the webhooks' SSRF guard at every connection, so an endpoint whose host came
to resolve to a forbidden address is refused (:class:`PushFailed`), never reached. A WebSocket
connects to the very addresses :func:`~meetbot.control.webhooks.targets.resolve_safe`
returned (the URL's host stays in the ``Host`` header and TLS), with no proxy from the
environment; a webhook POST is the webhooks' :class:`~meetbot.control.webhooks.sender.HttpSender`
(pinned addresses, no redirects), signed with :func:`~meetbot.control.webhooks.signing.sign`.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from meetbot.contract.models import RealtimeEndpoint
from meetbot.control.realtime_endpoints import WEBSOCKET, http_form
from meetbot.control.realtime_push import PushFailed, PushLink
from meetbot.control.webhooks import signing
from meetbot.control.webhooks.sender import HttpSender
from meetbot.control.webhooks.targets import (
    InvalidWebhookUrl,
    Resolver,
    TargetPolicy,
    parse_url,
    resolve_safe,
    system_resolver,
)

USER_AGENT = "meetbot-realtime/1"
CONNECT_TIMEOUT = 10.0


class WebSocketLink:
    """Sends text frames; what the receiver sends is read and dropped (so pings keep working)."""

    def __init__(self, ws: ClientConnection, timeout: float) -> None:
        self._ws = ws
        self._timeout = timeout
        self._reader = asyncio.create_task(self._drop_incoming(), name="realtime-ws-reader")

    async def _drop_incoming(self) -> None:
        with contextlib.suppress(WebSocketException, OSError):
            async for _ in self._ws:
                pass

    async def send(self, text: str, frame_id: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._ws.send(text)
        except (TimeoutError, WebSocketException, OSError) as exc:
            raise PushFailed(f"{type(exc).__name__}: {exc}"[:300]) from None

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._ws.close()
        finally:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


class WebhookLink:
    def __init__(self, sender: HttpSender, url: str, secret: str | None, timeout: float) -> None:
        self._sender = sender
        self._url = url
        self._secret = secret
        self._timeout = timeout

    async def send(self, text: str, frame_id: str) -> None:
        body = text.encode()
        headers = {"content-type": "application/json"}
        if self._secret:
            headers.update(signing.sign(self._secret, frame_id, datetime.now(UTC), body))
        result = await self._sender.send(self._url, body, headers, self._timeout)
        if not result.ok:
            raise PushFailed(result.error or f"HTTP {result.status_code}")

    async def aclose(self) -> None:
        return None


class NetworkPushTransport:
    """:class:`~meetbot.control.realtime_push.PushTransport` over the network."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        send_timeout: float = 15.0,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._policy = policy
        self._timeout = send_timeout
        self._resolver = resolver
        self._sender = HttpSender(policy, resolver=resolver)

    async def open(self, endpoint: RealtimeEndpoint, secret: str | None) -> PushLink:
        if endpoint.type != WEBSOCKET:
            return WebhookLink(self._sender, endpoint.url, secret, self._timeout)
        try:
            target = parse_url(http_form(endpoint.url))
            addresses = await resolve_safe(target.host, target.port, self._policy, self._resolver)
        except InvalidWebhookUrl as exc:
            raise PushFailed(f"refused: {exc.detail}") from None
        error: str = "no address"
        for address in addresses:
            try:
                ws = await connect(
                    endpoint.url,
                    host=str(address),
                    port=target.port,
                    proxy=None,
                    open_timeout=CONNECT_TIMEOUT,
                    user_agent_header=USER_AGENT,
                    max_queue=4,
                    compression=None,
                )
            except (TimeoutError, WebSocketException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                continue
            return WebSocketLink(ws, self._timeout)
        raise PushFailed(error)

    async def aclose(self) -> None:
        await self._sender.aclose()

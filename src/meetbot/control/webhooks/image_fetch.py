"""Fetching a bot's picture from an ``https://`` URL under the webhook egress rules.

The same guard as webhook delivery (:mod:`meetbot.control.webhooks.sender`): the URL is taken
apart by :func:`~meetbot.control.webhooks.targets.parse_url`, its host is resolved once and
every address checked (``MEETBOT_WEBHOOK_ALLOW_PRIVATE``, ``MEETBOT_WEBHOOK_ALLOWED_HOSTS``),
and the connection goes to exactly those addresses (no DNS rebinding). No redirects, no
proxies from the environment, no cookies; at most ``max_bytes`` are read.
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp

from meetbot.control.bot_image import MAX_BYTES, InvalidBotImageUrl
from meetbot.control.webhooks.sender import USER_AGENT, _PinnedResolver
from meetbot.control.webhooks.targets import (
    InvalidWebhookUrl,
    Resolver,
    TargetPolicy,
    check_url,
    resolve_safe,
    system_resolver,
)

FETCH_TIMEOUT = 10.0


class HttpImageFetcher:
    """:class:`meetbot.control.ports.ImageFetcher` over aiohttp, pinned to checked addresses."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._ssl = ssl_context or ssl.create_default_context()
        self._timeout = timeout

    async def fetch(self, url: str, max_bytes: int = MAX_BYTES) -> bytes:
        try:
            target = check_url(url, self._policy)
            if target.scheme != "https":
                raise InvalidBotImageUrl("an image URL must use https")
            await resolve_safe(target.host, target.port, self._policy, self._resolver)
            return await self._get(url, max_bytes)
        except InvalidWebhookUrl as exc:
            detail = exc.detail.replace("webhook URL", "image URL")
            raise InvalidBotImageUrl(detail) from None
        except TimeoutError:
            detail = f"the image URL did not answer in {self._timeout:g} s"
            raise InvalidBotImageUrl(detail) from None
        except (aiohttp.ClientError, OSError) as exc:
            detail = f"the image could not be fetched: {type(exc).__name__}"
            raise InvalidBotImageUrl(detail) from None

    async def _get(self, url: str, max_bytes: int) -> bytes:
        connector = aiohttp.TCPConnector(
            use_dns_cache=False,
            resolver=_PinnedResolver(self._policy, self._resolver),
            ssl=self._ssl,
        )
        async with (
            asyncio.timeout(self._timeout),
            aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": USER_AGENT},
                trust_env=False,
            ) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise InvalidBotImageUrl(f"the image URL answered HTTP {response.status}")
            data = bytearray()
            while chunk := await response.content.read(65536):
                data += chunk
                if len(data) > max_bytes:
                    raise InvalidBotImageUrl(f"the image is larger than {max_bytes} bytes")
            return bytes(data)

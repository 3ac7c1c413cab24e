"""``client.webhooks``: the workspace's webhook endpoints and their deliveries
(``/api/v1/webhook_endpoints/``), for both clients."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from meetbot.client import endpoints as api
from meetbot.client import models
from meetbot.client.pagination import async_pages, pages
from meetbot.unset import UNSET, Unset

if TYPE_CHECKING:
    from meetbot.client.asynchronous import AsyncMeetbot
    from meetbot.client.sync import Meetbot


class Webhooks:
    def __init__(self, client: Meetbot) -> None:
        self._c = client

    def create(
        self, url: str, *, event_types: builtins.list[str] | None = None, enabled: bool = True
    ) -> models.WebhookEndpoint:
        """Register an endpoint; its ``secret`` is in this answer only."""
        return self._c.send(api.create_endpoint(url, event_types, enabled))

    def list(self, *, page_size: int | None = None) -> Iterator[models.WebhookEndpoint]:
        return pages(lambda cursor: self._c.send(api.list_endpoints(cursor, page_size)))

    def get(self, endpoint_id: str) -> models.WebhookEndpoint:
        return self._c.send(api.get_endpoint(endpoint_id))

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | Unset = UNSET,
        event_types: builtins.list[str] | Unset | None = UNSET,
        enabled: bool | Unset = UNSET,
    ) -> models.WebhookEndpoint:
        return self._c.send(api.update_endpoint(endpoint_id, url, event_types, enabled))

    def delete(self, endpoint_id: str) -> None:
        self._c.send(api.delete_endpoint(endpoint_id))

    def rotate_secret(self, endpoint_id: str) -> models.WebhookEndpoint:
        """A new secret (in this answer only); the old one keeps signing for 24 h."""
        return self._c.send(api.rotate_secret(endpoint_id))

    def replay(self, endpoint_id: str, start: api.When, end: api.When) -> int:
        """Queue again the events created in ``[start, end)``; how many deliveries."""
        return self._c.send(api.replay(endpoint_id, start, end))

    def deliveries(
        self, endpoint_id: str, *, status: str | None = None, page_size: int | None = None
    ) -> Iterator[models.Delivery]:
        """The endpoint's deliveries, newest first."""
        return pages(
            lambda cursor: self._c.send(api.list_deliveries(endpoint_id, cursor, status, page_size))
        )

    def delivery(self, endpoint_id: str, delivery_id: str) -> models.Delivery:
        """One delivery with its ``attempt_log``."""
        return self._c.send(api.get_delivery(endpoint_id, delivery_id))

    def retry(self, endpoint_id: str, delivery_id: str) -> models.Delivery:
        return self._c.send(api.retry_delivery(endpoint_id, delivery_id))


class AsyncWebhooks:
    def __init__(self, client: AsyncMeetbot) -> None:
        self._c = client

    async def create(
        self, url: str, *, event_types: builtins.list[str] | None = None, enabled: bool = True
    ) -> models.WebhookEndpoint:
        """Register an endpoint; its ``secret`` is in this answer only."""
        return await self._c.send(api.create_endpoint(url, event_types, enabled))

    def list(self, *, page_size: int | None = None) -> AsyncIterator[models.WebhookEndpoint]:
        return async_pages(lambda cursor: self._c.send(api.list_endpoints(cursor, page_size)))

    async def get(self, endpoint_id: str) -> models.WebhookEndpoint:
        return await self._c.send(api.get_endpoint(endpoint_id))

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | Unset = UNSET,
        event_types: builtins.list[str] | Unset | None = UNSET,
        enabled: bool | Unset = UNSET,
    ) -> models.WebhookEndpoint:
        return await self._c.send(api.update_endpoint(endpoint_id, url, event_types, enabled))

    async def delete(self, endpoint_id: str) -> None:
        await self._c.send(api.delete_endpoint(endpoint_id))

    async def rotate_secret(self, endpoint_id: str) -> models.WebhookEndpoint:
        """A new secret (in this answer only); the old one keeps signing for 24 h."""
        return await self._c.send(api.rotate_secret(endpoint_id))

    async def replay(self, endpoint_id: str, start: api.When, end: api.When) -> int:
        """Queue again the events created in ``[start, end)``; how many deliveries."""
        return await self._c.send(api.replay(endpoint_id, start, end))

    def deliveries(
        self, endpoint_id: str, *, status: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[models.Delivery]:
        """The endpoint's deliveries, newest first."""
        return async_pages(
            lambda cursor: self._c.send(api.list_deliveries(endpoint_id, cursor, status, page_size))
        )

    async def delivery(self, endpoint_id: str, delivery_id: str) -> models.Delivery:
        """One delivery with its ``attempt_log``."""
        return await self._c.send(api.get_delivery(endpoint_id, delivery_id))

    async def retry(self, endpoint_id: str, delivery_id: str) -> models.Delivery:
        return await self._c.send(api.retry_delivery(endpoint_id, delivery_id))

"""Helpers shared by the webhook integration tests (the stores come from ``any_store``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from meetbot.contract.lifecycle import BotState, Status
from meetbot.contract.models import Bot
from meetbot.control.webhooks import outbox, signing
from meetbot.control.webhooks.models import WebhookEndpoint
from meetbot.testing.builders import make_bot

WS = "ws-test"


def endpoint(
    url: str, at: datetime, *, types: tuple[str, ...] | None = None, enabled: bool = True
) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=outbox.new_id(),
        workspace_id=WS,
        url=url,
        event_types=types,
        enabled=enabled,
        secret=signing.new_secret(),
        created_at=at,
        updated_at=at,
    )


async def add_endpoint(store: Any, ep: WebhookEndpoint) -> WebhookEndpoint:
    async with store.transaction() as tx:
        stored: WebhookEndpoint = await tx.webhooks.add_endpoint(ep)
        return stored


async def add_bot(store: Any, at: datetime, webhook_url: str | None = None) -> Bot:
    bot = make_bot(
        workspace_id=WS,
        created_at=at,
        status=Status.BOOTING,
        webhook_url=webhook_url,
        webhook_secret=signing.new_secret() if webhook_url else None,
        metadata={"team": "a"},
    )
    async with store.transaction() as tx:
        stored: Bot = await tx.bots.insert(bot)
        return stored


async def emit_status(
    store: Any, bot: Bot, n: int, at: datetime, *, window: float = 24 * 3600.0
) -> list[str]:
    """Emit ``n`` status updates for ``bot`` (one transaction each); return the event ids."""
    ids = []
    for i in range(n):
        event = outbox.status_update_event(
            bot,
            BotState(Status.BOOTING),
            BotState(Status.JOINING, sub_code=f"step-{i}"),
            at + timedelta(milliseconds=i),
        )
        async with store.transaction() as tx:
            await outbox.emit(tx, event, bot=bot, now=at, retry_window=window)
        ids.append(event.id)
    return ids

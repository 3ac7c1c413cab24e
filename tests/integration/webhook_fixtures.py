"""Fixtures shared by the webhook integration tests (imported by their modules)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_testdb import fresh_schema
from webhook_stores import memory_store, sql_store

from meetbot.lifecycle import BotState, Status
from meetbot.models import Bot
from meetbot.testing.builders import make_bot
from meetbot.webhooks import outbox, signing
from meetbot.webhooks.models import WebhookEndpoint

KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
WS = "ws-test"


@pytest.fixture(params=KINDS)
async def hook_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """An empty store with webhook tables: in memory, on SQLite, on PostgreSQL."""
    if request.param == "memory":
        store = memory_store()
    elif request.param == "sqlite":
        store = await sql_store(f"sqlite:///{tmp_path / 'meetbot.db'}")
    else:
        store = await sql_store(fresh_schema(request.getfixturevalue("pg_database_url")))
    try:
        yield store
    finally:
        await store.close()


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

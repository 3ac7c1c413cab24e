"""A control plane on fakes (or a real store) for tests: the app, its services, an API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from meetbot.config import Settings
from meetbot.control.api import calendars as calendars_api
from meetbot.control.api import credentials as credentials_api
from meetbot.control.api import output_video as output_video_api
from meetbot.control.api import webhooks as webhooks_api
from meetbot.control.api.app import create_app
from meetbot.control.ports import Store
from meetbot.control.service import Services
from meetbot.control.service.keys import create_key
from meetbot.control.service.reactions import Subscribers
from meetbot.control.webhooks.image_fetch import HttpImageFetcher
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.crypto import SecretBox
from meetbot.ports import Storage
from meetbot.testing.fakes import FakeLauncher, FixedClock
from meetbot.testing.fakes_runner import MemoryStorage

TEST_SECRET = b"meetbot test secret, not secret!"  # 32 bytes


@dataclass
class TestPlane:
    __test__ = False  # not a pytest test class

    app: FastAPI
    services: Services
    launcher: FakeLauncher
    clock: FixedClock
    key: str
    workspace_id: str
    reactions: Subscribers
    """The services' reactions: subscribe what a test watches (nothing is subscribed)."""

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Token {key or self.key}"}
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://meetbot", headers=headers)

    async def new_key(self, workspace_id: str | None = None) -> str:
        key, _ = await create_key(
            self.services.store, self.clock, name="other", workspace_id=workspace_id
        )
        return key


async def build_test_plane(
    store: Store,
    *,
    clock: FixedClock | None = None,
    launcher: FakeLauncher | None = None,
    secret: bytes = TEST_SECRET,
    media_storage: Storage | None = None,
    **settings: Any,
) -> TestPlane:
    """The app with the credentials router; credentials are sealed under ``secret``."""
    clock = clock or FixedClock()
    config = Settings(launcher="fake", **settings)
    reactions = Subscribers()
    launcher = launcher or FakeLauncher(
        pool_size=config.adhoc_pool_size, max_concurrent=config.max_concurrent_bots
    )
    services = Services(
        settings=config,
        store=store,
        launcher=launcher,
        clock=clock,
        reactions=reactions,
        secret_box=SecretBox(secret),
        media_storage=media_storage if media_storage is not None else MemoryStorage(),
        image_fetcher=HttpImageFetcher(TargetPolicy.from_settings(config)),
    )
    key, workspace_id = await create_key(store, clock, name="test")
    app = create_app(
        services,
        routers=[
            credentials_api.router,
            webhooks_api.router,
            webhooks_api.events_router,
            calendars_api.router,
            output_video_api.router,
        ],
        secret=secret,
    )
    return TestPlane(app, services, launcher, clock, key, workspace_id, reactions)

"""Assemble the control plane from settings: the one place drivers are chosen."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI

from meetbot.clock import SystemClock
from meetbot.config import Settings
from meetbot.control.api import credentials as credentials_api
from meetbot.control.api import media as media_api
from meetbot.control.api import webhooks as webhooks_api
from meetbot.control.api.app import create_app
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.transcribers import Transcribers
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.ports import Launcher
from meetbot.control.scheduler import Scheduler
from meetbot.control.service import Services
from meetbot.control.service.keys import ensure_first_key
from meetbot.control.store import open_store
from meetbot.control.webhooks.delivery import DeliveryWorker
from meetbot.control.webhooks.process import DeliveryProcess
from meetbot.control.webhooks.sender import HttpSender
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.crypto import SecretBox
from meetbot.secrets_file import load_or_create_secret
from meetbot.storage import open_storage, storage_descriptor

log = logging.getLogger("meetbot.control.server")
Hook = Callable[[], Awaitable[None]]


@dataclass
class ControlPlane:
    app: FastAPI
    services: Services
    first_key: str | None


def _launcher(settings: Settings, on_exit_holder: list[Services]) -> Launcher:
    if settings.launcher == "fake":
        from meetbot.testing.fakes import FakeLauncher

        return FakeLauncher(
            pool_size=settings.adhoc_pool_size,
            max_concurrent=settings.max_concurrent_bots,
            auto_refill=True,
        )
    from meetbot.control.launchers.local import LocalLauncher

    def on_exit(bot_id: str, returncode: int) -> None:
        import asyncio

        from meetbot.control.service.runners import runner_lost

        if on_exit_holder:
            asyncio.get_running_loop().create_task(
                runner_lost(on_exit_holder[0], bot_id), name=f"runner-exit-{bot_id}"
            )

    return LocalLauncher.from_settings(settings, on_exit=on_exit)


def _delivery(settings: Settings, services: Services) -> tuple[Hook, Hook]:
    """Webhook delivery in a child process (default) or on this event loop; start and stop."""
    if settings.delivery == "process":
        child = DeliveryProcess(settings.data_dir.resolve())
        services.on_events.append(child.notify)
        return child.start, child.close
    sender = HttpSender(TargetPolicy.from_settings(settings))
    delivery = DeliveryWorker(services.store, sender, services.clock, settings)
    services.on_events.append(delivery.notify)

    async def start_delivery() -> None:
        delivery.start()

    async def close_delivery() -> None:
        await delivery.close()
        await sender.aclose()

    return start_delivery, close_delivery


async def build(settings: Settings) -> ControlPlane:
    """Open the store, create the first key on a fresh data dir, and wire every worker."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = load_or_create_secret(settings.data_dir)
    store = await open_store(settings.effective_database_url)
    clock = SystemClock()
    holder: list[Services] = []
    launcher = _launcher(settings, holder)
    storage = open_storage(settings, secret)
    services = Services(
        settings=settings,
        store=store,
        launcher=launcher,
        clock=clock,
        storage_descriptor=storage_descriptor(settings),
        secret_box=SecretBox(secret),
    )
    holder.append(services)
    first_key = await ensure_first_key(store, clock)
    scheduler = Scheduler(services)
    start_delivery, close_delivery = _delivery(settings, services)

    async def close_store() -> None:
        await store.close()

    transcribers = Transcribers(settings)
    pool = TranscriptionPool(settings.transcription_workers)
    live = LiveTranscription(services, storage, transcribers, pool, streams=transcribers.stream)
    pipeline = MediaPipeline(services, storage, transcribers, pool=pool, live=live)
    services.on_processing.append(pipeline.wake)
    services.on_chunk.append(live.on_chunk)

    app = create_app(
        services,
        routers=[
            webhooks_api.router,
            webhooks_api.events_router,
            media_api.router,
            credentials_api.router,
        ],
        startup=[launcher.start, scheduler.start, start_delivery, pipeline.start],
        shutdown=[
            scheduler.stop,
            live.stop,
            pipeline.stop,
            close_delivery,
            launcher.close,
            close_store,
        ],
    )
    app.state.storage = storage
    app.state.media_secret = secret
    return ControlPlane(app=app, services=services, first_key=first_key)

"""Assemble the control plane from settings: the one place drivers are chosen."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI

from meetbot import data_dir
from meetbot.clock import SystemClock
from meetbot.config import Settings
from meetbot.contract.uploads import UPLOAD_DESCRIPTOR
from meetbot.control.agents import FleetCapacity
from meetbot.control.api import agents as agents_api
from meetbot.control.api import calendars as calendars_api
from meetbot.control.api import credentials as credentials_api
from meetbot.control.api import media as media_api
from meetbot.control.api import output_video as output_video_api
from meetbot.control.api import webhooks as webhooks_api
from meetbot.control.api.app import create_app
from meetbot.control.calendar_worker import CalendarWorker
from meetbot.control.calendars.ics import HttpCalendarSources
from meetbot.control.capacity import FixedCapacity
from meetbot.control.dashboard import install as install_dashboard
from meetbot.control.heap import freeze_startup_heap
from meetbot.control.launchers.fleet import FleetLauncher
from meetbot.control.launchers.local import LOCAL_AGENT_NAME, LocalLauncher, local_agent_token
from meetbot.control.live_audio import LiveAudioHub
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.segment_recorder import SegmentRecorder
from meetbot.control.media.transcribers import Transcribers
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.metrics import Metrics
from meetbot.control.ports import Launcher
from meetbot.control.realtime_push import RealtimePush
from meetbot.control.realtime_transport import NetworkPushTransport
from meetbot.control.scheduler import Scheduler
from meetbot.control.service import Services
from meetbot.control.service.core import CommandBus
from meetbot.control.service.keys import ensure_first_key
from meetbot.control.service.local_agent import InProcessChannel
from meetbot.control.service.lost_runners import runner_exited
from meetbot.control.service.reactions import Subscribers
from meetbot.control.service.stream import Pulse
from meetbot.control.store import open_store
from meetbot.control.webhooks.delivery import DeliveryWorker
from meetbot.control.webhooks.image_fetch import HttpImageFetcher
from meetbot.control.webhooks.process import DeliveryProcess
from meetbot.control.webhooks.sender import HttpSender
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.crypto import SecretBox
from meetbot.secrets_file import load_or_create_secret
from meetbot.storage import open_storage

log = logging.getLogger("meetbot.control.server")
Hook = Callable[[], Awaitable[None]]


@dataclass
class ControlPlane:
    app: FastAPI
    services: Services
    first_key: str | None


def _launcher(settings: Settings, fleet: Callable[[], Launcher]) -> Launcher:
    """The launcher: ``fake``, else ``fleet()`` (``fleet``, or ``local``: one agent here)."""
    if settings.launcher == "fake":
        from meetbot.control.launchers.simulated import SimulatedLauncher

        return SimulatedLauncher(
            pool_size=settings.adhoc_pool_size,
            max_concurrent=settings.max_concurrent_bots,
            auto_refill=True,
        )
    return fleet()


def _delivery(
    settings: Settings,
    services: Services,
    reactions: Subscribers,
    box: SecretBox,
    spawned: DeliveryProcess | None,
) -> tuple[Hook, Hook]:
    """Webhook delivery in a child process (default: ``spawned`` when ``meetbot serve``
    started it already) or on this event loop; start and stop."""
    if settings.delivery == "process":
        child = spawned or DeliveryProcess(settings.data_dir.resolve())
        reactions.on_events_committed.append(child.notify)
        return child.start, child.close
    sender = HttpSender(TargetPolicy.from_settings(settings))
    delivery = DeliveryWorker(services.store, sender, services.clock, settings, box=box)
    reactions.on_events_committed.append(delivery.notify)

    async def start_delivery() -> None:
        delivery.start()

    async def close_delivery() -> None:
        await delivery.close()
        await sender.aclose()

    return start_delivery, close_delivery


async def build(settings: Settings, *, delivery: DeliveryProcess | None = None) -> ControlPlane:
    """Open the store, create the first key on a fresh data dir, and wire every worker: each
    subscribes to the reactions it serves (:mod:`meetbot.control.service.reactions`).
    ``delivery``: the webhook delivery child already spawned (held until the app starts)."""
    data_dir.prepare(settings.data_dir)  # owner-only: 0700, files 0600
    secret = load_or_create_secret(settings.data_dir, settings.given_secret)
    store = await open_store(settings.effective_database_url)
    clock = SystemClock()
    reactions = Subscribers()
    commands = CommandBus()
    box = SecretBox(secret)

    def fleet() -> Launcher:
        if settings.launcher == "fleet":
            return FleetLauncher(settings, store, clock, box, commands.notify)
        # local: the same code, with one agent in this process (docs/fleet.md)
        return LocalLauncher(
            settings, store, clock, box, commands.notify, on_exit=reactions.runner_exited
        )

    launcher = _launcher(settings, fleet)
    capacity = (
        FixedCapacity(settings.max_concurrent_bots)
        if settings.launcher == "fake"
        else FleetCapacity(settings.fleet_max_slots if settings.launcher == "fleet" else None)
    )
    storage = open_storage(settings, secret)
    services = Services(
        settings=settings,
        store=store,
        launcher=launcher,
        clock=clock,
        storage_descriptor=dict(UPLOAD_DESCRIPTOR),  # runners get no storage keys
        reactions=reactions,
        secret_box=box,
        capacity=capacity,
        commands=commands,
        calendar_sources=HttpCalendarSources(TargetPolicy.from_settings(settings), settings),
        media_storage=storage,
        image_fetcher=HttpImageFetcher(TargetPolicy.from_settings(settings)),
    )
    reactions.on_runner_exited.append(functools.partial(runner_exited, services))
    if isinstance(launcher, LocalLauncher):
        token = local_agent_token(secret, settings.data_dir)
        launcher.attach(InProcessChannel(services, token, name=LOCAL_AGENT_NAME))
    first_key = await ensure_first_key(store, clock)
    scheduler = Scheduler(services)
    start_delivery, close_delivery = _delivery(
        settings, services, reactions, SecretBox(secret), delivery
    )

    async def close_store() -> None:
        await store.close()

    transcribers = Transcribers(settings)
    pool = TranscriptionPool(settings.transcription_workers)
    live = LiveTranscription(services, storage, transcribers, pool, streams=transcribers.stream)
    segments = SegmentRecorder(services, storage)
    pipeline = MediaPipeline(
        services, storage, transcribers, pool=pool, live=live, segments=segments
    )
    reactions.on_processing_started.append(pipeline.wake)
    reactions.on_chunk_stored.append(live.on_chunk)
    reactions.on_chunk_stored.append(segments.on_chunk)
    live_audio = LiveAudioHub(listeners=[live.on_live])  # runners' live copies: decoded at once
    metrics = Metrics()
    calendar_worker = CalendarWorker(services)
    push_pulse = Pulse()  # pushers wake when events commit, like the streams
    reactions.on_events_committed.append(push_pulse.wake)
    push = RealtimePush(
        services,
        NetworkPushTransport(TargetPolicy.from_settings(settings)),
        push_pulse,
        storage,
    )
    reactions.on_calendar_due.append(calendar_worker.wake)
    calendar_sources = services.calendar_sources

    async def close_calendar_sources() -> None:
        if calendar_sources is not None:
            await calendar_sources.close()

    app = create_app(
        services,
        routers=[
            webhooks_api.router,
            webhooks_api.events_router,
            media_api.router,
            output_video_api.router,
            credentials_api.router,
            calendars_api.router,
            agents_api.router,
        ],
        secret=secret,
        metrics=metrics,
        live_audio=live_audio,
        startup=[
            launcher.start,
            scheduler.start,
            start_delivery,
            pipeline.start,
            calendar_worker.start,
            push.start,
            freeze_startup_heap,
        ],
        shutdown=[
            push.stop,
            calendar_worker.stop,
            close_calendar_sources,
            scheduler.stop,
            live.stop,
            segments.stop,
            pipeline.stop,
            close_delivery,
            launcher.close,
            close_store,
        ],
    )
    install_dashboard(app, secret)
    app.state.storage = storage
    app.state.media_secret = secret
    return ControlPlane(app=app, services=services, first_key=first_key)

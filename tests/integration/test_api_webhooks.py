"""The webhook API through HTTP, and a bot's events reaching a real receiver signed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from webhook_receiver import Receiver

from meetbot.config import Settings
from meetbot.control.api.app import create_app
from meetbot.control.api.webhooks import events_router, router
from meetbot.control.service import Services
from meetbot.control.service.keys import create_key
from meetbot.control.service.reactions import Subscribers
from meetbot.control.webhooks.delivery import DeliveryOptions, DeliveryWorker
from meetbot.control.webhooks.sender import HttpSender
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.testing.fakes import FakeLauncher, FixedClock
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Services
    clock: FixedClock
    reactions: Subscribers


@pytest.fixture
async def api(any_store: Any) -> AsyncIterator[Api]:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    settings = Settings(_env_file=None, launcher="fake", webhook_allow_private=True)  # type: ignore[call-arg]
    reactions = Subscribers()
    services = Services(
        settings=settings,
        store=any_store,
        launcher=FakeLauncher(),
        clock=clock,
        reactions=reactions,
    )
    key, _ = await create_key(any_store, clock, name="test")
    app = create_app(services, routers=[router, events_router])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Token {key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://meetbot", headers=headers
    ) as client:
        yield Api(client, services, clock, reactions)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def new_endpoint(api: Api, url: str, **body: Any) -> dict[str, Any]:
    r = await api.client.post("/api/v1/webhook_endpoints/", json={"url": url, **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def new_bot(api: Api, **body: Any) -> dict[str, Any]:
    join_at = iso(api.clock.now() + timedelta(hours=1))
    r = await api.client.post(
        "/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at, **body}
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_endpoint_crud(api: Api, receiver: Receiver) -> None:
    created = await new_endpoint(api, receiver.url, event_types=["status_update"])
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["event_types"], created["enabled"]) == (
        receiver.url,
        ["status_update"],
        True,
    )
    path = f"/api/v1/webhook_endpoints/{created['id']}/"
    got = (await api.client.get(path)).json()
    assert "secret" not in got
    assert got["id"] == created["id"]
    listed = (await api.client.get("/api/v1/webhook_endpoints")).json()
    assert ([e["id"] for e in listed["results"]], listed["next"]) == ([created["id"]], None)

    patched = await api.client.patch(path, json={"event_types": None, "enabled": False})
    assert patched.status_code == 200
    assert (patched.json()["event_types"], patched.json()["enabled"]) == (None, False)
    kept = (await api.client.patch(path, json={"enabled": True})).json()
    assert (kept["event_types"], kept["enabled"]) == (None, True)

    rotated = await api.client.post(path + "rotate_secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (None, created["secret"])

    assert (await api.client.delete(path)).status_code == 204
    gone = await api.client.get(path)
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://example.com/"}, "invalid_webhook_url"),
        ({"url": "http://169.254.169.254/latest"}, "invalid_webhook_url"),
        ({"url": "https://user:pw@example.com/"}, "invalid_webhook_url"),
        ({"url": "http://[fe80::1]/"}, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1:1/", "event_types": ["nope"]}, "invalid_request"),
        ({"url": 5}, "invalid_request"),
        ({}, "invalid_request"),
        ({"url": "http://127.0.0.1:1/", "colour": "red"}, "invalid_request"),
    ],
)
async def test_bad_endpoints_are_400(api: Api, body: dict[str, Any], code: str) -> None:
    r = await api.client.post("/api/v1/webhook_endpoints/", json=body)
    assert (r.status_code, r.json()["code"]) == (400, code)


async def test_private_targets_need_the_allowance(any_store: Any) -> None:
    settings = Settings(_env_file=None, launcher="fake")  # type: ignore[call-arg]
    clock = FixedClock()
    services = Services(settings=settings, store=any_store, launcher=FakeLauncher(), clock=clock)
    key, _ = await create_key(any_store, clock, name="strict")
    app = create_app(services, routers=[router])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://m", headers={"Authorization": f"Token {key}"}
    ) as client:
        for url in ("http://127.0.0.1:8080/", "http://localhost/", "http://10.0.0.1/"):
            r = await client.post("/api/v1/webhook_endpoints/", json={"url": url})
            assert (r.status_code, r.json()["code"]) == (400, "invalid_webhook_url"), url
            assert "MEETBOT_WEBHOOK_ALLOW_PRIVATE" in r.json()["detail"]


async def test_deliveries_retry_replay_and_the_feed(api: Api, receiver: Receiver) -> None:
    ep = await new_endpoint(api, receiver.url)
    bot = await new_bot(api)  # its first status_update goes to the endpoint
    deliveries = (await api.client.get(f"/api/v1/webhook_endpoints/{ep['id']}/deliveries")).json()
    (d,) = deliveries["results"]
    assert (d["event_type"], d["bot_id"], d["status"], d["attempts"]) == (
        "status_update",
        bot["id"],
        "pending",
        0,
    )
    base = f"/api/v1/webhook_endpoints/{ep['id']}/deliveries/{d['id']}/"
    one = (await api.client.get(base)).json()
    assert one["attempt_log"] == []
    retried = await api.client.post(base + "retry/")
    assert (retried.status_code, retried.json()["id"]) == (202, d["id"])
    missing = await api.client.get(f"/api/v1/webhook_endpoints/{ep['id']}/deliveries/nope/")
    assert missing.status_code == 404

    feed = (await api.client.get("/api/v1/events/")).json()
    (event,) = feed["results"]
    assert event["id"] == d["event_id"]
    assert event["data"]["bot_id"] == bot["id"]
    assert event["data"]["new_status"] == "scheduled"
    assert (await api.client.get(f"/api/v1/events/?after={feed['next']}")).json() == {
        "results": [],
        "next": feed["next"],
    }
    assert (await api.client.get("/api/v1/events/?after=garbage")).status_code == 400

    span = {
        "from": iso(api.clock.now() - timedelta(minutes=1)),
        "to": iso(api.clock.now() + timedelta(minutes=1)),
    }
    replayed = await api.client.post(f"/api/v1/webhook_endpoints/{ep['id']}/replay/", json=span)
    assert (replayed.status_code, replayed.json()) == (202, {"deliveries": 1})
    after = (await api.client.get(f"/api/v1/webhook_endpoints/{ep['id']}/deliveries/")).json()
    assert [x["event_id"] for x in after["results"]] == [event["id"], event["id"]]


async def test_a_bots_events_reach_its_url_and_the_endpoints(api: Api, receiver: Receiver) -> None:
    """End to end: bot create → outbox → worker → signed POSTs to both targets."""
    ep = await new_endpoint(api, receiver.url)
    bot = await new_bot(api, webhook_url=f"http://127.0.0.1:{receiver.port}/bot")
    assert bot["webhook_secret"].startswith("whsec_")
    receiver.secrets = [ep["secret"], bot["webhook_secret"]]
    options = DeliveryOptions(poll_interval=0.05)
    sender = HttpSender(TargetPolicy(allow_private=True))
    worker = DeliveryWorker(
        api.services.store,
        sender,
        api.services.clock,
        api.services.settings,
        options=options,  # type: ignore[arg-type]
    )
    api.reactions.on_events_committed.append(worker.notify)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while len(receiver.accepted) < 2:
            assert time.monotonic() < deadline, "not delivered in time"
            await asyncio.sleep(0.01)
    finally:
        await worker.close()
        await sender.aclose()
    assert sorted(path for path, _ in receiver.accepted) == ["/bot", "/hook"]
    assert receiver.bad_signatures == 0
    for _, event in receiver.accepted:
        assert event["type"] == "status_update"
        assert event["data"]["bot_id"] == bot["id"]
    d = (await api.client.get(f"/api/v1/webhook_endpoints/{ep['id']}/deliveries/")).json()
    assert d["results"][0]["status"] == "delivered"
    assert d["results"][0]["last_status_code"] == 200
    assert d["results"][0]["last_latency_ms"] > 0


async def test_a_webhook_url_added_by_patch_gets_a_secret_shown_once(
    api: Api, receiver: Receiver
) -> None:
    """Regression: such a bot had no signing secret, and its deliveries failed for 24 h."""
    bot = await new_bot(api)
    assert "webhook_secret" not in bot
    patched = await api.client.patch(
        f"/api/v1/bot/{bot['id']}/", json={"webhook_url": receiver.url}
    )
    assert patched.status_code == 200, patched.text
    secret = patched.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    assert "webhook_secret" not in (await api.client.get(f"/api/v1/bot/{bot['id']}/")).json()
    again = await api.client.patch(
        f"/api/v1/bot/{bot['id']}/", json={"webhook_url": receiver.url + "?again"}
    )
    assert "webhook_secret" not in again.json()  # shown once; the secret stays
    receiver.secrets = [secret]
    assert (await api.client.delete(f"/api/v1/bot/{bot['id']}/")).status_code == 204
    sender = HttpSender(TargetPolicy(allow_private=True))
    worker = DeliveryWorker(
        api.services.store,
        sender,
        api.services.clock,
        api.services.settings,
        options=DeliveryOptions(poll_interval=0.05),  # type: ignore[arg-type]
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not receiver.accepted:
            assert time.monotonic() < deadline, "not delivered in time"
            await asyncio.sleep(0.01)
    finally:
        await worker.close()
        await sender.aclose()
    assert receiver.bad_signatures == 0
    assert receiver.accepted[0][1]["type"] == "bot.deleted"


async def test_endpoint_secrets_are_sealed_at_rest_and_still_sign(
    any_store: Any, receiver: Receiver
) -> None:
    from harness.plane import TEST_SECRET, build_test_plane
    from meetbot.crypto import SecretBox

    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))  # the receiver checks times
    plane = await build_test_plane(any_store, clock=clock, webhook_allow_private=True)
    async with plane.client() as client:
        made = await client.post("/api/v1/webhook_endpoints/", json={"url": receiver.url})
        assert made.status_code == 201, made.text
        endpoint = made.json()
        rotated = await client.post(f"/api/v1/webhook_endpoints/{endpoint['id']}/rotate_secret/")
        secret = rotated.json()["secret"]
        assert secret.startswith("whsec_")
        join_at = iso(plane.clock.now() + timedelta(hours=2))
        bot = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
        assert bot.status_code == 201
    async with plane.services.store.transaction(write=False) as tx:
        stored = await tx.webhooks.get_endpoint(endpoint["id"], workspace_id=plane.workspace_id)
    assert stored is not None
    assert stored.secret.startswith("v1.")
    assert stored.previous_secret is not None
    assert stored.previous_secret.startswith("v1.")
    assert secret not in (stored.secret, stored.previous_secret)
    assert endpoint["secret"] not in (stored.secret, stored.previous_secret)

    receiver.secrets = [secret]
    sender = HttpSender(TargetPolicy(allow_private=True))
    worker = DeliveryWorker(
        plane.services.store,
        sender,
        plane.services.clock,
        plane.services.settings,
        options=DeliveryOptions(poll_interval=0.05),  # type: ignore[arg-type]
        box=SecretBox(TEST_SECRET),
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not receiver.accepted:
            assert time.monotonic() < deadline, "not delivered in time"
            await asyncio.sleep(0.01)
    finally:
        await worker.close()
        await sender.aclose()
    assert receiver.bad_signatures == 0

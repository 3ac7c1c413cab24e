"""A bot's own ``webhook_secret`` at rest (issue 12 §3): sealed in its row and in the
idempotency record of its create, opened by the delivery worker to sign; secrets and answers
stored before sealing keep working. On every store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from webhook_receiver import Receiver

from harness.plane import TEST_SECRET, TestPlane, build_test_plane
from harness.waiting import wait_until
from meetbot.contract.models import IdempotencyRecord
from meetbot.control.service.bots import request_hash
from meetbot.control.webhooks.delivery import DeliveryOptions, DeliveryWorker
from meetbot.control.webhooks.sender import HttpSender
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.crypto import SecretBox
from meetbot.lab.serve import Server, free_port
from meetbot.testing.fakes import FixedClock
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))  # the receiver checks times
    return await build_test_plane(any_store, clock=clock, webhook_allow_private=True)


async def _stored_secret(plane: TestPlane, bot_id: str) -> str | None:
    async with plane.services.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id)
    assert bot is not None
    return bot.webhook_secret


async def _deliver_all(plane: TestPlane, receiver: Receiver, count: int) -> None:
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
        while len(receiver.accepted) < count:
            assert time.monotonic() < deadline, "not delivered in time"
            await asyncio.sleep(0.01)
    finally:
        await worker.close()
        await sender.aclose()
    assert receiver.bad_signatures == 0


async def test_a_bots_webhook_secret_is_sealed_at_rest_and_still_signs(
    plane: TestPlane, receiver: Receiver
) -> None:
    join_at = iso(plane.clock.now() + timedelta(hours=2))
    body = {"meeting_url": MEET, "join_at": join_at, "webhook_url": receiver.url}
    async with plane.client() as client:
        made = await client.post("/api/v1/bot/", json=body, headers={"Idempotency-Key": "k1"})
        assert made.status_code == 201, made.text
        secret = made.json()["webhook_secret"]
        assert secret.startswith("whsec_")
        again = await client.post("/api/v1/bot/", json=body, headers={"Idempotency-Key": "k1"})
        assert again.status_code == 201
        assert again.json() == made.json()  # the replay shows the same secret
    bot_id = made.json()["id"]
    stored = await _stored_secret(plane, bot_id)
    assert stored is not None
    assert stored.startswith("v1.")
    assert secret not in stored
    async with plane.services.store.transaction(write=False) as tx:
        record = await tx.idempotency.get(plane.workspace_id, "k1")
    assert record is not None
    assert secret.encode() not in record.body
    assert b"whsec_" not in record.body

    receiver.secrets = [secret]
    await _deliver_all(plane, receiver, 1)
    assert receiver.accepted[0][1]["data"]["bot_id"] == bot_id


async def test_a_secret_given_by_patch_is_sealed_too(plane: TestPlane, receiver: Receiver) -> None:
    join_at = iso(plane.clock.now() + timedelta(hours=2))
    async with plane.client() as client:
        made = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
        assert made.status_code == 201, made.text
        bot_id = made.json()["id"]
        patched = await client.patch(f"/api/v1/bot/{bot_id}/", json={"webhook_url": receiver.url})
        assert patched.status_code == 200, patched.text
        secret = patched.json()["webhook_secret"]
        stored = await _stored_secret(plane, bot_id)
        assert stored is not None
        assert stored.startswith("v1.")
        assert secret not in stored
        assert (await client.delete(f"/api/v1/bot/{bot_id}/")).status_code == 204
    receiver.secrets = [secret]
    await _deliver_all(plane, receiver, 1)
    assert receiver.accepted[0][1]["type"] == "bot.deleted"


async def test_secrets_and_answers_stored_in_clear_before_still_work(
    plane: TestPlane, receiver: Receiver
) -> None:
    """A bot row and an idempotency record written before sealing (clear) are read as such."""
    legacy = "whsec_" + "A" * 43
    join_at = iso(plane.clock.now() + timedelta(hours=2))
    async with plane.client() as client:
        made = await client.post(
            "/api/v1/bot/",
            json={"meeting_url": MEET, "join_at": join_at, "webhook_url": receiver.url},
        )
        assert made.status_code == 201, made.text
        bot_id = made.json()["id"]
        async with plane.services.store.transaction() as tx:
            bot = await tx.bots.get(bot_id, for_update=True)
            assert bot is not None
            await tx.bots.update(bot.evolve(webhook_secret=legacy))
            repeat = {"meeting_url": MEET, "join_at": join_at}
            old = b'{"id": "old-answer", "webhook_secret": "whsec_old"}'
            await tx.idempotency.put(
                IdempotencyRecord(
                    plane.workspace_id, "old", request_hash(repeat), 201, old, plane.clock.now()
                )
            )
        replay = await client.post("/api/v1/bot/", json=repeat, headers={"Idempotency-Key": "old"})
        assert (replay.status_code, replay.json()) == (
            201,
            {"id": "old-answer", "webhook_secret": "whsec_old"},
        )
        assert (await client.delete(f"/api/v1/bot/{bot_id}/")).status_code == 204
    # The create's status_update was queued with the sealed new secret, the delete's with the
    # clear legacy one (the row's at the time): both sign.
    receiver.secrets = [legacy, made.json()["webhook_secret"]]
    await _deliver_all(plane, receiver, 2)
    assert [e["type"] for _, e in receiver.accepted] == ["status_update", "bot.deleted"]


def test_the_deliver_process_opens_a_bots_sealed_secret(tmp_path: Path) -> None:
    """`meetbot serve` with its `meetbot deliver` child: a bot's sealed secret signs."""
    from test_webhook_restart import ThreadedReceiver

    threaded = ThreadedReceiver(delay=0.0)
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_DELIVERY": "process",
        "MEETBOT_WEBHOOK_ALLOW_PRIVATE": "1",
    }
    server = Server(tmp_path / "data", free_port(), env)
    try:
        server.start()
        headers = {"Authorization": f"Token {server.first_key()}"}
        join_at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        body = {"meeting_url": MEET, "join_at": join_at, "webhook_url": threaded.receiver.url}
        made = httpx.post(f"{server.url}/api/v1/bot/", json=body, headers=headers)
        assert made.status_code == 201, made.text
        threaded.receiver.secrets.append(made.json()["webhook_secret"])
        wait_until(lambda: bool(threaded.receiver.requests), 30, what="the bot's first delivery")
        wait_until(lambda: bool(threaded.receiver.accepted), 10, what="a delivery that verifies")
        assert threaded.receiver.bad_signatures == 0
        assert threaded.receiver.accepted[0][1]["data"]["bot_id"] == made.json()["id"]
    finally:
        server.stop()
        threaded.stop()

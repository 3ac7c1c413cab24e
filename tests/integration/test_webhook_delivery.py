"""The delivery worker against a real receiver on 127.0.0.1, on every store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from webhook_fixtures import add_bot, add_endpoint, emit_status, endpoint
from webhook_receiver import Receiver, dedupe_consecutive, streams

from harness.waiting import until
from meetbot.clock import SystemClock
from meetbot.config import Settings
from meetbot.contract.models import Bot
from meetbot.control.ports import SendResult
from meetbot.control.webhooks.backoff import RetryPolicy
from meetbot.control.webhooks.delivery import DeliveryOptions, DeliveryWorker
from meetbot.control.webhooks.models import DeliveryStatus, WebhookEndpoint
from meetbot.control.webhooks.sender import HttpSender
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.testing.fake_sender import FakeWebhookSender, SentRequest
from meetbot.testing.fakes import FixedClock

CLOCK = SystemClock()
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
FAST = DeliveryOptions(
    timeout=2.0,
    retry=RetryPolicy(base=0.01, cap=0.05, window=60.0),
    poll_interval=0.05,
    lease_margin=1.0,
    drain_timeout=2.0,
)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


def worker(store: Any, sender: Any, **options: Any) -> DeliveryWorker:
    opts = DeliveryOptions(**{**_fields(FAST), **options})
    return DeliveryWorker(store, sender, CLOCK, SETTINGS, options=opts)


def _fields(options: DeliveryOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


async def setup(store: Any, receiver: Receiver, n_bots: int) -> tuple[WebhookEndpoint, list[Bot]]:
    ep = await add_endpoint(store, endpoint(receiver.url, CLOCK.now()))
    bots = []
    for i in range(n_bots):
        url = f"http://127.0.0.1:{receiver.port}/bot/{i}" if i % 2 == 0 else None
        bots.append(await add_bot(store, CLOCK.now(), webhook_url=url))
    receiver.secrets = [ep.secret, *(b.webhook_secret for b in bots if b.webhook_secret)]
    return ep, bots


def expected_streams(
    bots: list[Bot], ids: dict[str, list[str]]
) -> dict[tuple[str, str], list[str]]:
    out = {}
    for i, bot in enumerate(bots):
        out[("/hook", bot.id)] = ids[bot.id]
        if bot.webhook_url:
            out[(f"/bot/{i}", bot.id)] = ids[bot.id]
    return out


async def statuses(store: Any, ep: WebhookEndpoint) -> list[DeliveryStatus]:
    async with store.transaction(write=False) as tx:
        found = await tx.webhooks.list_deliveries(ep.id, status=None, before_seq=None, limit=999)
    return [d.status for d in found]


async def test_every_event_arrives_signed_and_in_order(any_store: Any, receiver: Receiver) -> None:
    ep, bots = await setup(any_store, receiver, 4)
    w = worker(any_store, HttpSender(TargetPolicy(allow_private=True)))
    w.start()
    try:
        ids = {}
        for bot in bots:
            ids[bot.id] = await emit_status(any_store, bot, 6, CLOCK.now())
            w.notify()
        want = expected_streams(bots, ids)
        total = sum(len(v) for v in want.values())
        await until(lambda: len(receiver.accepted) >= total)
    finally:
        await w.close()
    assert receiver.bad_signatures == 0
    assert streams(receiver.accepted) == want
    assert set(await statuses(any_store, ep)) == {DeliveryStatus.DELIVERED}
    assert w.stats.delivered == total
    request = receiver.requests[0]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] in {i for v in ids.values() for i in v}


async def test_a_flaky_receiver_gets_everything_in_order(
    any_store: Any, receiver: Receiver
) -> None:
    seen: set[str] = set()

    def flaky(request: Any) -> int:
        msg = request.headers["webhook-id"] + request.path
        if msg not in seen or len(receiver.requests) < 15:
            seen.add(msg)
            return 500
        return 200

    receiver.respond = flaky
    ep, bots = await setup(any_store, receiver, 3)
    ids = {bot.id: await emit_status(any_store, bot, 5, CLOCK.now()) for bot in bots}
    want = expected_streams(bots, ids)
    w = worker(any_store, HttpSender(TargetPolicy(allow_private=True)))
    w.start()
    try:
        await until(lambda: len(receiver.accepted) >= sum(len(v) for v in want.values()))
    finally:
        await w.close()
    assert streams(receiver.accepted) == want
    async with any_store.transaction(write=False) as tx:
        page = await tx.webhooks.list_deliveries(ep.id, status=None, before_seq=None, limit=99)
        assert all(d.status is DeliveryStatus.DELIVERED and d.attempts >= 2 for d in page)
        attempts = await tx.webhooks.list_attempts(page[-1].id, 99)
    assert [a.status_code for a in attempts][-1] == 200
    assert set([a.status_code for a in attempts][:-1]) == {500}


async def test_a_receiver_down_then_up_gets_everything_in_order(any_store: Any) -> None:
    receiver = await Receiver().start()
    port = receiver.port
    ep, bots = await setup(any_store, receiver, 2)
    await receiver.stop()
    w = worker(any_store, HttpSender(TargetPolicy(allow_private=True)))
    w.start()
    try:
        ids = {bot.id: await emit_status(any_store, bot, 5, CLOCK.now()) for bot in bots}
        w.notify()
        await until(lambda: w.stats.retried >= 6)
        await receiver.start(port)
        want = expected_streams(bots, ids)
        await until(lambda: len(receiver.accepted) >= sum(len(v) for v in want.values()))
    finally:
        await w.close()
        await receiver.stop()
    got = streams(receiver.accepted)
    assert {k: dedupe_consecutive(v) for k, v in got.items()} == want
    async with any_store.transaction(write=False) as tx:
        first = (await tx.webhooks.list_deliveries(ep.id, status=None, before_seq=None, limit=99))[
            -1
        ]
    assert first.attempts > 1
    assert first.last_status_code == 200


async def test_a_delivery_that_never_succeeds_fails_and_unblocks_the_next(
    any_store: Any, receiver: Receiver
) -> None:
    ep, (bot,) = await setup(any_store, receiver, 1)
    poison = (await emit_status(any_store, bot, 1, CLOCK.now(), window=0.5))[0]
    rest = await emit_status(any_store, bot, 3, CLOCK.now())
    receiver.respond = lambda r: 500 if r.headers["webhook-id"] == poison else 200
    w = worker(any_store, HttpSender(TargetPolicy(allow_private=True)))
    w.start()
    try:
        await until(lambda: len(receiver.accepted) >= 6)
    finally:
        await w.close()
    assert streams(receiver.accepted)[("/hook", bot.id)] == rest
    async with any_store.transaction(write=False) as tx:
        failed = await tx.webhooks.list_deliveries(
            ep.id, status=DeliveryStatus.FAILED, before_seq=None, limit=9
        )
        (dead,) = failed
        attempts = await tx.webhooks.list_attempts(dead.id, 999)
    assert dead.event_id == poison
    assert dead.attempts == len(attempts) >= 1
    assert attempts[-1].at >= dead.expires_at  # tried until the window's end, then gave up
    assert (dead.last_status_code, dead.next_attempt_at) == (500, None)
    assert w.stats.failed == 2  # the endpoint's and the bot's own


async def test_the_guard_holds_at_delivery_time(any_store: Any, receiver: Receiver) -> None:
    """A loopback target that slipped in (or re-resolved) is refused when sending."""
    ep, (bot,) = await setup(any_store, receiver, 1)
    await emit_status(any_store, bot, 1, CLOCK.now(), window=0.2)
    w = worker(any_store, HttpSender(TargetPolicy()))
    w.start()
    try:
        await until(lambda: w.stats.failed == 2)
    finally:
        await w.close()
    assert receiver.requests == []
    async with any_store.transaction(write=False) as tx:
        (d,) = await tx.webhooks.list_deliveries(ep.id, status=None, before_seq=None, limit=9)
    assert d.status is DeliveryStatus.FAILED
    assert d.last_error is not None
    assert d.last_error.startswith("refused:")


async def test_a_worker_killed_after_claiming_loses_nothing(
    any_store: Any, receiver: Receiver
) -> None:
    ep, bots = await setup(any_store, receiver, 2)
    ids = {bot.id: await emit_status(any_store, bot, 3, CLOCK.now()) for bot in bots}
    sender = HttpSender(TargetPolicy(allow_private=True))
    dead = worker(any_store, sender, timeout=0.2, lease_margin=0.1)
    claimed = await dead._turn(10)  # claims every key's whole run ...
    assert len(claimed) == 9
    assert len({c.delivery.order_key for c in claimed}) == 3
    await dead._attempt(claimed[0])  # ... even sends one, then dies before recording
    assert len(receiver.accepted) == 1
    w = worker(any_store, sender)
    w.start()
    try:
        want = expected_streams(bots, ids)
        await until(
            lambda: (
                {k: dedupe_consecutive(v) for k, v in streams(receiver.accepted).items()} == want
            )
        )
    finally:
        await w.close()
        await sender.aclose()
    first = (receiver.accepted[0][0], receiver.accepted[0][1]["id"])
    assert [(p, e["id"]) for p, e in receiver.accepted].count(first) == 2  # same id, twice
    assert set(await statuses(any_store, ep)) == {DeliveryStatus.DELIVERED}


async def test_stop_drains_in_flight_sends(any_store: Any, receiver: Receiver) -> None:
    ep, bots = await setup(any_store, receiver, 3)
    for bot in bots:
        await emit_status(any_store, bot, 1, CLOCK.now())
    sender = FakeWebhookSender(delay=0.2)
    w = worker(any_store, sender)
    w.start()
    await until(lambda: len(sender.sent) == 5)
    await w.close()
    assert w.stats.delivered == 5
    assert set(await statuses(any_store, ep)) == {DeliveryStatus.DELIVERED}


async def test_stop_gives_back_sends_that_outlast_the_drain(
    any_store: Any, receiver: Receiver
) -> None:
    ep, bots = await setup(any_store, receiver, 2)
    for bot in bots:
        await emit_status(any_store, bot, 1, CLOCK.now())
    sender = FakeWebhookSender(delay=30)
    w = worker(any_store, sender, drain_timeout=0.05)
    w.start()
    await until(lambda: len(sender.sent) == 3)
    await w.close()
    async with any_store.transaction(write=False) as tx:
        page = await tx.webhooks.list_deliveries(ep.id, status=None, before_seq=None, limit=9)
    assert [(d.status, d.attempts) for d in page] == [(DeliveryStatus.PENDING, 0)] * 2
    assert w.stats.delivered == 0


async def test_notify_wakes_the_worker_at_once(any_store: Any, receiver: Receiver) -> None:
    _, (bot,) = await setup(any_store, receiver, 1)
    w = worker(any_store, HttpSender(TargetPolicy(allow_private=True)), poll_interval=30.0)
    w.start()
    try:
        await asyncio.sleep(0.1)  # the worker is asleep now
        started = time.monotonic()
        await emit_status(any_store, bot, 1, CLOCK.now())
        w.notify()
        await until(lambda: len(receiver.accepted) == 2, timeout=5.0)
        assert time.monotonic() - started < 2.0  # not the 30 s poll
    finally:
        await w.close()


async def test_deliver_due_runs_one_pass(any_store: Any, receiver: Receiver) -> None:
    _, bots = await setup(any_store, receiver, 2)
    for bot in bots:
        await emit_status(any_store, bot, 2, CLOCK.now())
    sender = FakeWebhookSender()
    w = worker(any_store, sender)
    assert await w.deliver_due() == 6  # each key's run, in order
    assert await w.deliver_due() == 0
    assert [r.json()["type"] for r in sender.sent] == ["status_update"] * 6


async def test_a_run_never_starts_an_attempt_its_lease_cannot_cover(any_store: Any) -> None:
    now = CLOCK.now()
    await add_endpoint(any_store, endpoint("http://127.0.0.1:9/h", now))
    bot = await add_bot(any_store, now)
    ids = await emit_status(any_store, bot, 3, now)
    clock = FixedClock(now)

    def slow(request: SentRequest) -> SendResult:
        clock.advance(FAST.timeout + 1)  # past the point where another attempt fits the lease
        return SendResult(200, 1.0, None)

    sender = FakeWebhookSender(respond=slow)
    w = DeliveryWorker(any_store, sender, clock, SETTINGS, options=FAST)
    assert [await w.deliver_due() for _ in range(4)] == [1, 1, 1, 0]
    assert [r.json()["id"] for r in sender.sent] == ids
    assert w.stats.delivered == 3

"""Webhook use cases on every store: endpoints, deliveries, retry, replay, the events feed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from webhook_fixtures import WS, add_bot, emit_status

from meetbot import errors
from meetbot.control.service.webhook_endpoints import (
    UNSET,
    EndpointPatch,
    EndpointSpec,
    WebhookService,
)
from meetbot.control.webhooks import outbox
from meetbot.control.webhooks.models import Attempt, AttemptRecord, DeliveryStatus
from meetbot.control.webhooks.signing import is_valid_secret
from meetbot.control.webhooks.targets import InvalidWebhookUrl, TargetPolicy
from meetbot.testing.fakes import FixedClock

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
URL = "https://hooks.example.com/in"


DNS = {"hooks.example.com": ["93.184.216.34"], "inside.example.com": ["10.1.1.1"]}


async def public_dns(host: str, port: int) -> Sequence[str]:
    if host not in DNS:
        raise OSError(f"Name or service not known: {host}")
    return DNS[host]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def svc(any_store: Any, clock: FixedClock) -> WebhookService:
    woken: list[int] = []
    return WebhookService(
        any_store, clock, TargetPolicy(), notify=lambda: woken.append(1), resolver=public_dns
    )


async def test_create_and_read_endpoints(svc: WebhookService) -> None:
    created = await svc.create_endpoint(WS, EndpointSpec(URL, ("status_update",)))
    assert is_valid_secret(created.secret)
    assert created.event_types == ("status_update",)
    assert created.enabled
    assert created.created_at == T0
    got = await svc.get_endpoint(WS, created.id)
    assert (got.id, got.url, got.secret) == (created.id, URL, created.secret)
    with pytest.raises(errors.NotFound):
        await svc.get_endpoint("ws-other", created.id)


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (EndpointSpec("ftp://hooks.example.com/"), InvalidWebhookUrl, "http or https"),
        (EndpointSpec("https://inside.example.com/"), InvalidWebhookUrl, "private"),
        (EndpointSpec("http://127.0.0.1:9/"), InvalidWebhookUrl, "loopback"),
        (EndpointSpec("https://nowhere.example.com/"), InvalidWebhookUrl, "does not resolve"),
        (EndpointSpec(URL, ("status_update", "nope")), errors.InvalidRequest, "unknown nope"),
        (EndpointSpec(URL, ()), errors.InvalidRequest, "use null"),
    ],
)
async def test_create_refuses_bad_endpoints(
    svc: WebhookService, spec: EndpointSpec, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await svc.create_endpoint(WS, spec)


async def test_list_endpoints_in_pages(svc: WebhookService) -> None:
    made = [await svc.create_endpoint(WS, EndpointSpec(URL)) for _ in range(5)]
    await svc.create_endpoint("ws-other", EndpointSpec(URL))
    first = await svc.list_endpoints(WS, None, 2)
    second = await svc.list_endpoints(WS, first.next, 2)
    third = await svc.list_endpoints(WS, second.next, 2)
    ids = [e.id for page in (first, second, third) for e in page.results]
    assert ids == [e.id for e in reversed(made)]
    assert third.next is None
    with pytest.raises(errors.InvalidRequest, match="cursor"):
        await svc.list_endpoints(WS, "bogus!", 2)


async def test_update_rotate_delete(svc: WebhookService, clock: FixedClock) -> None:
    ep = await svc.create_endpoint(WS, EndpointSpec(URL, ("status_update",)))
    clock.advance(60)
    same = await svc.update_endpoint(WS, ep.id, EndpointPatch(enabled=False))
    assert (same.enabled, same.event_types, same.updated_at) == (
        False,
        ("status_update",),
        clock.now(),
    )
    cleared = await svc.update_endpoint(WS, ep.id, EndpointPatch(event_types=None))
    assert cleared.event_types is None
    kept = await svc.update_endpoint(WS, ep.id, EndpointPatch(event_types=UNSET, enabled=True))
    assert (kept.event_types, kept.enabled) == (None, True)
    with pytest.raises(InvalidWebhookUrl):
        await svc.update_endpoint(WS, ep.id, EndpointPatch(url="https://inside.example.com/"))
    with pytest.raises(errors.NotFound):
        await svc.update_endpoint("ws-other", ep.id, EndpointPatch(enabled=False))

    rotated = await svc.rotate_secret(WS, ep.id)
    assert rotated.secret != ep.secret
    assert is_valid_secret(rotated.secret)
    assert rotated.previous_secret == ep.secret
    assert rotated.previous_secret_until == clock.now() + timedelta(hours=24)
    assert (await svc.get_endpoint(WS, ep.id)).secret == rotated.secret

    with pytest.raises(errors.NotFound):
        await svc.delete_endpoint("ws-other", ep.id)
    await svc.delete_endpoint(WS, ep.id)
    with pytest.raises(errors.NotFound):
        await svc.get_endpoint(WS, ep.id)


async def fail_once(store: Any, now: datetime, final: bool) -> str:
    async with store.transaction() as tx:
        (c,) = await tx.webhooks.claim(now, now + timedelta(seconds=30), 1, "t")
        status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        retry_at = None if final else now + timedelta(hours=1)
        attempt = Attempt(c.delivery.id, now, 500, 3.0, "HTTP 500", c.url)
        await tx.webhooks.record(
            [AttemptRecord(c.delivery.id, "t", attempt, status, retry_at)], now
        )
    return c.delivery.id


async def test_deliveries_listing_and_retry(svc: WebhookService, any_store: Any) -> None:
    ep = await svc.create_endpoint(WS, EndpointSpec(URL))
    bot = await add_bot(any_store, T0)
    ids = await emit_status(any_store, bot, 3, T0)

    page = await svc.list_deliveries(WS, ep.id, limit=2)
    assert [d.event_id for d in page.results] == [ids[2], ids[1]]
    rest = await svc.list_deliveries(WS, ep.id, cursor=page.next, limit=2)
    assert [d.event_id for d in rest.results] == [ids[0]]
    assert rest.next is None

    failed_id = await fail_once(any_store, T0, final=True)
    delivery, attempts = await svc.get_delivery(WS, ep.id, failed_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert [(a.status_code, a.error) for a in attempts] == [(500, "HTTP 500")]

    again = await svc.retry_delivery(WS, ep.id, failed_id)
    assert again.id != failed_id
    assert (again.event_id, again.status, again.attempts) == (ids[0], DeliveryStatus.PENDING, 0)
    assert again.body == delivery.body

    pending_id = await fail_once(any_store, T0, final=False)  # ids[1], retry in an hour
    (pending, _) = await svc.get_delivery(WS, ep.id, pending_id)
    assert pending.next_attempt_at == T0 + timedelta(hours=1)
    now_due = await svc.retry_delivery(WS, ep.id, pending_id)
    assert (now_due.id, now_due.next_attempt_at) == (pending_id, T0)

    failed_only = await svc.list_deliveries(WS, ep.id, status=DeliveryStatus.FAILED)
    assert [d.id for d in failed_only.results] == [failed_id]
    with pytest.raises(errors.NotFound):
        await svc.retry_delivery("ws-other", ep.id, failed_id)
    with pytest.raises(errors.NotFound):
        await svc.get_delivery(WS, ep.id, "no-such-delivery")


async def test_retry_refuses_a_delivery_in_flight(svc: WebhookService, any_store: Any) -> None:
    ep = await svc.create_endpoint(WS, EndpointSpec(URL))
    bot = await add_bot(any_store, T0)
    await emit_status(any_store, bot, 1, T0)
    async with any_store.transaction() as tx:
        (c,) = await tx.webhooks.claim(T0, T0 + timedelta(seconds=30), 1, "t")
    with pytest.raises(errors.Conflict):
        await svc.retry_delivery(WS, ep.id, c.delivery.id)


async def test_replay_a_time_range(
    svc: WebhookService, any_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("meetbot.control.service.webhook_endpoints.REPLAY_CHUNK", 3)
    bot = await add_bot(any_store, T0)
    events = []
    for minute in range(10):
        at = T0 + timedelta(minutes=minute)
        ev = outbox.status_update_event(bot, None, bot.state, at)
        if minute == 5:
            ev = outbox.bot_deleted_event(bot, at)
        async with any_store.transaction() as tx:
            await outbox.emit(tx, ev, bot=bot, now=at)
        events.append(ev.id)
    ep = await svc.create_endpoint(WS, EndpointSpec(URL))  # after the events: gets none
    assert (await svc.list_deliveries(WS, ep.id)).results == []

    made = await svc.replay(WS, ep.id, T0 + timedelta(minutes=3), T0 + timedelta(minutes=8))
    assert made == 5
    page = await svc.list_deliveries(WS, ep.id)
    assert [d.event_id for d in reversed(page.results)] == events[3:8]

    only = await svc.create_endpoint(WS, EndpointSpec(URL, ("bot.deleted",)))
    assert await svc.replay(WS, only.id, T0, T0 + timedelta(hours=1)) == 1
    with pytest.raises(errors.InvalidRequest, match="after"):
        await svc.replay(WS, ep.id, T0, T0)
    with pytest.raises(errors.NotFound):
        await svc.replay("ws-other", ep.id, T0, T0 + timedelta(hours=1))


async def test_replay_finds_events_by_time_whatever_their_feed_position(
    svc: WebhookService, any_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner's clock may lag: an event made late (high ``seq``) can carry an early time.
    The replay reads the time range's seq span, so it neither stops at later-stamped events
    nor reads the feed from its start."""
    monkeypatch.setattr("meetbot.control.service.webhook_endpoints.REPLAY_CHUNK", 3)
    bot = await add_bot(any_store, T0)
    minutes = [-600, -599, 0, 1, 60, 61, 62, 2, 90]
    ids = []
    for minute in minutes:
        at = T0 + timedelta(minutes=minute)
        ev = outbox.status_update_event(bot, None, bot.state, at)
        async with any_store.transaction() as tx:
            await outbox.emit(tx, ev, bot=bot, now=at)
        ids.append(ev.id)
    ep = await svc.create_endpoint(WS, EndpointSpec(URL))

    assert await svc.replay(WS, ep.id, T0, T0 + timedelta(minutes=10)) == 3
    page = await svc.list_deliveries(WS, ep.id)
    assert [d.event_id for d in reversed(page.results)] == [ids[2], ids[3], ids[7]]
    assert await svc.replay(WS, ep.id, T0 + timedelta(hours=5), T0 + timedelta(hours=6)) == 0


async def test_events_feed(svc: WebhookService, any_store: Any) -> None:
    bot = await add_bot(any_store, T0)
    ids = await emit_status(any_store, bot, 5, T0)
    other = await add_bot(any_store, T0)
    other_ws = other.evolve(workspace_id="ws-other")
    async with any_store.transaction() as tx:
        await outbox.emit(tx, outbox.bot_deleted_event(other_ws, T0), bot=other_ws, now=T0)

    first = await svc.events_page(WS, None, 3)
    second = await svc.events_page(WS, first.next, 3)
    assert [e.id for e in [*first.results, *second.results]] == ids
    empty = await svc.events_page(WS, second.next, 3)
    assert (empty.results, empty.next) == ([], second.next)
    more = await emit_status(any_store, bot, 1, T0)
    assert [e.id for e in (await svc.events_page(WS, empty.next, 3)).results] == more
    with pytest.raises(errors.InvalidRequest, match="cursor"):
        await svc.events_page(WS, first.next.replace("Z", "Y") + "x" if first.next else "x", 3)
    assert [e.type for e in (await svc.events_page("ws-other", None, 9)).results] == ["bot.deleted"]

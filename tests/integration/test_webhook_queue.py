"""The delivery queue's contract, on the memory store, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from webhook_fixtures import WS, add_bot, add_endpoint, emit_status, endpoint

from meetbot.control.webhooks import outbox
from meetbot.control.webhooks.models import (
    Attempt,
    AttemptRecord,
    ClaimedDelivery,
    DeliveryStatus,
    order_key,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
S = DeliveryStatus


async def claim(store: Any, now: datetime, limit: int = 100) -> list[ClaimedDelivery]:
    async with store.transaction() as tx:
        found: list[ClaimedDelivery] = await tx.webhooks.claim(now, now + LEASE, limit, "tok")
        return found


async def finish(
    store: Any,
    c: ClaimedDelivery,
    status: DeliveryStatus,
    at: datetime,
    *,
    code: int = 200,
    retry_at: datetime | None = None,
    token: str | None = None,
) -> int:
    attempt = Attempt(c.delivery.id, at, code, 12.5, None if code < 300 else "HTTP", c.url)
    record = AttemptRecord(c.delivery.id, token or c.token, attempt, status, retry_at)
    async with store.transaction() as tx:
        applied: int = await tx.webhooks.record([record], at)
        return applied


def events_of(claimed: list[ClaimedDelivery]) -> list[str]:
    return [c.delivery.event_id for c in claimed]


async def test_emit_writes_the_event_and_one_delivery_per_target(any_store: Any) -> None:
    all_types = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    only_status = await add_endpoint(
        any_store, endpoint("https://b.example/h", T0, types=("status_update",))
    )
    only_rec = await add_endpoint(
        any_store, endpoint("https://c.example/h", T0, types=("recording.ready",))
    )
    await add_endpoint(any_store, endpoint("https://d.example/h", T0, enabled=False))
    bot = await add_bot(any_store, T0, webhook_url="https://bot.example/h")
    other_ws = endpoint("https://e.example/h", T0).evolve(workspace_id="ws-other")
    await add_endpoint(any_store, other_ws)

    (event_id,) = await emit_status(any_store, bot, 1, T0)
    claimed = await claim(any_store, T0)
    by_url = {c.url: c for c in claimed}
    assert set(by_url) == {"https://a.example/h", "https://b.example/h", "https://bot.example/h"}
    assert {c.delivery.event_id for c in claimed} == {event_id}
    assert by_url["https://bot.example/h"].delivery.endpoint_id is None
    assert by_url["https://bot.example/h"].secrets == (bot.webhook_secret,)
    assert by_url["https://a.example/h"].secrets == (all_types.secret,)
    assert by_url["https://b.example/h"].delivery.endpoint_id == only_status.id
    assert all(c.delivery.status is S.DELIVERING for c in claimed)

    async with any_store.transaction(write=False) as tx:
        (event,) = await tx.events.list_after(WS, 0, 10)
        assert (
            await tx.webhooks.list_deliveries(only_rec.id, status=None, before_seq=None, limit=9)
            == []
        )
    assert event.id == event_id
    assert event.type == "status_update"
    payload = by_url["https://a.example/h"].delivery.body
    assert outbox.body_of(event) == payload
    assert event.data == {
        "bot_id": bot.id,
        "old_status": "booting",
        "new_status": "joining",
        "sub_status": None,
        "stop_reason": None,
        "sub_code": "step-0",
        "message": None,
        "metadata": {"team": "a"},
    }


async def test_emit_rolls_back_with_its_transaction(any_store: Any) -> None:
    await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0, webhook_url="https://bot.example/h")
    event = outbox.status_update_event(bot, None, bot.state, T0)

    async def failing_change() -> None:
        async with any_store.transaction() as tx:
            await outbox.emit(tx, event, bot=bot, now=T0)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await claim(any_store, T0) == []
    async with any_store.transaction(write=False) as tx:
        assert await tx.events.list_after(WS, 0, 10) == []


async def test_emit_looks_the_bot_up_when_not_given(any_store: Any) -> None:
    bot = await add_bot(any_store, T0, webhook_url="https://bot.example/h")
    async with any_store.transaction() as tx:
        stored = await outbox.emit(tx, outbox.bot_deleted_event(bot, T0), now=T0)
    assert stored.seq is not None
    (c,) = await claim(any_store, T0)
    assert (c.url, c.delivery.event_type) == ("https://bot.example/h", "bot.deleted")


async def test_only_the_oldest_open_delivery_of_a_target_and_bot_is_due(any_store: Any) -> None:
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot_a = await add_bot(any_store, T0, webhook_url="https://bot.example/a")
    bot_b = await add_bot(any_store, T0)
    a = await emit_status(any_store, bot_a, 3, T0)
    b = await emit_status(any_store, bot_b, 2, T0)

    first = await claim(any_store, T0)
    assert sorted(events_of(first)) == sorted([a[0], a[0], b[0]])  # endpoint + bot url for A
    assert await claim(any_store, T0) == []  # the rest wait behind the claimed heads

    by_key = {order_key(c.delivery.endpoint_id, c.delivery.bot_id): c for c in first}
    head_a = by_key[order_key(ep.id, bot_a.id)]
    assert await finish(any_store, head_a, S.DELIVERED, T0) == 1
    (nxt,) = await claim(any_store, T0)
    assert (nxt.delivery.event_id, nxt.delivery.endpoint_id) == (a[1], ep.id)

    # a retry keeps the line: a[2] waits until a[1] is delivered
    later = T0 + timedelta(seconds=10)
    assert await finish(any_store, nxt, S.PENDING, T0, code=500, retry_at=later) == 1
    assert await claim(any_store, T0 + timedelta(seconds=9)) == []
    (again,) = await claim(any_store, later)
    assert again.delivery.id == nxt.delivery.id
    assert again.delivery.attempts == 1
    assert again.delivery.last_status_code == 500
    await finish(any_store, again, S.FAILED, later, code=500)  # failed for good: unblocks
    (last,) = await claim(any_store, later)
    assert last.delivery.event_id == a[2]


async def test_expired_leases_are_claimed_again_and_old_results_ignored(any_store: Any) -> None:
    await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0)
    await emit_status(any_store, bot, 2, T0)
    (first,) = await claim(any_store, T0)
    assert await claim(any_store, T0 + LEASE - timedelta(seconds=1)) == []
    async with any_store.transaction() as tx:
        (second,) = await tx.webhooks.claim(T0 + LEASE, T0 + 2 * LEASE, 10, "tok-2")
    assert second.delivery.id == first.delivery.id
    assert second.token == "tok-2"
    assert await finish(any_store, first, S.DELIVERED, T0 + LEASE) == 0  # not ours any more
    assert await finish(any_store, second, S.DELIVERED, T0 + LEASE) == 1
    assert await finish(any_store, second, S.DELIVERED, T0 + LEASE) == 0  # recorded once
    async with any_store.transaction(write=False) as tx:
        attempts = await tx.webhooks.list_attempts(first.delivery.id, 10)
    assert len(attempts) == 1
    assert attempts[0].latency_ms == 12.5


async def test_release_gives_deliveries_back(any_store: Any) -> None:
    await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0)
    await emit_status(any_store, bot, 1, T0)
    (c,) = await claim(any_store, T0)
    async with any_store.transaction() as tx:
        await tx.webhooks.release("other-token", [c.delivery.id], T0)
    assert await claim(any_store, T0) == []
    async with any_store.transaction() as tx:
        await tx.webhooks.release(c.token, [c.delivery.id], T0)
    (again,) = await claim(any_store, T0)
    assert again.delivery.id == c.delivery.id
    assert again.delivery.attempts == 0


async def test_disabled_endpoints_hold_their_deliveries(any_store: Any) -> None:
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0)
    await emit_status(any_store, bot, 1, T0)
    async with any_store.transaction() as tx:
        await tx.webhooks.update_endpoint(ep.evolve(enabled=False, url="https://new.example/h"))
    assert await claim(any_store, T0) == []
    await emit_status(any_store, bot, 1, T0)  # no delivery for a disabled endpoint
    async with any_store.transaction() as tx:
        await tx.webhooks.update_endpoint(ep.evolve(url="https://new.example/h"))
    (c,) = await claim(any_store, T0)
    assert c.url == "https://new.example/h"  # endpoint deliveries go to the current url
    await finish(any_store, c, S.DELIVERED, T0)
    assert await claim(any_store, T0) == []


async def test_rotation_signs_with_both_secrets_for_a_while(any_store: Any) -> None:
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    rotated = ep.evolve(
        secret="whsec_new", previous_secret=ep.secret, previous_secret_until=T0 + LEASE
    )
    async with any_store.transaction() as tx:
        await tx.webhooks.update_endpoint(rotated)
    bot = await add_bot(any_store, T0)
    await emit_status(any_store, bot, 2, T0)
    (c,) = await claim(any_store, T0)
    assert c.secrets == ("whsec_new", ep.secret)
    await finish(any_store, c, S.DELIVERED, T0)
    (c,) = await claim(any_store, T0 + LEASE)
    assert c.secrets == ("whsec_new",)


async def test_delete_endpoint_removes_its_deliveries(any_store: Any) -> None:
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0, webhook_url="https://bot.example/h")
    await emit_status(any_store, bot, 2, T0)
    claimed = await claim(any_store, T0)
    for c in claimed:
        await finish(any_store, c, S.DELIVERED, T0)
    async with any_store.transaction() as tx:
        await tx.webhooks.delete_endpoint(ep.id)
        assert await tx.webhooks.get_endpoint(ep.id) is None
        assert await tx.webhooks.list_deliveries(ep.id, status=None, before_seq=None, limit=9) == []
        (ep_delivery,) = [c for c in claimed if c.delivery.endpoint_id == ep.id]
        assert await tx.webhooks.list_attempts(ep_delivery.delivery.id, 9) == []
    (c,) = await claim(any_store, T0)
    assert c.delivery.endpoint_id is None  # the bot's own target is untouched


async def test_listing_and_reading_deliveries(any_store: Any) -> None:
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0)
    ids = await emit_status(any_store, bot, 5, T0)
    (c,) = await claim(any_store, T0)
    await finish(any_store, c, S.PENDING, T0, code=503, retry_at=T0 + LEASE)
    async with any_store.transaction(write=False) as tx:
        page = await tx.webhooks.list_deliveries(ep.id, status=None, before_seq=None, limit=3)
        assert [d.event_id for d in page] == ids[::-1][:3]  # newest first
        rest = await tx.webhooks.list_deliveries(
            ep.id, status=None, before_seq=page[-1].seq, limit=3
        )
        assert [d.event_id for d in rest] == ids[1::-1]
        tried = await tx.webhooks.list_deliveries(
            ep.id, status=S.PENDING, before_seq=None, limit=10
        )
        assert len(tried) == 5
        one = await tx.webhooks.get_delivery(c.delivery.id, endpoint_id=ep.id)
        assert one is not None
        assert (one.attempts, one.last_status_code, one.next_attempt_at) == (1, 503, T0 + LEASE)
        assert await tx.webhooks.get_delivery(c.delivery.id, endpoint_id="other") is None
        (attempt,) = await tx.webhooks.list_attempts(c.delivery.id, 10)
        assert (attempt.status_code, attempt.url, attempt.at) == (503, c.url, T0)


async def test_reschedule_makes_a_pending_delivery_due(any_store: Any) -> None:
    await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0)
    await emit_status(any_store, bot, 1, T0)
    (c,) = await claim(any_store, T0)
    await finish(any_store, c, S.PENDING, T0, code=500, retry_at=T0 + timedelta(hours=1))
    assert await claim(any_store, T0) == []
    async with any_store.transaction() as tx:
        await tx.webhooks.reschedule(c.delivery.id, T0)
    assert [x.delivery.id for x in await claim(any_store, T0)] == [c.delivery.id]


async def test_promote_waiting_rescues_orphans(any_store: Any) -> None:
    """A waiting delivery whose predecessor finished without promoting it (a race on PG)."""
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0)
    await emit_status(any_store, bot, 2, T0)
    (c,) = await claim(any_store, T0)
    async with any_store.transaction() as tx:
        assert await tx.webhooks.promote_waiting(T0) == 0
        await force_finished(tx, c.delivery.id)
    assert await claim(any_store, T0) == []  # the second one waits with no one to wake it
    async with any_store.transaction() as tx:
        assert await tx.webhooks.promote_waiting(T0) == 1
    (nxt,) = await claim(any_store, T0)
    assert nxt.delivery.endpoint_id == ep.id
    assert nxt.delivery.id != c.delivery.id


async def force_finished(tx: Any, delivery_id: str) -> None:
    repo = tx.webhooks
    if hasattr(repo, "conn"):
        import sqlalchemy as sa

        from meetbot.control.store.webhook_tables import webhook_deliveries as d

        stmt = sa.update(d).where(d.c.id == delivery_id).values(status="delivered")
        await repo.conn.execute(stmt)
    else:
        repo.data.deliveries[delivery_id] = repo.data.deliveries[delivery_id].evolve(
            status=DeliveryStatus.DELIVERED
        )


async def test_concurrent_claims_never_share_a_key(any_store: Any) -> None:
    await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bots = [await add_bot(any_store, T0) for _ in range(6)]
    for bot in bots:
        await emit_status(any_store, bot, 3, T0)

    async def claimer(token: str) -> list[ClaimedDelivery]:
        async with any_store.transaction() as tx:
            found: list[ClaimedDelivery] = await tx.webhooks.claim(T0, T0 + LEASE, 4, token)
            await asyncio.sleep(0.05)  # hold the rows a while
            return found

    got = await asyncio.gather(claimer("x"), claimer("y"), claimer("z"))
    claimed = [c for batch in got for c in batch]
    keys = [order_key(c.delivery.endpoint_id, c.delivery.bot_id) for c in claimed]
    assert len(keys) == len(set(keys)) == 6


async def test_a_success_makes_the_targets_unreachable_backlog_due(any_store: Any) -> None:
    """After an outage, one delivered event brings the target's other retries forward."""
    ep = await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    other = await add_endpoint(any_store, endpoint("https://b.example/h", T0))
    bots = [await add_bot(any_store, T0) for _ in range(3)]
    for bot in bots:
        await emit_status(any_store, bot, 1, T0)
    claimed = await claim(any_store, T0)
    assert len(claimed) == 6
    later = T0 + timedelta(hours=1)
    for c in claimed:
        answered = c.delivery.bot_id == bots[1].id  # a 500 is an answer, not an outage
        code, error = (500, "HTTP 500") if answered else (None, "ConnectError")
        attempt = Attempt(c.delivery.id, T0, code, 1.0, error, c.url)
        async with any_store.transaction() as tx:
            await tx.webhooks.record(
                [AttemptRecord(c.delivery.id, c.token, attempt, S.PENDING, later)], T0
            )
    assert await claim(any_store, T0) == []
    async with any_store.transaction() as tx:
        await tx.webhooks.reschedule(
            next(
                c.delivery.id
                for c in claimed
                if (c.delivery.endpoint_id, c.delivery.bot_id) == (ep.id, bots[0].id)
            ),
            T0,
        )
    (back,) = await claim(any_store, T0)
    await finish(any_store, back, S.DELIVERED, T0)  # ep answers again
    due = await claim(any_store, T0)
    assert {(d.delivery.endpoint_id, d.delivery.bot_id) for d in due} == {(ep.id, bots[2].id)}
    assert other.id not in {d.delivery.endpoint_id for d in due}


async def test_a_claim_takes_each_head_with_the_run_behind_it(any_store: Any) -> None:
    await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot_a, bot_b = await add_bot(any_store, T0), await add_bot(any_store, T0)
    a = await emit_status(any_store, bot_a, 5, T0)
    b = await emit_status(any_store, bot_b, 2, T0)
    async with any_store.transaction() as tx:
        run = await tx.webhooks.claim(T0, T0 + LEASE, 10, "tok", run=3)
    by_bot: dict[str | None, list[str]] = {}
    for c in run:  # each key's run is contiguous and in order
        by_bot.setdefault(c.delivery.bot_id, []).append(c.delivery.event_id)
    assert by_bot == {bot_a.id: a[:3], bot_b.id: b}
    assert {c.delivery.status for c in run} == {S.DELIVERING}
    assert await claim(any_store, T0) == []  # nothing of these keys is free meanwhile

    # a[0] is to be retried: a[1] and a[2] go back and wait behind it, not due
    first_a = next(c for c in run if c.delivery.event_id == a[0])
    later = T0 + timedelta(seconds=10)
    await finish(any_store, first_a, S.PENDING, T0, code=500, retry_at=later)
    async with any_store.transaction() as tx:
        rest = [c.delivery.id for c in run if c.delivery.event_id in a[1:3]]
        await tx.webhooks.release("tok", [], T0, waiting=rest)
        waiting = [await tx.webhooks.get_delivery(i) for i in rest]
    assert [(d.status, d.next_attempt_at) for d in waiting if d] == [(S.PENDING, None)] * 2
    assert await claim(any_store, T0 + timedelta(seconds=5)) == []
    async with any_store.transaction() as tx:
        again = await tx.webhooks.claim(later, later + LEASE, 10, "tok-2", run=10)
    assert events_of(again) == a  # the whole line again, from the retried head


async def test_a_run_stops_at_a_delivery_it_may_not_send(any_store: Any) -> None:
    await add_endpoint(any_store, endpoint("https://a.example/h", T0))
    bot = await add_bot(any_store, T0)
    ids = await emit_status(any_store, bot, 3, T0)
    async with any_store.transaction() as tx:  # a worker that dies holding a run of two
        dead = await tx.webhooks.claim(T0, T0 + timedelta(seconds=1), 1, "dead", run=2)
    assert events_of(dead) == ids[:2]
    later = T0 + timedelta(seconds=2)  # both leases expired: the head is due again, and the
    async with any_store.transaction() as tx:  # second, still another's claim, ends the run
        (head,) = await tx.webhooks.claim(later, later + LEASE, 10, "tok", run=10)
    assert head.delivery.event_id == ids[0]
    assert await finish(any_store, head, S.DELIVERED, later) == 1
    async with any_store.transaction() as tx:
        rest = await tx.webhooks.claim(later, later + LEASE, 10, "tok", run=10)
    assert events_of(rest) == ids[1:]

"""The counts ``/metrics`` reads at scrape time, on the memory store, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from webhook_fixtures import WS, add_bot, emit_status

from meetbot.contract.lifecycle import Status
from meetbot.control.metrics import Metrics, read_counts
from meetbot.testing.builders import make_bot
from meetbot.testing.fakes import FakeLauncher

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def insert(store: Any, status: Status, join_at: datetime | None = None) -> None:
    async with store.transaction() as tx:
        await tx.bots.insert(make_bot(workspace_id=WS, status=status, join_at=join_at))


async def test_bots_not_ended_are_counted_by_status(any_store: Any) -> None:
    for status in (Status.BOOTING, Status.RECORDING, Status.RECORDING, Status.FINISHED):
        await insert(any_store, status)
    async with any_store.transaction(write=False) as tx:
        counts = await tx.stats.active_bots_by_status()
    assert counts == {Status.BOOTING: 1, Status.RECORDING: 2}


async def test_scheduled_bots_are_counted_below_each_cutoff(any_store: Any) -> None:
    for minutes in (5, 30, 90, 600):
        await insert(any_store, Status.SCHEDULED, T0 + timedelta(minutes=minutes))
    await insert(any_store, Status.BOOTING, T0 + timedelta(minutes=1))  # not scheduled
    cutoffs = [T0 + timedelta(minutes=m) for m in (10, 60, 24 * 60, 1)]
    async with any_store.transaction(write=False) as tx:
        assert await tx.stats.scheduled_before(cutoffs) == [1, 2, 4, 0]
        assert await tx.stats.scheduled_before([]) == []


async def test_due_deliveries_are_the_open_ones_whose_time_came(any_store: Any) -> None:
    bot = await add_bot(any_store, T0, webhook_url="https://bot.example/h")
    await emit_status(any_store, bot, 3, T0)
    async with any_store.transaction(write=False) as tx:
        assert await tx.stats.due_deliveries(T0 - timedelta(seconds=1)) == 0
        assert await tx.stats.due_deliveries(T0 + timedelta(seconds=1)) >= 1
        await tx.stats.ping()


async def test_one_scrape_reads_every_count(any_store: Any) -> None:
    lead = timedelta(minutes=10)
    await insert(any_store, Status.SCHEDULED, T0 + timedelta(minutes=15))  # reserved from +5
    await insert(any_store, Status.SCHEDULED, T0 + timedelta(minutes=50))  # reserved from +40
    await insert(any_store, Status.RECORDING)
    counts = await read_counts(any_store, T0, lead)
    assert counts.reserved == {"15m": 1, "1h": 2, "24h": 2}
    assert counts.reserved_within_lead == 1
    assert counts.running == 1
    assert counts.bots_by_status[Status.SCHEDULED] == 2


async def test_a_sql_store_counts_its_transactions_and_round_trips(any_store: Any) -> None:
    """``meetbot_db_transactions_total`` / ``meetbot_db_statements_total`` (sizing the database)."""
    metrics = Metrics()
    before = await metrics.collect(any_store, FakeLauncher(), T0, timedelta(minutes=10))
    await insert(any_store, Status.RECORDING)
    after = await metrics.collect(any_store, FakeLauncher(), T0, timedelta(minutes=10))
    if not hasattr(any_store, "statements"):  # the memory store sends nothing anywhere
        assert b"meetbot_db_statements_total 0.0" in after
        return
    value = {
        line.split()[0]: float(line.split()[1])
        for text in (before, after)
        for line in text.decode().splitlines()
        if line.startswith("meetbot_db_")
    }
    assert value["meetbot_db_statements_total"] >= 3  # the scrape's reads and the insert
    assert value["meetbot_db_transactions_total"] >= 2

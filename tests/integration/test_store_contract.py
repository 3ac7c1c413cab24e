"""The Store contract, run against MemoryStore, SqlStore on SQLite and SqlStore on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from meetbot.contract.lifecycle import BotState, Status, StopReason, SubStatus
from meetbot.contract.models import (
    ApiKey,
    Bot,
    BotKind,
    IdempotencyRecord,
    MeetingRef,
    OutboxEvent,
    Platform,
    RecordingOptions,
    StatusChange,
    StopOptions,
)
from meetbot.contract.reports import Caption, ParticipantJoined
from meetbot.control.ports import BotQuery, Store
from meetbot.errors import Conflict, DuplicateBot, IdempotencyKeyReused, NotFound

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))
WS = "ws_1"


def make_bot(**changes: Any) -> Bot:
    bot = Bot(
        id=str(uuid.uuid4()),
        workspace_id=WS,
        meeting=MeetingRef(Platform.GOOGLE_MEET, "https://meet.google.com/abc-defg-hij", "abc"),
        bot_name="Notetaker",
        join_at=None,
        kind=BotKind.ADHOC,
        status=Status.BOOTING,
        metadata={},
        stop_options=StopOptions(),
        transcription_model="whisper-base",
        created_at=T0,
        updated_at=T0,
    )
    return bot.evolve(**changes)


def scheduled(join_at: datetime, **changes: Any) -> Bot:
    return make_bot(join_at=join_at, kind=BotKind.SCHEDULED, status=Status.SCHEDULED, **changes)


async def insert(store: Store, *bots: Bot) -> list[Bot]:
    async with store.transaction() as tx:
        return [await tx.bots.insert(bot) for bot in bots]


async def get(store: Store, bot_id: str) -> Bot | None:
    async with store.transaction(write=False) as tx:
        return await tx.bots.get(bot_id)


async def update(store: Store, bot: Bot) -> None:
    async with store.transaction() as tx:
        await tx.bots.update(bot)


async def listed(store: Store, workspace_id: str = WS, **query: Any) -> list[Bot]:
    async with store.transaction(write=False) as tx:
        return await tx.bots.list(workspace_id, BotQuery(**query))


def ids(bots: list[Bot]) -> list[str]:
    return [bot.id for bot in bots]


# --- bots: round trip -----------------------------------------------------------------------


async def test_insert_get_round_trips_every_field(any_store: Store) -> None:
    at = datetime(2026, 3, 1, 14, 0, 0, 987654, tzinfo=CEST)  # stored as UTC
    bot = make_bot(
        meeting=MeetingRef(Platform.ZOOM, "https://zoom.us/j/123", "123", passcode="s3cret"),
        bot_name="Rec",
        join_at=at + timedelta(hours=1),
        kind=BotKind.SCHEDULED,
        status=Status.JOINING,
        metadata={"customer": "acme", "a.b": "c", 'q"uote': "ü"},
        stop_options=StopOptions(1, 0, 3, 4, 0),
        transcription_model="whisper-large",
        created_at=at,
        updated_at=at + timedelta(seconds=1),
        sub_status=SubStatus.WAITING_ROOM,
        stop_reason=StopReason.KICKED,
        sub_code="code",
        detection_retries=2,
        deduplication_key="dedup",
        webhook_url="https://hooks.example/x",
        webhook_secret="whsec",
        recording=RecordingOptions(audio_format="wav", video=True),
        runner_token_hash="hash",
        leave_requested_at=at + timedelta(minutes=1),
        last_seen_at=at + timedelta(minutes=2),
        dispatched_at=at + timedelta(minutes=3),
        expected_duration=45,
        status_changes=(
            StatusChange(Status.BOOTING, None, None, None, at),
            StatusChange(Status.JOINING, SubStatus.WAITING_ROOM, StopReason.KICKED, "c", at),
        ),
    )
    (inserted,) = await insert(any_store, bot)
    assert isinstance(inserted.seq, int)
    assert inserted == bot.evolve(seq=inserted.seq)

    got = await get(any_store, bot.id)
    assert got == inserted
    assert got is not None
    times = [got.join_at, got.created_at, got.updated_at, got.leave_requested_at]
    times += [got.last_seen_at, got.dispatched_at, *(c.at for c in got.status_changes)]
    for value in times:
        assert value is not None
        assert value.utcoffset() == timedelta(0)
    assert got.created_at.microsecond == 987654


async def test_get_is_scoped_to_the_workspace(any_store: Store) -> None:
    (bot,) = await insert(any_store, make_bot())
    async with any_store.transaction(write=False) as tx:
        assert await tx.bots.get(bot.id, workspace_id=WS) == bot
        assert await tx.bots.get(bot.id, workspace_id="other") is None
        assert await tx.bots.get("missing") is None


async def test_seq_increases(any_store: Store) -> None:
    bots = await insert(any_store, make_bot(), make_bot(), make_bot())
    seqs = [bot.seq or 0 for bot in bots]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3


async def test_insert_of_an_existing_id_conflicts(any_store: Store) -> None:
    (bot,) = await insert(any_store, make_bot())
    with pytest.raises(Conflict):
        await insert(any_store, make_bot(id=bot.id))


# --- bots: update, touch, delete ------------------------------------------------------------


async def test_update_writes_fields_and_appends_status_changes(any_store: Store) -> None:
    (bot,) = await insert(any_store, make_bot().with_state(BotState(Status.BOOTING), T0))
    later = T0 + timedelta(seconds=5)
    changed = (
        bot.with_state(BotState(Status.JOINING), later)
        .with_state(BotState(Status.JOINING, sub_status=SubStatus.WAITING_ROOM), later)
        .evolve(metadata={"k": "v"}, runner_token_hash="h", dispatched_at=later)
    )
    await update(any_store, changed)
    got = await get(any_store, bot.id)
    assert got == changed
    assert got is not None
    assert [c.status for c in got.status_changes] == [Status.BOOTING, *[Status.JOINING] * 2]

    # A stale copy (fewer changes) never erases stored history.
    await update(any_store, bot.evolve(bot_name="renamed"))
    got = await get(any_store, bot.id)
    assert got is not None
    assert got.bot_name == "renamed"
    assert got.status_changes == changed.status_changes


async def test_update_keeps_identity_and_creation_time(any_store: Store) -> None:
    (bot,) = await insert(any_store, make_bot())
    await update(any_store, bot.evolve(workspace_id="other", created_at=T0 + timedelta(days=1)))
    got = await get(any_store, bot.id)
    assert got is not None
    assert (got.workspace_id, got.created_at, got.seq) == (WS, T0, bot.seq)


async def test_update_of_a_missing_bot_is_not_found(any_store: Store) -> None:
    with pytest.raises(NotFound):
        await update(any_store, make_bot())


async def test_touch_sets_last_seen_only(any_store: Store) -> None:
    (bot,) = await insert(any_store, make_bot())
    seen = T0 + timedelta(minutes=1)
    async with any_store.transaction() as tx:
        await tx.bots.touch(bot.id, seen)
        await tx.bots.touch("missing", seen)
    assert await get(any_store, bot.id) == bot.evolve(last_seen_at=seen)


async def test_delete_removes_the_bot_and_its_history(any_store: Store) -> None:
    (bot,) = await insert(any_store, make_bot().with_state(BotState(Status.BOOTING), T0))
    async with any_store.transaction() as tx:
        await tx.bots.delete(bot.id)
        await tx.bots.delete("missing")
    assert await get(any_store, bot.id) is None
    assert await listed(any_store) == []
    # The id is free again, with no history left behind.
    (again,) = await insert(any_store, make_bot(id=bot.id))
    assert (await get(any_store, bot.id)) == again
    assert again.status_changes == ()


# --- bots: deduplication --------------------------------------------------------------------


async def test_duplicate_active_key_is_refused_with_the_existing_id(any_store: Store) -> None:
    (first,) = await insert(any_store, make_bot(deduplication_key="k"))
    async with any_store.transaction() as tx:
        with pytest.raises(DuplicateBot) as info:
            await tx.bots.insert(make_bot(deduplication_key="k"))
        assert info.value.bot_id == first.id
        assert info.value.body()["bot_id"] == first.id
        # The transaction is still usable after the refusal.
        other = await tx.bots.insert(make_bot(deduplication_key="other"))
        assert (await tx.bots.find_active_duplicate(WS, "k")) == first
    assert await get(any_store, other.id) is not None
    # Other workspaces and bots without a key are unaffected.
    await insert(any_store, make_bot(workspace_id="ws_2", deduplication_key="k"), make_bot())


async def test_terminal_bot_releases_its_key(any_store: Store) -> None:
    (first,) = await insert(any_store, make_bot(deduplication_key="k"))
    await update(any_store, first.with_state(BotState(Status.FAILED, sub_code="x"), T0))
    async with any_store.transaction(write=False) as tx:
        assert await tx.bots.find_active_duplicate(WS, "k") is None
    (second,) = await insert(any_store, make_bot(deduplication_key="k"))
    async with any_store.transaction(write=False) as tx:
        assert await tx.bots.find_active_duplicate(WS, "k") == second


async def test_insert_terminal_bot_with_a_taken_key_is_allowed(any_store: Store) -> None:
    await insert(any_store, make_bot(deduplication_key="k"))
    await insert(any_store, make_bot(deduplication_key="k", status=Status.FAILED))


async def test_reviving_a_bot_whose_key_was_taken_is_a_duplicate(any_store: Store) -> None:
    (first,) = await insert(any_store, make_bot(deduplication_key="k"))
    detected = first.with_state(BotState(Status.BOT_DETECTED), T0)
    await update(any_store, detected)
    (second,) = await insert(any_store, make_bot(deduplication_key="k"))
    with pytest.raises(DuplicateBot) as info:
        await update(any_store, detected.with_state(BotState(Status.BOOTING), T0))
    assert info.value.bot_id == second.id


# --- bots: list -----------------------------------------------------------------------------


async def test_list_is_newest_first_with_a_seq_cursor(any_store: Store) -> None:
    bots = await insert(any_store, *(make_bot() for _ in range(7)))
    await insert(any_store, make_bot(workspace_id="ws_2"))
    pages: list[list[str]] = []
    cursor: int | None = None
    while page := await listed(any_store, before_seq=cursor, limit=3):
        pages.append(ids(page))
        cursor = page[-1].seq
    assert pages == [ids(bots[::-1][i : i + 3]) for i in (0, 3, 6)]
    assert await listed(any_store, limit=0) == []


async def test_list_filters(any_store: Store) -> None:
    url = "https://zoom.us/j/999"
    zoom = MeetingRef(Platform.ZOOM, url, "999")
    a = scheduled(T0, metadata={"team": "red", "a.b": "1"})
    b = scheduled(T0 + timedelta(hours=1), metadata={"team": "red", 'q"k': "2"}, meeting=zoom)
    c = scheduled(T0 + timedelta(hours=2), metadata={"team": "blue"}, meeting=zoom)
    d = make_bot(metadata={"team": "red"})  # ad hoc: no join_at
    e = scheduled(T0, workspace_id="ws_2", metadata={"team": "red"})
    await insert(any_store, a, b, c, d, e)

    assert ids(await listed(any_store)) == [d.id, c.id, b.id, a.id]
    assert ids(await listed(any_store, status=Status.BOOTING)) == [d.id]
    assert ids(await listed(any_store, status=Status.SCHEDULED, limit=2)) == [c.id, b.id]
    # join_at_after is inclusive, join_at_before exclusive; bots without join_at never match.
    assert ids(await listed(any_store, join_at_after=T0 + timedelta(hours=1))) == [c.id, b.id]
    assert ids(await listed(any_store, join_at_before=T0 + timedelta(hours=1))) == [a.id]
    after, before = T0.astimezone(CEST), T0 + timedelta(hours=2)
    window = await listed(any_store, join_at_after=after, join_at_before=before)
    assert ids(window) == [b.id, a.id]
    assert ids(await listed(any_store, meeting_url=url)) == [c.id, b.id]
    assert ids(await listed(any_store, metadata={"team": "red"})) == [d.id, b.id, a.id]
    assert ids(await listed(any_store, metadata={"team": "red", "a.b": "1"})) == [a.id]
    assert ids(await listed(any_store, metadata={'q"k': "2"})) == [b.id]
    assert ids(await listed(any_store, metadata={"team": "green"})) == []
    assert ids(await listed(any_store, metadata={"team": "red"}, meeting_url=url)) == [b.id]
    assert ids(await listed(any_store, "ws_2")) == [e.id]


async def test_list_filters_by_platform_and_search(any_store: Store) -> None:
    zoom = MeetingRef(Platform.ZOOM, "https://zoom.us/j/999_1", "999")
    a = make_bot(bot_name="Weekly Sync")
    b = make_bot(meeting=zoom, bot_name="Notetaker")
    c = make_bot(bot_name="100%_done")
    e = make_bot(workspace_id="ws_2", meeting=zoom)
    await insert(any_store, a, b, c, e)

    assert ids(await listed(any_store, platform="zoom")) == [b.id]
    assert ids(await listed(any_store, platform="google_meet")) == [c.id, a.id]
    assert ids(await listed(any_store, search="weekly")) == [a.id]  # any case
    assert ids(await listed(any_store, search="ZOOM.US/J")) == [b.id]
    assert ids(await listed(any_store, search=a.id)) == [a.id]
    assert ids(await listed(any_store, search=a.id[:8])) == []  # an id only whole
    # LIKE's wildcards are plain characters
    assert ids(await listed(any_store, search="%_")) == [c.id]
    assert ids(await listed(any_store, search="9_1")) == [b.id]
    assert ids(await listed(any_store, search="9x1")) == []
    assert ids(await listed(any_store, search="notetaker", platform="zoom")) == [b.id]


async def test_list_returns_status_changes(any_store: Store) -> None:
    a = make_bot().with_state(BotState(Status.BOOTING), T0)
    b = a.evolve(id="b").with_state(BotState(Status.JOINING), T0)
    await insert(any_store, a, b, make_bot())
    changes = {bot.id: len(bot.status_changes) for bot in await listed(any_store)}
    assert sorted(changes.values()) == [0, 1, 2]
    assert changes[a.id] == 1


# --- bots: scheduling queries ---------------------------------------------------------------


async def test_due_for_dispatch_is_oldest_join_at_first(any_store: Store) -> None:
    late = scheduled(T0 + timedelta(minutes=5))
    early = scheduled(T0 - timedelta(minutes=5))
    exact = scheduled(T0)
    future = scheduled(T0 + timedelta(minutes=11))
    booting = make_bot(join_at=T0 - timedelta(hours=1))
    await insert(any_store, late, early, exact, future, booting)
    cutoff = T0 + timedelta(minutes=10)
    async with any_store.transaction() as tx:
        assert ids(await tx.bots.due_for_dispatch(cutoff, 10)) == [early.id, exact.id, late.id]
        assert ids(await tx.bots.due_for_dispatch(cutoff, 2)) == [early.id, exact.id]
        assert ids(await tx.bots.due_for_dispatch(T0, 10)) == [early.id, exact.id]
        assert await tx.bots.due_for_dispatch(cutoff, 0) == []


async def test_holding_capacity_reads_scheduled_in_range_and_running_everywhere(
    any_store: Store,
) -> None:
    early = scheduled(T0 - timedelta(minutes=1))
    first = scheduled(T0, workspace_id="ws_other")  # every workspace
    last = scheduled(T0 + timedelta(minutes=59, seconds=59))
    after = scheduled(T0 + timedelta(hours=1))  # the end is exclusive
    running = make_bot(status=Status.RECORDING, join_at=T0 + timedelta(days=3))
    booting = make_bot(workspace_id="ws_other")
    ended = make_bot(status=Status.FINISHED)
    processing = make_bot(status=Status.PROCESSING)
    await insert(any_store, early, first, last, after, running, booting, ended, processing)
    live = [Status.BOOTING, Status.RECORDING]
    end = T0 + timedelta(hours=1)
    async with any_store.transaction(write=False) as tx:
        found = await tx.bots.holding_capacity(T0, end, live)
        assert ids(found) == [first.id, last.id, running.id, booting.id]
        assert ids(await tx.bots.holding_capacity(T0, end, [])) == [first.id, last.id]
        assert found[0] == (await tx.bots.get(first.id))
        assert await tx.bots.count_holding_capacity(T0, end, live) == 4
        assert await tx.bots.count_holding_capacity(T0, end, []) == 2


async def test_lock_schedule_needs_a_write_transaction(any_store: Store) -> None:
    async with any_store.transaction() as tx:
        await tx.bots.lock_schedule()
        await tx.bots.lock_schedule()  # taken again in the same transaction: no wait
    async with any_store.transaction(write=False) as tx:
        with pytest.raises(RuntimeError):
            await tx.bots.lock_schedule()


async def test_the_schedule_lock_serialises_check_then_book(any_store: Store) -> None:
    """Ten writers each count the booked bots, then book one if fewer than three are booked:
    under the lock exactly three book (without it, PostgreSQL's READ COMMITTED lets several
    writers count the same bots and all book)."""
    window = (T0, T0 + timedelta(hours=1))

    async def book() -> None:
        async with any_store.transaction() as tx:
            await tx.bots.lock_schedule()
            booked = await tx.bots.holding_capacity(*window, [])
            await asyncio.sleep(0.01)
            if len(booked) < 3:
                await tx.bots.insert(scheduled(T0))

    await asyncio.gather(*(book() for _ in range(10)))
    async with any_store.transaction(write=False) as tx:
        assert len(await tx.bots.holding_capacity(*window, [])) == 3


async def test_in_statuses(any_store: Store) -> None:
    a, b, _ = await insert(any_store, make_bot(), make_bot(status=Status.RECORDING), scheduled(T0))
    async with any_store.transaction(write=False) as tx:
        found = await tx.bots.in_statuses({Status.BOOTING, Status.RECORDING})
        assert ids(found) == [a.id, b.id]
        assert ids(await tx.bots.in_statuses([Status.BOOTING, Status.RECORDING], 1)) == [a.id]
        assert await tx.bots.in_statuses([]) == []
        assert await tx.bots.in_statuses([Status.FINISHED]) == []


async def test_in_statuses_updated_since_sees_recent_rows_past_any_page(any_store: Store) -> None:
    """The pipeline's salvage scan asks for recently failed bots; older failures, however
    many, must not push the recent ones out of the page (they did with a limit of 1000)."""
    old = [make_bot(status=Status.FAILED) for _ in range(3)]
    recent = make_bot(status=Status.FAILED, updated_at=T0 + timedelta(minutes=5))
    await insert(any_store, *old, recent)
    since = T0 + timedelta(minutes=1)
    async with any_store.transaction(write=False) as tx:
        assert ids(await tx.bots.in_statuses([Status.FAILED], 1, updated_since=since)) == [
            recent.id
        ]
        assert ids(await tx.bots.in_statuses([Status.FAILED], updated_since=T0)) == ids(
            [*old, recent]
        )


async def test_silent_is_judged_on_the_last_sign_of_life(any_store: Store) -> None:
    """last_seen_at, else dispatched_at, else updated_at; only the asked statuses."""
    cutoff = T0 + timedelta(minutes=10)
    never_seen = make_bot()  # updated_at T0: silent
    seen_lately = make_bot(last_seen_at=cutoff + timedelta(seconds=1))
    seen_long_ago = make_bot(
        last_seen_at=T0, dispatched_at=T0, updated_at=cutoff + timedelta(minutes=1)
    )
    fresh_dispatch = make_bot(dispatched_at=cutoff)  # exactly at the cutoff: not silent yet
    ended = make_bot(status=Status.FINISHED)
    await insert(any_store, never_seen, seen_lately, seen_long_ago, fresh_dispatch, ended)
    async with any_store.transaction(write=False) as tx:
        silent = await tx.bots.silent([Status.BOOTING], cutoff)
        assert ids(silent) == [never_seen.id, seen_long_ago.id]
        assert ids(await tx.bots.silent([Status.BOOTING], cutoff, 1)) == [never_seen.id]
        assert await tx.bots.silent([], cutoff) == []


async def test_a_long_page_loads_whole_across_chunks(any_store: Store) -> None:
    """The SQL store turns rows into bots in chunks (yielding to the loop between them)."""
    many = await insert(any_store, *(make_bot() for _ in range(2 * 100 + 7)))
    async with any_store.transaction(write=False) as tx:
        found = await tx.bots.in_statuses([Status.BOOTING], limit=len(many))
    assert found == many


# --- transactions ---------------------------------------------------------------------------


class Boom(Exception):
    pass


async def test_a_transaction_that_raises_leaves_nothing(any_store: Store) -> None:
    (kept,) = await insert(any_store, make_bot())

    async def write_everything_then_fail() -> None:
        async with any_store.transaction() as tx:
            await tx.bots.insert(make_bot(deduplication_key="k"))
            await tx.bots.update(kept.evolve(bot_name="changed"))
            await tx.bots.touch(kept.id, T0)
            await tx.events.append(OutboxEvent("e1", WS, "bot.created", T0, {}))
            await tx.keys.create_workspace(WS, "Acme", T0)
            await tx.observations.append(kept.id, Caption(at=T0, speaker="s", text="t"))
            raise Boom

    with pytest.raises(Boom):
        await write_everything_then_fail()
    assert await listed(any_store) == [kept]
    async with any_store.transaction(write=False) as tx:
        assert await tx.events.list_after(WS, 0, 10) == []
        assert not await tx.keys.workspace_exists(WS)
        assert await tx.bots.find_active_duplicate(WS, "k") is None
        assert await tx.observations.list(kept.id) == []


async def test_read_only_transactions_refuse_writes(any_store: Store) -> None:
    (bot,) = await insert(any_store, make_bot())
    async with any_store.transaction(write=False) as tx:
        with pytest.raises(RuntimeError):
            await tx.bots.insert(make_bot())
        with pytest.raises(RuntimeError):
            await tx.bots.get(bot.id, for_update=True)
        with pytest.raises(RuntimeError):
            await tx.bots.due_for_dispatch(T0, 1)
        with pytest.raises(RuntimeError):
            await tx.events.append(OutboxEvent("e1", WS, "x", T0, {}))
        assert await tx.bots.get(bot.id) == bot


async def test_concurrent_read_then_write_transactions_all_succeed(any_store: Store) -> None:
    """50 tasks each read a counter and write it back +1: none fails, none is lost."""
    (bot,) = await insert(any_store, make_bot(detection_retries=0))

    async def increment() -> None:
        async with any_store.transaction() as tx:
            current = await tx.bots.get(bot.id, for_update=True)
            assert current is not None
            await asyncio.sleep(0)
            await tx.bots.update(current.evolve(detection_retries=current.detection_retries + 1))
            await tx.events.append(OutboxEvent(str(uuid.uuid4()), WS, "inc", T0, {}))

    await asyncio.gather(*(increment() for _ in range(50)))
    got = await get(any_store, bot.id)
    assert got is not None
    assert got.detection_retries == 50
    async with any_store.transaction(write=False) as tx:
        assert len(await tx.events.list_after(WS, 0, 100)) == 50


async def test_concurrent_dispatchers_never_claim_a_bot_twice(any_store: Store) -> None:
    bots = await insert(any_store, *(scheduled(T0 + timedelta(seconds=i)) for i in range(20)))
    claimed: list[str] = []

    async def dispatcher() -> None:
        while True:
            async with any_store.transaction() as tx:
                due: list[Bot] = await tx.bots.due_for_dispatch(T0 + timedelta(minutes=1), 3)
                for bot in due:
                    await tx.bots.update(bot.with_state(BotState(Status.BOOTING), T0))
                await asyncio.sleep(0.001)
            claimed.extend(ids(due))
            if not due:
                return

    await asyncio.gather(*(dispatcher() for _ in range(4)))
    assert sorted(claimed) == sorted(ids(bots))


# --- events ---------------------------------------------------------------------------------


async def test_events_append_and_list_after(any_store: Store) -> None:
    appended = []
    async with any_store.transaction() as tx:
        for i in range(5):
            event = OutboxEvent(
                id=f"e{i}",
                workspace_id=WS if i != 2 else "ws_2",
                type="bot.status_change",
                created_at=(T0 + timedelta(seconds=i)).astimezone(CEST),
                data={"i": i, "nested": {"list": [1, "x", None]}},
                bot_id="b1" if i else None,
            )
            appended.append(await tx.events.append(event))
            assert appended[-1] == dataclasses.replace(event, seq=appended[-1].seq)
    assert all(isinstance(e.seq, int) for e in appended)
    seqs = [e.seq or 0 for e in appended]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    mine = [e for e in appended if e.workspace_id == WS]
    async with any_store.transaction(write=False) as tx:
        assert await tx.events.list_after(WS, 0, 100) == mine
        assert await tx.events.list_after(WS, 0, 2) == mine[:2]
        first_seq = mine[1].seq
        assert first_seq is not None
        assert await tx.events.list_after(WS, first_seq, 100) == mine[2:]
        assert await tx.events.list_after(WS, max(seqs), 100) == []
        assert await tx.events.list_after("ws_2", 0, 100) == [appended[2]]
        assert (await tx.events.list_after(WS, 0, 1))[0].created_at.utcoffset() == timedelta(0)


async def test_event_ids_are_unique(any_store: Store) -> None:
    async with any_store.transaction() as tx:
        await tx.events.append(OutboxEvent("e1", WS, "x", T0, {}))
    with pytest.raises(Conflict):
        async with any_store.transaction() as tx:
            await tx.events.append(OutboxEvent("e1", WS, "x", T0, {}))


async def test_append_all_numbers_events_in_their_order(any_store: Store) -> None:
    async with any_store.transaction() as tx:
        (first,) = await tx.events.append_all([OutboxEvent("e0", WS, "x", T0, {})])
        batch = [OutboxEvent(f"e{i}", WS, "x", T0, {"i": i}, bot_id="b1") for i in range(1, 12)]
        kept = await tx.events.append_all(batch)
        assert await tx.events.append_all([]) == []
    assert [e.id for e in kept] == [e.id for e in batch]
    seqs = [first.seq, *(e.seq for e in kept)]
    assert all(isinstance(s, int) for s in seqs)
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 12
    async with any_store.transaction(write=False) as tx:
        assert await tx.events.list_after(WS, 0, 100) == [first, *kept]


async def test_append_all_refuses_a_batch_with_a_taken_id_as_a_whole(any_store: Store) -> None:
    async with any_store.transaction() as tx:
        await tx.events.append(OutboxEvent("e1", WS, "x", T0, {}))
    new, taken = OutboxEvent("e2", WS, "x", T0, {}), OutboxEvent("e1", WS, "x", T0, {})
    with pytest.raises(Conflict):
        async with any_store.transaction() as tx:
            await tx.events.append_all([new, taken])
    async with any_store.transaction(write=False) as tx:
        assert [e.id for e in await tx.events.list_after(WS, 0, 10)] == ["e1"]


# --- keys -----------------------------------------------------------------------------------


async def test_workspaces_and_keys(any_store: Store) -> None:
    key = ApiKey("k1", WS, "default", "hash1", "mb_abc", T0)
    async with any_store.transaction() as tx:
        assert await tx.keys.count() == 0
        await tx.keys.create_workspace(WS, "Acme", T0)
        with pytest.raises(Conflict):
            await tx.keys.create_workspace(WS, "Again", T0)
        await tx.keys.add(key)
        with pytest.raises(Conflict):
            await tx.keys.add(ApiKey("k2", WS, "dup hash", "hash1", "mb_x", T0))
        with pytest.raises(NotFound):
            await tx.keys.add(ApiKey("k3", "nowhere", "n", "hash3", "mb_y", T0))
    async with any_store.transaction(write=False) as tx:
        assert await tx.keys.workspace_exists(WS)
        assert not await tx.keys.workspace_exists("nowhere")
        assert await tx.keys.workspace_for("hash1") == WS
        assert await tx.keys.workspace_for("nope") is None
        assert await tx.keys.count() == 1


async def test_a_revoked_key_is_listed_and_authenticates_nothing(any_store: Store) -> None:
    async with any_store.transaction() as tx:
        await tx.keys.create_workspace(WS, "Acme", T0)
        await tx.keys.add(ApiKey("k2", WS, "second", "hash2", "mb_b", T0 + timedelta(seconds=1)))
        await tx.keys.add(ApiKey("k1", WS, "first", "hash1", "mb_a", T0))
    async with any_store.transaction() as tx:
        revoked = await tx.keys.revoke("k1", T0 + timedelta(hours=1))
        assert revoked is not None
        assert revoked.revoked_at == T0 + timedelta(hours=1)
        again = await tx.keys.revoke("k1", T0 + timedelta(hours=2))  # the first time stays
        assert again is not None
        assert again.revoked_at == T0 + timedelta(hours=1)
        assert await tx.keys.revoke("nope", T0) is None
    async with any_store.transaction(write=False) as tx:
        assert await tx.keys.workspace_for("hash1") is None
        assert await tx.keys.workspace_for("hash2") == WS
        listed = await tx.keys.list_keys()
        assert [(k.id, k.revoked_at) for k in listed] == [
            ("k1", T0 + timedelta(hours=1)),
            ("k2", None),
        ]
        assert listed[1] == ApiKey("k2", WS, "second", "hash2", "mb_b", T0 + timedelta(seconds=1))
        assert await tx.keys.count() == 2
    with pytest.raises(RuntimeError, match="write=True"):
        async with any_store.transaction(write=False) as tx:
            await tx.keys.revoke("k2", T0)


# --- idempotency ----------------------------------------------------------------------------


async def test_idempotency_records(any_store: Store) -> None:
    old = IdempotencyRecord(WS, "key-1", "rh", 201, b'{"id": "x"}\x00\xff', T0)
    new = IdempotencyRecord(WS, "key-2", "rh2", 200, b"", T0 + timedelta(hours=2))
    other_ws = IdempotencyRecord("ws_2", "key-1", "rh3", 400, b"no", T0)
    async with any_store.transaction() as tx:
        for record in (old, new, other_ws):
            await tx.idempotency.put(record)
        with pytest.raises(IdempotencyKeyReused):
            await tx.idempotency.put(old)
    async with any_store.transaction(write=False) as tx:
        assert await tx.idempotency.get(WS, "key-1") == old
        assert await tx.idempotency.get("ws_2", "key-1") == other_ws
        assert await tx.idempotency.get(WS, "missing") is None
    async with any_store.transaction() as tx:
        assert await tx.idempotency.purge(T0 + timedelta(hours=1)) == 2
        assert await tx.idempotency.get(WS, "key-1") is None
        assert await tx.idempotency.get(WS, "key-2") == new
        assert await tx.idempotency.purge(T0) == 0


# --- observations ---------------------------------------------------------------------------


async def test_observations(any_store: Store) -> None:
    joined = ParticipantJoined(at=T0, participant_id="p1", name="Ann")
    said = Caption(at=T0 + timedelta(seconds=1), speaker="Ann", text="hello")
    async with any_store.transaction() as tx:
        await tx.observations.append("b1", joined)
        await tx.observations.append("b2", said)
        await tx.observations.append("b1", said)
        await tx.observations.append_all("b3", [said, joined, said])
        await tx.observations.append_all("b3", [])
    async with any_store.transaction(write=False) as tx:
        assert await tx.observations.list("b1") == [joined, said]
        assert await tx.observations.list("b3") == [said, joined, said]
        assert await tx.observations.list("b1", ["caption"]) == [said]
        assert await tx.observations.list("b1", []) == []
    async with any_store.transaction() as tx:
        await tx.observations.delete_for("b1")
        assert await tx.observations.list("b1") == []
        assert await tx.observations.list("b2") == [said]


# --- credentials ----------------------------------------------------------------------------


async def test_bot_credentials_round_trip(any_store: Store) -> None:
    (bot,) = await insert(
        any_store, make_bot(credentials_ciphertext="v1.abc", credential_kinds=("google", "zoom"))
    )
    got = await get(any_store, bot.id)
    assert got == bot
    await update(any_store, bot.evolve(credentials_ciphertext=None, credential_kinds=()))
    got = await get(any_store, bot.id)
    assert got is not None
    assert (got.credentials_ciphertext, got.credential_kinds) == (None, ())


async def test_workspace_credentials_put_get_replace_delete(any_store: Store) -> None:
    async with any_store.transaction(write=False) as tx:
        assert await tx.credentials.get(WS) is None
    async with any_store.transaction() as tx:
        await tx.credentials.put(WS, "v1.first", T0)
        await tx.credentials.put("ws_other", "v1.other", T0)
    async with any_store.transaction() as tx:
        assert await tx.credentials.get(WS) == "v1.first"
        await tx.credentials.put(WS, "v1.second", T0 + timedelta(seconds=1))
    async with any_store.transaction(write=False) as tx:
        assert await tx.credentials.get(WS) == "v1.second"
        assert await tx.credentials.get("ws_other") == "v1.other"
    async with any_store.transaction() as tx:
        await tx.credentials.delete(WS)
        await tx.credentials.delete("ws_missing")  # nothing to delete: no error
    async with any_store.transaction(write=False) as tx:
        assert await tx.credentials.get(WS) is None
        assert await tx.credentials.get("ws_other") == "v1.other"


async def test_workspace_credentials_roll_back_and_refuse_read_only(any_store: Store) -> None:
    async def put_then_fail() -> None:
        async with any_store.transaction() as tx:
            await tx.credentials.put(WS, "v1.x", T0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await put_then_fail()
    async with any_store.transaction(write=False) as tx:
        assert await tx.credentials.get(WS) is None
        with pytest.raises(RuntimeError, match="write=True"):
            await tx.credentials.put(WS, "v1.x", T0)
        with pytest.raises(RuntimeError, match="write=True"):
            await tx.credentials.delete(WS)

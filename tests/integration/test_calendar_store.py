"""The calendar repository's contract, the same on the memory store, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meetbot.control.calendars.models import (
    BotSettings,
    Calendar,
    CalendarEvent,
    CalendarKind,
    CalendarStatus,
)
from meetbot.control.calendars.repo import EventQuery
from meetbot.control.ports import Store

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _calendar(n: int, *, due: datetime | None = None) -> Calendar:
    return Calendar(
        id=f"cal-{n}",
        workspace_id="ws",
        kind=CalendarKind.ICS,
        config={"url": f"https://example.com/{n}.ics"},
        record=("external", "host"),
        bot_settings=BotSettings(bot_name="Notes", join_offset_seconds=30, metadata={"a": "b"}),
        secrets_ciphertext=None,
        status=CalendarStatus.CONNECTED,
        created_at=NOW,
        updated_at=NOW,
        next_sync_at=due,
        series_overrides={"s": False},
    )


def _event(n: int, calendar_id: str = "cal-1", *, key: str | None = "k1") -> CalendarEvent:
    return CalendarEvent(
        id=f"ev-{n}",
        calendar_id=calendar_id,
        workspace_id="ws",
        ical_uid=f"uid-{n}",
        recurrence_id="",
        start=NOW + timedelta(hours=n),
        end=NOW + timedelta(hours=n, minutes=30),
        title=f"Meeting {n}",
        meeting_url="https://meet.google.com/abc-defg-hij",
        platform="google_meet",
        meeting_key=key,
        is_deleted=False,
        will_record=True,
        rule="all",
        updated_at=NOW + timedelta(minutes=n),
        dirty=True,
        data={"attendees": [{"email": "a@b.c", "partstat": "ACCEPTED"}]},
    )


async def test_calendars_round_trip_list_due_and_delete(any_store: Store) -> None:
    async with any_store.transaction() as tx:
        one = await tx.calendars.insert(_calendar(1, due=NOW))
        await tx.calendars.insert(_calendar(2, due=NOW + timedelta(hours=1)))
        await tx.calendars.put_events([_event(1), _event(2)])
    assert one.seq is not None
    async with any_store.transaction(write=False) as tx:
        got = await tx.calendars.get("cal-1", workspace_id="ws")
        other_ws = await tx.calendars.get("cal-1", workspace_id="other")
        listed = await tx.calendars.list("ws")
        due = await tx.calendars.due(NOW, 10)
    assert got is not None
    assert got.evolve(seq=None) == _calendar(1, due=NOW)
    assert other_ws is None
    assert [c.id for c in listed] == ["cal-2", "cal-1"]
    assert [c.id for c in due] == ["cal-1"]
    async with any_store.transaction() as tx:
        await tx.calendars.update(got.evolve(cursor="c", status=CalendarStatus.SYNCING))
        await tx.calendars.delete("cal-2")
    async with any_store.transaction(write=False) as tx:
        updated = await tx.calendars.get("cal-1")
        gone = await tx.calendars.get("cal-2")
    assert updated is not None
    assert (updated.cursor, updated.status) == ("c", CalendarStatus.SYNCING)
    assert gone is None


async def test_events_upsert_link_dirty_keys_and_pages(any_store: Store) -> None:
    async with any_store.transaction() as tx:
        await tx.calendars.insert(_calendar(1))
        await tx.calendars.insert(_calendar(2))
        await tx.calendars.put_events([_event(1), _event(2, key="k2"), _event(3, "cal-2")])
    async with any_store.transaction(write=False) as tx:
        first = await tx.calendars.events("cal-1")
    seqs = {e.id: e.seq for e in first}
    async with any_store.transaction() as tx:
        await tx.calendars.put_events([first[0].evolve(title="Renamed")])  # keeps its seq
        await tx.calendars.link_bot(["ev-1", "ev-3"], "bot-1")
        await tx.calendars.clear_dirty(["ev-1"])
    async with any_store.transaction(write=False) as tx:
        events = {e.id: e for e in await tx.calendars.events("cal-1")}
        with_key = await tx.calendars.events_with_keys("ws", ["k1"])
        of_bot = await tx.calendars.events_of_bots(["bot-1"])
        page = await tx.calendars.page_events("cal-1", EventQuery(limit=1))
        after = await tx.calendars.page_events("cal-1", EventQuery(after_seq=page[0].seq))
        late = await tx.calendars.page_events(
            "cal-1", EventQuery(start_from=NOW + timedelta(hours=2))
        )
        updated = await tx.calendars.page_events(
            "cal-1", EventQuery(updated_after=NOW + timedelta(minutes=1))
        )
        one = await tx.calendars.get_event("cal-1", "ev-1")
        wrong_calendar = await tx.calendars.get_event("cal-2", "ev-1")
    assert events["ev-1"].seq == seqs["ev-1"]
    assert events["ev-1"].title == "Renamed"
    assert events["ev-1"].dirty is False
    assert events["ev-2"].dirty is True
    assert events["ev-1"].data == {"attendees": [{"email": "a@b.c", "partstat": "ACCEPTED"}]}
    assert sorted(e.id for e in with_key) == ["ev-1", "ev-3"]
    assert sorted(e.id for e in of_bot) == ["ev-1", "ev-3"]
    assert [e.id for e in page] == ["ev-1"]
    assert [e.id for e in after] == ["ev-2"]
    assert [e.id for e in late] == ["ev-2"]
    assert [e.id for e in updated] == ["ev-2"]
    assert one is not None
    assert one.start == NOW + timedelta(hours=1)
    assert wrong_calendar is None
    async with any_store.transaction() as tx:
        await tx.calendars.link_bots({"ev-2": "bot-2", "ev-3": "bot-3", "ev-1": None})
    async with any_store.transaction(write=False) as tx:
        linked = {e.id: e.bot_id for e in await tx.calendars.events_with_keys("ws", ["k1", "k2"])}
    assert linked == {"ev-1": None, "ev-2": "bot-2", "ev-3": "bot-3"}
    async with any_store.transaction() as tx:
        await tx.calendars.delete_events(["ev-2"])
        await tx.calendars.delete("cal-1")
    async with any_store.transaction(write=False) as tx:
        assert await tx.calendars.events("cal-1") == []
        assert [e.id for e in await tx.calendars.events("cal-2")] == ["ev-3"]

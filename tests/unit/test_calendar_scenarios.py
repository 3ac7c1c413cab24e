"""Calendars' scenarios on the memory store and fake providers (issue 15): one bot per meeting
across calendars, moves, link changes, cancellations, EXDATE, crash and retry, races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from harness.ics import feed, vevent
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import TERMINAL, Status
from meetbot.contract.models import Bot
from meetbot.control.calendars.models import CalendarKind
from meetbot.control.service import calendar_sync, calendars
from meetbot.control.service.calendars import CalendarSpec
from meetbot.testing.fake_calendars import FakeCalendarSources
from meetbot.testing.fakes import FixedClock
from meetbot.testing.memory_store import MemoryStore

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MEET = "https://meet.google.com/abc-defg-hij"


async def _plane() -> tuple[TestPlane, FakeCalendarSources]:
    plane = await build_test_plane(MemoryStore(), clock=FixedClock(NOW))
    sources = FakeCalendarSources()
    plane.services.calendar_sources = sources
    return plane, sources


async def _connect(plane: TestPlane, url: str, **spec: object) -> str:
    calendar = await calendars.connect(
        plane.services,
        plane.workspace_id,
        CalendarSpec(kind=CalendarKind.ICS, config={"url": url}, **spec),  # type: ignore[arg-type]
    )
    return calendar.id


async def _sync(plane: TestPlane, calendar_id: str) -> calendar_sync.SyncResult:
    return await calendar_sync.sync(plane.services, calendar_id)


async def _live_bots(plane: TestPlane) -> list[Bot]:
    async with plane.services.store.transaction(write=False) as tx:
        bots = await tx.bots.in_statuses([s for s in Status if s not in TERMINAL])
    return sorted(bots, key=lambda b: b.join_at or NOW)


async def test_one_meeting_in_three_calendars_gets_one_bot() -> None:
    plane, sources = await _plane()
    links = [MEET, MEET + "?authuser=1", MEET + "?hs=122&authuser=0"]
    ids = []
    for n, link in enumerate(links):
        sources.publish(f"https://cal/{n}", feed(vevent(f"uid-{n}", T, T + HOUR, location=link)))
        ids.append(await _connect(plane, f"https://cal/{n}"))
    for calendar_id in ids:
        assert (await _sync(plane, calendar_id)).outcome is calendar_sync.Outcome.SYNCED
    (bot,) = await _live_bots(plane)
    assert bot.join_at == T
    assert bot.status is Status.SCHEDULED
    async with plane.services.store.transaction(write=False) as tx:
        events = await tx.calendars.events_of_bots([bot.id])
    assert sorted(e.calendar_id for e in events) == sorted(ids)


async def test_join_offset_and_move_patch_the_same_bot() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    from meetbot.control.calendars.models import BotSettings

    cal = await _connect(plane, "https://cal/a", bot_settings=BotSettings(join_offset_seconds=60))
    await _sync(plane, cal)
    (bot,) = await _live_bots(plane)
    assert bot.join_at == T - timedelta(seconds=60)
    moved = T + 2 * HOUR
    sources.publish("https://cal/a", feed(vevent("m", moved, moved + HOUR, location=MEET)))
    await _sync(plane, cal)
    (after,) = await _live_bots(plane)
    assert after.id == bot.id
    assert after.join_at == moved - timedelta(seconds=60)


async def test_link_change_changes_the_bots_meeting_url() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    cal = await _connect(plane, "https://cal/a")
    await _sync(plane, cal)
    (bot,) = await _live_bots(plane)
    other = "https://meet.google.com/xyz-wxyz-xyz"
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, description=f"Join {other}")))
    await _sync(plane, cal)
    (after,) = await _live_bots(plane)
    assert after.id == bot.id
    assert after.meeting.url == other


SERIES_START = T
DAILY = "FREQ=DAILY;COUNT=3"


def _series(*extra: str, exdates: tuple[datetime, ...] = ()) -> str:
    master = vevent(
        "s", SERIES_START, SERIES_START + HOUR, location=MEET, rrule=DAILY, exdates=exdates
    )
    return feed(master, *extra)


async def test_series_cancelled_moved_and_exdate_occurrences() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", _series())
    cal = await _connect(plane, "https://cal/a")
    await _sync(plane, cal)
    bots = await _live_bots(plane)
    assert [b.join_at for b in bots] == [T, T + 24 * HOUR, T + 48 * HOUR]

    # The second occurrence is cancelled (an override with STATUS:CANCELLED, no link).
    day2 = T + 24 * HOUR
    cancelled = vevent("s", day2, day2 + HOUR, recurrence_id=day2, status="CANCELLED")
    sources.publish("https://cal/a", _series(cancelled))
    await _sync(plane, cal)
    assert [b.join_at for b in await _live_bots(plane)] == [T, T + 48 * HOUR]

    # The third is moved two hours later: its bot moves (the override has no link of its own).
    day3 = T + 48 * HOUR
    moved = vevent("s", day3 + 2 * HOUR, day3 + 3 * HOUR, recurrence_id=day3)
    sources.publish("https://cal/a", _series(cancelled, moved))
    await _sync(plane, cal)
    after = await _live_bots(plane)
    assert [b.join_at for b in after] == [T, day3 + 2 * HOUR]
    assert after[1].id == bots[2].id

    # An EXDATE removes the first.
    sources.publish("https://cal/a", _series(cancelled, moved, exdates=(T,)))
    await _sync(plane, cal)
    assert [b.join_at for b in await _live_bots(plane)] == [day3 + 2 * HOUR]


async def test_deleted_event_removes_its_bot_but_not_a_copy_still_wanted() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("a", T, T + HOUR, location=MEET)))
    sources.publish("https://cal/b", feed(vevent("b", T, T + HOUR, location=MEET)))
    a, b = await _connect(plane, "https://cal/a"), await _connect(plane, "https://cal/b")
    await _sync(plane, a)
    await _sync(plane, b)
    (bot,) = await _live_bots(plane)
    sources.publish("https://cal/a", feed())
    await _sync(plane, a)
    assert [x.id for x in await _live_bots(plane)] == [bot.id]  # b still wants it
    await calendars.delete(plane.services, plane.workspace_id, b)
    assert await _live_bots(plane) == []


async def test_rules_and_overrides() -> None:
    plane, sources = await _plane()
    ext = vevent(
        "ext",
        T,
        T + HOUR,
        location=MEET,
        organizer="me@acme.com",
        attendees=(("me@acme.com", "ACCEPTED"), ("them@other.org", "NEEDS-ACTION")),
    )
    internal_link = "https://meet.google.com/int-erna-lll"
    internal = vevent(
        "int",
        T + 3 * HOUR,
        T + 4 * HOUR,
        location=internal_link,
        organizer="me@acme.com",
        attendees=(("me@acme.com", "ACCEPTED"), ("you@acme.com", "ACCEPTED")),
    )
    sources.publish("https://cal/a", feed(ext, internal))
    cal = await _connect(plane, "https://cal/a", record=("external", "host"), secrets={})
    async with plane.services.store.transaction() as tx:
        stored = await tx.calendars.get(cal)
        assert stored is not None
        await tx.calendars.update(
            stored.evolve(config={**stored.config, "owner_email": "me@acme.com"})
        )
    await _sync(plane, cal)
    (bot,) = await _live_bots(plane)
    assert bot.meeting.url == MEET
    page, _ = await calendars.list_events(
        plane.services, plane.workspace_id, cal, calendars.EventQuery()
    )
    rules = {e.ical_uid: (e.will_record, e.rule) for e in page}
    assert rules == {"ext": (True, "conditions"), "int": (False, "not:external")}
    # Override one occurrence on: it gets a bot at once; off again: the bot goes.
    int_event = next(e for e in page if e.ical_uid == "int")
    updated = await calendars.update_event(
        plane.services, plane.workspace_id, cal, int_event.id, record=True
    )
    assert updated.will_record
    assert updated.rule == "override"
    assert updated.bot_id
    assert len(await _live_bots(plane)) == 2
    await calendars.update_event(
        plane.services, plane.workspace_id, cal, int_event.id, record=False
    )
    assert len(await _live_bots(plane)) == 1
    # record_series false on the external one's series: its bot goes too.
    ext_event = next(e for e in page if e.ical_uid == "ext")
    await calendars.update_event(
        plane.services, plane.workspace_id, cal, ext_event.id, record_series=False
    )
    assert await _live_bots(plane) == []


async def test_twenty_syncs_racing_make_one_sync_and_one_bot() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    cal = await _connect(plane, "https://cal/a")
    results = await asyncio.gather(*(_sync(plane, cal) for _ in range(20)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(calendar_sync.Outcome.SYNCED) >= 1
    assert set(outcomes) <= {calendar_sync.Outcome.SYNCED, calendar_sync.Outcome.BUSY}
    assert len(await _live_bots(plane)) == 1


async def test_unreadable_calendar_shows_why_and_keeps_its_bots() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    cal = await _connect(plane, "https://cal/a")
    await _sync(plane, cal)
    sources.publish("https://cal/a", "this is not a calendar")
    result = await _sync(plane, cal)
    assert result.outcome is calendar_sync.Outcome.FAILED
    shown = await calendars.get(plane.services, plane.workspace_id, cal)
    assert shown.status.value == "disconnected"
    assert shown.status_reason
    assert shown.status_reason.startswith("malformed")
    assert len(await _live_bots(plane)) == 1


async def test_calendar_deleted_while_its_bot_boots_leaves_the_call() -> None:
    plane, sources = await _plane()
    soon = NOW + timedelta(minutes=5)  # within the scheduled threshold: an ad-hoc bot boots
    sources.publish("https://cal/a", feed(vevent("m", soon, soon + HOUR, location=MEET)))
    cal = await _connect(plane, "https://cal/a")
    await _sync(plane, cal)
    (bot,) = await _live_bots(plane)
    assert bot.status is Status.BOOTING
    await calendars.delete(plane.services, plane.workspace_id, cal)
    async with plane.services.store.transaction(write=False) as tx:
        after = await tx.bots.get(bot.id)
    assert after is not None
    assert after.leave_requested_at is not None


@pytest.mark.parametrize("status", ["CANCELLED"])
async def test_a_cancelled_single_event_gets_no_bot(status: str) -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET, status=status)))
    cal = await _connect(plane, "https://cal/a")
    await _sync(plane, cal)
    assert await _live_bots(plane) == []


async def test_a_move_the_seed_rules_refuse_replaces_the_bot() -> None:
    plane, sources = await _plane()
    soon = NOW + timedelta(minutes=5)  # an ad-hoc bot boots at once
    sources.publish("https://cal/a", feed(vevent("m", soon, soon + HOUR, location=MEET)))
    cal = await _connect(plane, "https://cal/a")
    await _sync(plane, cal)
    (old,) = await _live_bots(plane)
    later = soon + timedelta(minutes=3)  # within the threshold: PATCH join_at is refused
    sources.publish("https://cal/a", feed(vevent("m", later, later + HOUR, location=MEET)))
    await _sync(plane, cal)
    async with plane.services.store.transaction(write=False) as tx:
        before = await tx.bots.get(old.id)
    assert before is not None
    assert before.leave_requested_at is not None  # the old one leaves ...
    new = [b for b in await _live_bots(plane) if b.id != old.id and b.leave_requested_at is None]
    assert [b.deduplication_key for b in new] == [
        f"calendar:google_meet:abc-defg-hij@{later:%Y-%m-%dT%H:%MZ}"
    ]


async def test_an_event_without_a_start_is_shown_and_the_rest_synced() -> None:
    plane, sources = await _plane()
    no_start = "BEGIN:VEVENT\r\nUID:ns\r\nSUMMARY:When?\r\nLOCATION:" + MEET + "\r\nEND:VEVENT"
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET), no_start))
    cal = await _connect(plane, "https://cal/a")
    result = await _sync(plane, cal)  # the whole expansion raised KeyError before
    assert result.outcome is calendar_sync.Outcome.SYNCED
    assert len(await _live_bots(plane)) == 1
    shown = await calendars.get(plane.services, plane.workspace_id, cal)
    assert shown.status.value == "connected"
    assert shown.status_reason == "skipped: 1 event(s) without a start time (ns)"
    await _sync(plane, cal)  # unchanged: still shown
    shown = await calendars.get(plane.services, plane.workspace_id, cal)
    assert shown.status_reason == "skipped: 1 event(s) without a start time (ns)"


async def test_a_new_join_offset_moves_the_scheduled_bots() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    cal = await _connect(plane, "https://cal/a")
    await _sync(plane, cal)
    (bot,) = await _live_bots(plane)
    from meetbot.control.calendars.models import BotSettings

    patch = calendars.CalendarPatch(bot_settings=BotSettings(join_offset_seconds=300))
    await calendars.update(plane.services, plane.workspace_id, cal, patch)
    await _sync(plane, cal)
    (after,) = await _live_bots(plane)
    assert after.id == bot.id
    assert after.join_at == T - timedelta(seconds=300)


async def test_webhooks_sync_events_with_last_updated_and_update_on_status_changes() -> None:
    plane, sources = await _plane()
    sources.publish("https://cal/a", feed(vevent("m", T, T + HOUR, location=MEET)))
    cal = await _connect(plane, "https://cal/a")

    async def emitted() -> list[tuple[str, dict[str, object]]]:
        async with plane.services.store.transaction(write=False) as tx:
            events = await tx.events.list_after(plane.workspace_id, 0, 1000)
        return [(e.type, dict(e.data)) for e in events if e.type.startswith("calendar.")]

    await _sync(plane, cal)
    assert await emitted() == [
        ("calendar.sync_events", {"calendar_id": cal, "last_updated": "2026-01-01T12:00:00.000Z"})
    ]  # connected it was, connected it stays: no calendar.update
    await _sync(plane, cal)  # nothing changed, same status: nothing emitted
    assert len(await emitted()) == 1
    sources.publish("https://cal/a", "this is not a calendar")
    await _sync(plane, cal)
    (kind, data) = (await emitted())[-1]
    assert kind == "calendar.update"
    assert data["status"] == "disconnected"
    assert str(data["reason"]).startswith("malformed")
    await _sync(plane, cal)  # the same failure again: no second calendar.update
    assert len(await emitted()) == 2

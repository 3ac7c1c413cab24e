"""Sync one calendar: list its provider's changes, store its occurrences, derive its bots.

Single-flight per calendar: a sync holds the lease ``calendar:<id>`` (another sync of the same
calendar meanwhile returns :attr:`Outcome.BUSY` at once). The order makes a crash harmless:

1. list from the saved cursor (nothing stored yet);
2. store the occurrences that changed, marked ``dirty`` (one transaction);
3. reconcile the bots of every dirty occurrence's meeting keys, new keys first, then clear
   ``dirty`` (:mod:`.calendar_bots`: idempotent);
4. save the new cursor, the status and ``calendar.sync_events`` (one transaction).

A crash before 4 leaves the old cursor: the retry lists the same changes again, finds them
stored, and reconciles what is still dirty. Absence means deletion only after a complete
listing (``Listing.complete``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from meetbot.control.calendars import rules
from meetbot.control.calendars.meeting_key import find_meeting, meeting_key
from meetbot.control.calendars.models import (
    Calendar,
    CalendarEvent,
    CalendarStatus,
    Occurrence,
)
from meetbot.control.calendars.source import Listing, SourceError, Watchable, Window
from meetbot.control.service import calendar_bots
from meetbot.control.service.core import Services, emit, new_id, new_token
from meetbot.control.webhooks import outbox
from meetbot.crypto import SecretBoxError
from meetbot.timefmt import iso

log = logging.getLogger("meetbot.control.service.calendar_sync")

LEASE_SECONDS = 300.0
RENEW_BEFORE = timedelta(days=1)
"""A push channel is replaced when it has less than this left."""
LOOKBACK = timedelta(days=1)
"""The window starts this long ago: a meeting under way keeps its occurrence (and bot)."""


class Outcome(StrEnum):
    SYNCED = "synced"
    BUSY = "busy"
    """Another sync of this calendar holds its lease."""
    FAILED = "failed"
    """The provider could not be read; the calendar shows why."""
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class SyncResult:
    outcome: Outcome
    changed: int = 0


def lease_name(calendar_id: str) -> str:
    return f"calendar:{calendar_id}"


def secrets_context(calendar_id: str) -> str:
    return f"calendar:{calendar_id}"


def event_id(calendar_id: str, uid: str, recurrence_id: str) -> str:
    digest = hashlib.sha256(f"{calendar_id}\n{uid}\n{recurrence_id}".encode()).hexdigest()
    return f"cev_{digest[:32]}"


async def sync(svc: Services, calendar_id: str) -> SyncResult:
    now = svc.clock.now()
    owner = new_id()
    name = lease_name(calendar_id)
    async with svc.store.transaction() as tx:
        calendar = await tx.calendars.get(calendar_id)
        if calendar is None:
            return SyncResult(Outcome.GONE)
        if not await tx.leases.acquire(name, owner, now + timedelta(seconds=LEASE_SECONDS), now):
            return SyncResult(Outcome.BUSY)
        await tx.calendars.update(calendar.evolve(status=CalendarStatus.SYNCING))
    try:
        return await _sync_held(svc, calendar)
    except Exception as exc:
        # A bug or an outage mid-sync: the cursor stays, the calendar says so and is polled
        # again later instead of staying "syncing" (and due) for ever.
        with contextlib.suppress(Exception):
            detail = f"{type(exc).__name__}: {exc}"
            await _finish(svc, calendar, None, CalendarStatus.DISCONNECTED, "error", detail)
        raise
    finally:
        async with svc.store.transaction() as tx:
            await tx.leases.release(name, owner)


def _window(svc: Services, now: datetime) -> Window:
    return Window(now - LOOKBACK, now + timedelta(days=svc.settings.calendar_horizon_days))


async def _sync_held(svc: Services, calendar: Calendar) -> SyncResult:
    now = svc.clock.now()
    try:
        if svc.calendar_sources is None:
            raise SourceError("this server reads no calendars")
        source = svc.calendar_sources.open(calendar, _secrets(svc, calendar))
        listing = await source.list(calendar.cursor, _window(svc, now))
    except SourceError as exc:
        await _finish(svc, calendar, None, CalendarStatus.DISCONNECTED, exc.reason, exc.detail)
        return SyncResult(Outcome.FAILED)
    if isinstance(source, Watchable):
        await _ensure_channel(svc, calendar, source)
    changed = 0 if listing.unchanged else await _store(svc, calendar, listing, now)
    failed = await _reconcile_dirty(svc, calendar)
    reason, detail = None, None
    if listing.skipped:  # shown; the rest of the calendar is synced as usual
        reason = "skipped"
        shown = ", ".join(listing.skipped[:5])
        detail = f"{len(listing.skipped)} event(s) without a start time ({shown})"
    previous = calendar.status_reason or ""
    if listing.unchanged and previous.startswith("skipped: "):  # still true: nothing changed
        reason, detail = "skipped", previous.removeprefix("skipped: ")
    kept = None if failed else listing  # failed: keep the old cursor, list these again
    await _finish(svc, calendar, kept, CalendarStatus.CONNECTED, reason, detail, changed)
    return SyncResult(Outcome.SYNCED, changed)


def push_address(svc: Services, calendar: Calendar) -> str:
    base = svc.settings.effective_public_url.rstrip("/")
    return f"{base}/api/v1/calendars/push/{calendar.kind.value}/"


def push_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _ensure_channel(svc: Services, calendar: Calendar, source: Watchable) -> None:
    """Open a push channel, or a new one before the current one expires (Google does not
    renew them). A failure is logged: polling still catches every change."""
    now = svc.clock.now()
    push = calendar.config.get("push") or {}
    expires = push.get("expires_at")
    if expires and datetime.fromisoformat(expires) - now > RENEW_BEFORE:
        return
    token = new_token()
    try:
        channel = await source.watch(
            push_address(svc, calendar), f"{calendar.id}~{new_id()}", token
        )
    except SourceError as exc:
        log.warning("calendar %s: no push channel: %s", calendar.id, exc.detail)
        return
    state = {
        "channel_id": channel.id,
        "resource_id": channel.resource_id,
        "expires_at": channel.expires_at.isoformat(),
        "token_hash": push_token_hash(token),
    }
    async with svc.store.transaction() as tx:
        current = await tx.calendars.get(calendar.id, for_update=True)
        if current is not None:
            await tx.calendars.update(current.evolve(config={**current.config, "push": state}))
    if push.get("channel_id"):  # the old one: its notifications would be refused anyway
        await _unwatch(calendar, source, push)
    if current is None:  # deleted meanwhile: its delete saw no channel to stop
        await _unwatch(calendar, source, state)


async def stop_channel(svc: Services, calendar: Calendar) -> None:
    """Stop a calendar's push channel (it is being deleted); a failure is logged (the
    channel then expires, its notifications refused meanwhile)."""
    push = calendar.config.get("push") or {}
    if not push.get("channel_id") or svc.calendar_sources is None:
        return
    try:
        source = svc.calendar_sources.open(calendar, _secrets(svc, calendar))
    except SourceError as exc:
        log.warning("calendar %s: push channel not stopped: %s", calendar.id, exc.detail)
        return
    if isinstance(source, Watchable):
        await _unwatch(calendar, source, push)


async def _unwatch(calendar: Calendar, source: Watchable, push: Mapping[str, Any]) -> None:
    try:
        await source.unwatch(str(push["channel_id"]), str(push.get("resource_id") or ""))
    except SourceError as exc:
        log.warning("calendar %s: push channel not stopped: %s", calendar.id, exc.detail)


async def push_received(svc: Services, channel_id: str, token: str, *, renew: bool = False) -> bool:
    """A provider's notification: the channel's calendar syncs now (within a second, by the
    worker); with ``renew`` (the provider removed the channel or wants it authorised again)
    that sync opens a new channel. ``False`` (nothing happens) unless the channel and its
    token are the calendar's."""
    calendar_id = channel_id.split("~", 1)[0]
    async with svc.store.transaction(write=renew) as tx:
        calendar = await tx.calendars.get(calendar_id, for_update=renew)
        push = (calendar.config.get("push") or {}) if calendar else {}
        if not push or push.get("channel_id") != channel_id or calendar is None:
            return False
        if not hmac.compare_digest(str(push.get("token_hash")), push_token_hash(token)):
            return False
        if renew:
            expired = {**push, "expires_at": svc.clock.now().isoformat()}
            await tx.calendars.update(calendar.evolve(config={**calendar.config, "push": expired}))
    svc.reactions.calendar_due(calendar_id)
    return True


def _secrets(svc: Services, calendar: Calendar) -> dict[str, Any]:
    if not calendar.secrets_ciphertext:
        return {}
    if svc.secret_box is None:
        raise SourceError("this server has no secret to open the calendar's credentials")
    try:
        return svc.secret_box.open_json(calendar.secrets_ciphertext, secrets_context(calendar.id))
    except SecretBoxError as exc:
        raise SourceError(f"the calendar's credentials cannot be decrypted: {exc}") from None


def derive(
    svc: Services,
    calendar: Calendar,
    occ: Occurrence,
    old: CalendarEvent | None,
    now: datetime,
) -> CalendarEvent:
    """The stored row of ``occ``: its link, meeting key and the rules' decision."""
    if occ.cancelled and occ.start is None and old is not None:
        # A cancellation that names the occurrence only (Google's id-only items): the
        # occurrence keeps what was known of it, now deleted.
        occ = dataclasses.replace(
            occ,
            start=old.start,
            end=old.end,
            title=occ.title or old.title,
            links=(old.meeting_url,),
        )
    meeting = find_meeting(list(occ.links), svc.settings.self_hosted_meeting_host_list)
    key = meeting_key(meeting.room, occ.start) if meeting and occ.start else None
    override = old.record_override if old else None
    decision = rules.decide(
        calendar.record,
        occ,
        has_link=meeting is not None,
        owner_email=calendar.owner_email,
        override=override,
        series_override=calendar.series_overrides.get(occ.ical_uid),
    )
    data = {
        "organizer": occ.organizer,
        "attendees": [{"email": a.email, "partstat": a.partstat} for a in occ.attendees],
        "recurring": occ.recurring,
        "confirmed": occ.confirmed,
    }
    shown = occ.icalendar_uid or (old.data.get("ical_uid") if old else None)
    if shown:  # a cancelled Google item carries its id only: the UID seen before stays
        data["ical_uid"] = shown
    return CalendarEvent(
        id=event_id(calendar.id, occ.ical_uid, occ.recurrence_id),
        calendar_id=calendar.id,
        workspace_id=calendar.workspace_id,
        ical_uid=occ.ical_uid,
        recurrence_id=occ.recurrence_id,
        start=occ.start,
        end=occ.end,
        title=occ.title,
        meeting_url=meeting.ref.url if meeting else None,
        platform=meeting.ref.platform.value if meeting else None,
        meeting_key=key,
        is_deleted=occ.cancelled,
        will_record=decision.will_record,
        rule=decision.rule,
        record_override=override,
        bot_id=old.bot_id if old else None,
        dirty=True,
        data=data,
        updated_at=now,
    )


def same(a: CalendarEvent, b: CalendarEvent) -> bool:
    """Equal but for bookkeeping (``updated_at``, ``seq``, ``dirty``, ``bot_id``)."""
    return a.evolve(updated_at=b.updated_at, seq=b.seq, dirty=b.dirty, bot_id=b.bot_id) == b


async def _store(svc: Services, calendar: Calendar, listing: Listing, now: datetime) -> int:
    async with svc.store.transaction(write=False) as tx:
        stored = {e.id: e for e in await tx.calendars.events(calendar.id)}
    window = _window(svc, now)
    puts: list[CalendarEvent] = []
    seen: set[str] = set()
    for occ in listing.occurrences:
        old = stored.get(event_id(calendar.id, occ.ical_uid, occ.recurrence_id))
        row = derive(svc, calendar, occ, old, now)
        seen.add(row.id)
        if old is None or not same(row, old):
            puts.append(row)
    removed = set(listing.removed_uids)
    drop: list[str] = []
    for row in stored.values():
        if row.id in seen:
            continue
        if row.start is not None and row.start < window.start:
            drop.append(row.id)  # fell out of the window's past end: nothing to do for it
        elif row.is_deleted:
            continue
        elif listing.complete or row.ical_uid in removed:
            puts.append(row.evolve(is_deleted=True, dirty=True, updated_at=now))
    if puts or drop:
        async with svc.store.transaction() as tx:
            await tx.calendars.put_events(puts)
            await tx.calendars.delete_events(drop)
    return len(puts)


async def _reconcile_dirty(svc: Services, calendar: Calendar) -> list[str]:
    async with svc.store.transaction(write=False) as tx:
        dirty = [e for e in await tx.calendars.events(calendar.id) if e.dirty]
        old_bots = [await tx.bots.get(e.bot_id) for e in dirty if e.bot_id]
    new_keys = [e.meeting_key for e in dirty if e.meeting_key]
    old_keys = [b.deduplication_key for b in old_bots if b and b.deduplication_key]
    failed = set(await calendar_bots.reconcile(svc, calendar.workspace_id, new_keys + old_keys))
    done = [e.id for e in dirty if e.meeting_key not in failed]
    if done:
        async with svc.store.transaction() as tx:
            await tx.calendars.clear_dirty(done)
    return sorted(failed)


async def _finish(
    svc: Services,
    calendar: Calendar,
    listing: Listing | None,
    status: CalendarStatus,
    reason: str | None,
    detail: str | None,
    changed: int = 0,
) -> None:
    """Save the cursor (``listing``'s; ``None``: keep the old one), status and events."""
    now = svc.clock.now()
    async with svc.store.transaction() as tx:
        current = await tx.calendars.get(calendar.id, for_update=True)
        if current is None:
            return
        updated = current.evolve(
            status=status,
            status_reason=f"{reason}: {detail}" if reason else None,
            cursor=listing.cursor if listing is not None else current.cursor,
            last_synced_at=now if status is CalendarStatus.CONNECTED else current.last_synced_at,
            next_sync_at=now + timedelta(seconds=svc.settings.calendar_poll_seconds),
            updated_at=now,
        )
        await tx.calendars.update(updated)
        queued = 0
        if changed:
            event = outbox.calendar_event(
                outbox.CALENDAR_SYNC_EVENTS,
                calendar.workspace_id,
                calendar.id,
                now,
                {"last_updated": iso(now)},
            )
            queued += await emit(svc, tx, event)
        if (calendar.status, calendar.status_reason) != (status, updated.status_reason):
            data = {"status": status.value, "reason": updated.status_reason}
            event = outbox.calendar_event(
                outbox.CALENDAR_UPDATE, calendar.workspace_id, calendar.id, now, data
            )
            queued += await emit(svc, tx, event)
    if queued:
        svc.reactions.events_committed()

"""Calendars' bots are derived state: for each meeting key that some occurrence wants recorded,
exactly one non-terminal bot (issue 15).

:func:`reconcile` brings the bots of some meeting keys in line with the occurrences stored for
them, through the bots' own use cases (create, PATCH, DELETE, leave_call), so every rule of a
bot holds for a calendar's bot too. It reads what is stored and changes only what differs: run
twice, it does nothing the second time, which is what makes a crashed sync safe to redo. Two
syncs racing to create one meeting's bot cannot both succeed: the bot's ``deduplication_key``
is the meeting key, unique among non-terminal bots of a workspace (``uq_bots_dedup_active``);
the loser links the winner's bot.

A moved meeting (or a changed link) has a new key: the bot of its old key, if no other copy
still wants that key, is moved by PATCH (``join_at``, ``meeting_url``, the key): the seed's
rules apply, and when they refuse (too close to the start, already joining) the old bot is
removed and a new one created.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from meetbot import errors
from meetbot.contract.lifecycle import DISPATCHED, TERMINAL, Status
from meetbot.contract.models import Bot, MeetingRef, RecordingOptions, StopOptions
from meetbot.control.calendars.meeting_key import find_meeting, is_calendar_key
from meetbot.control.calendars.models import Calendar, CalendarEvent
from meetbot.control.ports import Tx
from meetbot.control.service import bots
from meetbot.control.service.core import Services
from meetbot.control.service.patches import BotPatch
from meetbot.unset import UNSET

log = logging.getLogger("meetbot.control.service.calendar_bots")


@dataclass(frozen=True, slots=True)
class _Want:
    key: str
    rows: list[CalendarEvent]
    calendar: Calendar
    first: CalendarEvent
    meeting: MeetingRef
    join_at: datetime


PREFETCH = 500
"""Keys read together before reconciling them (one read instead of one per key)."""


async def reconcile(svc: Services, workspace_id: str, keys: Iterable[str]) -> list[str]:
    """Reconcile each key in order (new keys before old ones: a move then PATCHes the bot);
    return the keys that failed (their rows stay dirty: the next sync tries again).

    The keys' occurrences are read in batches first: a key none of whose occurrences has a
    bot yet (a calendar's first sync: most keys) is created from that read and linked with
    the batch; any other key, and one whose create finds a bot, is read again on its own."""
    failed = []
    ordered = list(dict.fromkeys(keys))
    for start in range(0, len(ordered), PREFETCH):
        batch = ordered[start : start + PREFETCH]
        fresh = await _fresh_wants(svc, workspace_id, batch)
        links: dict[str, str | None] = {}
        try:
            for key in batch:
                try:
                    want = fresh.get(key)
                    bot = await _create(svc, want, known=False) if want else None
                    if want is None or bot is None:
                        await _reconcile_key(svc, workspace_id, key)
                    else:
                        links.update((r.id, bot.id) for r in want.rows)
                except errors.MeetbotError as exc:
                    log.warning("calendar bots: key %s: %s", key, exc.detail)
                    failed.append(key)
        finally:
            if links:
                async with svc.store.transaction() as tx:
                    await tx.calendars.link_bots(links)
    return failed


async def _fresh_wants(svc: Services, workspace_id: str, keys: list[str]) -> dict[str, _Want]:
    """The keys (of ``keys``) that are wanted, none of whose occurrences has a bot, and whose
    meeting has not started: each needs a new bot and nothing else (one read)."""
    async with svc.store.transaction(write=False) as tx:
        rows = await tx.calendars.events_with_keys(workspace_id, keys)
        calendars = await _calendars(tx, rows)
    by_key: dict[str, list[CalendarEvent]] = {}
    for row in rows:
        by_key.setdefault(row.meeting_key or "", []).append(row)
    now = svc.clock.now()
    fresh = {}
    for key, key_rows in by_key.items():
        if any(r.bot_id for r in key_rows):
            continue
        want = _want(svc, key, key_rows, calendars)
        if want is not None and want.first.start is not None and want.first.start > now:
            fresh[key] = want
    return fresh


async def _calendars(tx: Tx, rows: Iterable[CalendarEvent]) -> dict[str, Calendar]:
    found = {}
    for calendar_id in {r.calendar_id for r in rows if r.wants_bot()}:
        calendar = await tx.calendars.get(calendar_id)
        if calendar is not None:
            found[calendar_id] = calendar
    return found


async def _read(svc: Services, workspace_id: str, key: str) -> tuple[_Want | None, Bot | None]:
    async with svc.store.transaction(write=False) as tx:
        rows = await tx.calendars.events_with_keys(workspace_id, [key])
        bot = await tx.bots.find_active_duplicate(workspace_id, key)
        calendars = await _calendars(tx, rows)
    return _want(svc, key, rows, calendars), bot


def _want(
    svc: Services, key: str, rows: list[CalendarEvent], calendars: dict[str, Calendar]
) -> _Want | None:
    wanting = [
        r for r in rows if r.wants_bot() and r.start is not None and r.calendar_id in calendars
    ]
    if not wanting:
        return None
    first = min(wanting, key=lambda r: (r.start, r.seq or 0))
    found = find_meeting([first.meeting_url], svc.settings.self_hosted_meeting_host_list)
    if found is None or first.start is None:
        return None
    calendar = calendars[first.calendar_id]
    offset = timedelta(seconds=calendar.bot_settings.join_offset_seconds)
    return _Want(key, wanting, calendar, first, found.ref, first.start - offset)


async def _reconcile_key(svc: Services, workspace_id: str, key: str) -> None:
    want, bot = await _read(svc, workspace_id, key)
    if want is None:
        if bot is not None and is_calendar_key(bot.deduplication_key):
            await remove(svc, bot)
        return
    if bot is None:
        bot = await _move_or_create(svc, want)
    elif bot.status is Status.SCHEDULED and (
        bot.join_at != want.join_at or bot.meeting.url != want.meeting.url
    ):
        bot = await _patch(svc, bot, want) or bot
    if bot is not None:
        await _link(svc, want.rows, bot.id)


async def _still_wanted(svc: Services, workspace_id: str, key: str | None) -> bool:
    if key is None:
        return False
    async with svc.store.transaction(write=False) as tx:
        rows = await tx.calendars.events_with_keys(workspace_id, [key])
    return any(r.wants_bot() for r in rows)


async def _move_or_create(svc: Services, want: _Want) -> Bot | None:
    ws = want.calendar.workspace_id
    previous: list[Bot] = []
    if any(r.bot_id for r in want.rows):
        async with svc.store.transaction(write=False) as tx:
            previous = [
                b
                for b in [await tx.bots.get(i) for i in {r.bot_id for r in want.rows if r.bot_id}]
                if b is not None and b.status not in TERMINAL and b.deduplication_key != want.key
            ]
    for old in previous:
        if not is_calendar_key(old.deduplication_key):
            continue
        if await _still_wanted(svc, ws, old.deduplication_key):
            continue
        moved = await _patch(svc, old, want)
        if moved is not None:
            return moved
        await remove(svc, old)
    if want.first.start is None or want.first.start <= svc.clock.now():
        return None  # the meeting has started: no new bot for it
    return await _create(svc, want)


async def _patch(svc: Services, bot: Bot, want: _Want) -> Bot | None:
    """PATCH ``bot`` to the wanted time, link and key; ``None`` when the rules refuse."""
    patch = BotPatch(
        join_at=want.join_at if want.join_at != bot.join_at else UNSET,
        meeting_url=want.meeting.url if want.meeting.url != bot.meeting.url else UNSET,
        deduplication_key=want.key,
    )
    try:
        return await bots.update_bot(svc, bot.workspace_id, bot.id, patch)
    except (errors.UpdateBotFailed, errors.NotFound, errors.DuplicateBot) as exc:
        log.info("calendar bot %s not moved (%s): replaced", bot.id, exc.detail)
        return None


async def _create(svc: Services, want: _Want, *, known: bool = True) -> Bot | None:
    """A new bot for ``want``. One with its key exists already: that one (``known``), or
    ``None`` (the caller reads the key again)."""
    settings = want.calendar.bot_settings
    join_at = max(want.join_at, svc.clock.now())
    spec = bots.BotSpec(
        meeting=want.meeting,
        bot_name=settings.bot_name,
        join_at=join_at,
        metadata=dict(settings.metadata),
        stop_options=StopOptions(**(settings.stop_options or {})),
        transcription_model=settings.transcription_model
        or svc.settings.default_transcription_model,
        deduplication_key=want.key,
        webhook_url=settings.webhook_url,
        recording=RecordingOptions(**(settings.recording or {})),
    )
    try:
        created = await bots.create_bot(svc, want.calendar.workspace_id, spec)
    except errors.DuplicateBot:  # a racing sync created it: link that one
        if not known:
            return None
        async with svc.store.transaction(write=False) as tx:
            return await tx.bots.find_active_duplicate(want.calendar.workspace_id, want.key)
    assert isinstance(created, bots.Created)
    return created.bot


async def remove(svc: Services, bot: Bot) -> None:
    """DELETE while scheduled; ``leave_call`` once dispatched; nothing once it ended."""
    try:
        if bot.status is Status.SCHEDULED:
            await bots.delete_bot(svc, bot.workspace_id, bot.id)
        elif bot.status in DISPATCHED:
            await bots.leave_call(svc, bot.workspace_id, bot.id)
    except (errors.NotFound, errors.MethodNotAllowed, errors.BotCompleted, errors.BotNotStarted):
        # It changed meanwhile (dispatched, ended): one more look decides.
        async with svc.store.transaction(write=False) as tx:
            now = await tx.bots.get(bot.id)
        if now is not None and now.status in DISPATCHED and now.status is not Status.LEAVING:
            await bots.leave_call(svc, bot.workspace_id, bot.id)


async def _link(svc: Services, rows: list[CalendarEvent], bot_id: str) -> None:
    stale = [r.id for r in rows if r.bot_id != bot_id]
    if stale:
        async with svc.store.transaction() as tx:
            await tx.calendars.link_bot(stale, bot_id)

"""Calendar use cases: connect, read, list, change the rules, disconnect, sync now, and the
occurrences (list, override one or its series). The sync itself: :mod:`.calendar_sync`; the
bots it derives: :mod:`.calendar_bots`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from meetbot import errors
from meetbot.contract.models import Bot
from meetbot.control.calendars import rules
from meetbot.control.calendars.models import (
    Attendee,
    BotSettings,
    Calendar,
    CalendarEvent,
    CalendarKind,
    CalendarStatus,
    Occurrence,
)
from meetbot.control.calendars.repo import EventQuery
from meetbot.control.service import calendar_bots
from meetbot.control.service.calendar_sync import secrets_context, stop_channel
from meetbot.control.service.core import Services, new_id
from meetbot.control.webhooks.targets import InvalidWebhookUrl
from meetbot.unset import UNSET, Unset

SECRET_FIELDS: Mapping[CalendarKind, tuple[str, ...]] = {
    CalendarKind.ICS: (),
    CalendarKind.CALDAV: ("password",),
    CalendarKind.GOOGLE: ("refresh_token", "client_secret"),
    CalendarKind.MICROSOFT: ("refresh_token", "client_secret"),
}
SUPPORTED = tuple(CalendarKind)
"""Kinds this server syncs (docs/calendars.md); the others are refused for now."""


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    kind: CalendarKind
    config: Mapping[str, Any]
    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False)
    record: str | tuple[str, ...] = "all"
    bot_settings: BotSettings = field(default_factory=BotSettings)


@dataclass(frozen=True, slots=True)
class CalendarPatch:
    record: str | tuple[str, ...] | Unset = UNSET
    bot_settings: BotSettings | Unset = UNSET


def _sources(svc: Services) -> Any:
    if svc.calendar_sources is None:
        raise errors.InvalidRequest("This server reads no calendars.")
    return svc.calendar_sources


def feed_url(url: str) -> str:
    """``webcal://`` is how calendar apps spell ``https://``."""
    lowered = url.lower()
    if lowered.startswith("webcal://"):
        return "https://" + url[len("webcal://") :]
    return url


async def connect(svc: Services, workspace_id: str, spec: CalendarSpec) -> Calendar:
    """Store the calendar (its secrets sealed) and ask for its first sync at once."""
    if spec.kind not in SUPPORTED:
        raise errors.InvalidRequest(
            f"kind: {spec.kind.value} calendars are not supported by this server yet."
        )
    config = dict(spec.config)
    if "url" in config:
        config["url"] = feed_url(str(config["url"]))
        try:
            await _sources(svc).check_url(config["url"])
        except InvalidWebhookUrl as exc:
            raise errors.InvalidRequest(f"url: {exc.detail}") from None
    now = svc.clock.now()
    calendar_id = new_id()
    secrets = {k: v for k, v in spec.secrets.items() if k in SECRET_FIELDS[spec.kind] and v}
    sealed = None
    if secrets:
        if svc.secret_box is None:
            raise errors.CredentialsUnreadable("This server has no secret to seal credentials.")
        sealed = svc.secret_box.seal_json(secrets, secrets_context(calendar_id))
    calendar = Calendar(
        id=calendar_id,
        workspace_id=workspace_id,
        kind=spec.kind,
        config=config,
        record=spec.record,
        bot_settings=spec.bot_settings,
        secrets_ciphertext=sealed,
        status=CalendarStatus.CONNECTED,
        created_at=now,
        updated_at=now,
        next_sync_at=now,
    )
    async with svc.store.transaction() as tx:
        calendar = await tx.calendars.insert(calendar)
    svc.reactions.calendar_due(calendar.id)
    return calendar


async def get(svc: Services, workspace_id: str, calendar_id: str) -> Calendar:
    async with svc.store.transaction(write=False) as tx:
        calendar = await tx.calendars.get(calendar_id, workspace_id=workspace_id)
    if calendar is None:
        raise errors.NotFound("No calendar with this id.")
    return calendar


async def list_calendars(
    svc: Services, workspace_id: str, before_seq: int | None, limit: int
) -> tuple[list[Calendar], int | None]:
    async with svc.store.transaction(write=False) as tx:
        found = await tx.calendars.list(workspace_id, before_seq, limit + 1)
    if len(found) > limit:
        found = found[:limit]
        return found, found[-1].seq
    return found, None


async def update(
    svc: Services, workspace_id: str, calendar_id: str, patch: CalendarPatch
) -> Calendar:
    """New rules or bot settings; every occurrence is decided again by the next sync (now)."""
    async with svc.store.transaction() as tx:
        calendar = await tx.calendars.get(calendar_id, workspace_id=workspace_id, for_update=True)
        if calendar is None:
            raise errors.NotFound("No calendar with this id.")
        if not isinstance(patch.record, Unset):
            calendar = calendar.evolve(record=patch.record)
        if not isinstance(patch.bot_settings, Unset):
            calendar = calendar.evolve(bot_settings=patch.bot_settings)
        # A full listing next time: the rules' decisions are made again for every occurrence,
        # and every occurrence's bot is reconciled (a new join offset moves scheduled bots).
        calendar = calendar.evolve(cursor=None, updated_at=svc.clock.now())
        await tx.calendars.update(calendar)
        rows = await tx.calendars.events(calendar_id)
        await tx.calendars.put_events([r.evolve(dirty=True) for r in rows if not r.dirty])
    svc.reactions.calendar_due(calendar.id)
    return calendar


async def delete(svc: Services, workspace_id: str, calendar_id: str) -> None:
    """Disconnect: the calendar and its occurrences go; the bots only it asked for are
    removed (DELETE while scheduled, ``leave_call`` once dispatched)."""
    async with svc.store.transaction() as tx:
        calendar = await tx.calendars.get(calendar_id, workspace_id=workspace_id, for_update=True)
        if calendar is None:
            raise errors.NotFound("No calendar with this id.")
        rows = await tx.calendars.events(calendar_id)
        keys = [r.meeting_key for r in rows if r.meeting_key]
        for bot_id in {r.bot_id for r in rows if r.bot_id}:
            bot = await tx.bots.get(bot_id)
            if bot is not None and bot.deduplication_key:
                keys.append(bot.deduplication_key)
        await tx.calendars.delete(calendar_id)
    await calendar_bots.reconcile(svc, workspace_id, keys)
    await stop_channel(svc, calendar)


async def request_sync(svc: Services, workspace_id: str, calendar_id: str) -> Calendar:
    """``POST .../sync/``: the worker syncs it now."""
    calendar = await get(svc, workspace_id, calendar_id)
    svc.reactions.calendar_due(calendar.id)
    return calendar


async def list_events(
    svc: Services, workspace_id: str, calendar_id: str, query: EventQuery
) -> tuple[list[CalendarEvent], int | None]:
    await get(svc, workspace_id, calendar_id)
    async with svc.store.transaction(write=False) as tx:
        found = await tx.calendars.page_events(calendar_id, replace(query, limit=query.limit + 1))
    if len(found) > query.limit:
        found = found[: query.limit]
        return found, found[-1].seq
    return found, None


async def update_event(
    svc: Services,
    workspace_id: str,
    calendar_id: str,
    event_id: str,
    *,
    record: bool | Unset | None = UNSET,
    record_series: bool | Unset | None = UNSET,
) -> CalendarEvent:
    """Override the rules for one occurrence (``record``) or its series (``record_series``);
    ``None`` gives the decision back to the rules. The bots follow at once."""
    async with svc.store.transaction() as tx:
        calendar = await tx.calendars.get(calendar_id, workspace_id=workspace_id, for_update=True)
        event = await tx.calendars.get_event(calendar_id, event_id) if calendar else None
        if calendar is None or event is None:
            raise errors.NotFound("No calendar event with this id.")
        now = svc.clock.now()
        targets = [event]
        if not isinstance(record_series, Unset):
            overrides = dict(calendar.series_overrides)
            if record_series is None:
                overrides.pop(event.ical_uid, None)
            else:
                overrides[event.ical_uid] = record_series
            calendar = calendar.evolve(series_overrides=overrides, updated_at=now)
            await tx.calendars.update(calendar)
            targets = [
                e for e in await tx.calendars.events(calendar_id) if e.ical_uid == event.ical_uid
            ]
        changed = []
        for target in targets:
            override = target.record_override
            if not isinstance(record, Unset) and target.id == event.id:
                override = record
            decided = _redecide(calendar, target, override, now)
            changed.append(decided)
        await tx.calendars.put_events(changed)
    await calendar_bots.reconcile(
        svc, workspace_id, [e.meeting_key for e in changed if e.meeting_key]
    )
    async with svc.store.transaction() as tx:
        await tx.calendars.clear_dirty([e.id for e in changed])
        fresh = await tx.calendars.get_event(calendar_id, event_id)
    if fresh is None:
        raise errors.NotFound("No calendar event with this id.")
    return fresh


def _redecide(
    calendar: Calendar, event: CalendarEvent, override: bool | None, now: datetime
) -> CalendarEvent:
    data = event.data
    occ = Occurrence(
        ical_uid=event.ical_uid,
        recurrence_id=event.recurrence_id,
        start=event.start,
        end=event.end,
        recurring=bool(data.get("recurring")),
        organizer=data.get("organizer"),
        attendees=tuple(Attendee(a["email"], a.get("partstat")) for a in data.get("attendees", [])),
        confirmed=bool(data.get("confirmed", True)),
    )
    decision = rules.decide(
        calendar.record,
        occ,
        has_link=event.meeting_url is not None,
        owner_email=calendar.owner_email,
        override=override,
        series_override=calendar.series_overrides.get(event.ical_uid),
    )
    return event.evolve(
        record_override=override,
        will_record=decision.will_record,
        rule=decision.rule,
        dirty=True,
        updated_at=now,
    )


async def calendar_events_of(svc: Services, bot: Bot) -> list[dict[str, Any]]:
    """A calendar bot's ``calendar_events``: every occurrence (of any calendar of its
    workspace) that wants it."""
    async with svc.store.transaction(write=False) as tx:
        rows = await tx.calendars.events_of_bots([bot.id])
    return [
        {"id": r.id, "calendar_id": r.calendar_id, "ical_uid": r.shown_uid}
        for r in rows
        if r.wants_bot()
    ]

"""iCalendar text → the occurrences in a window (recurrences expanded).

:mod:`recurring_ical_events` expands RRULE/RDATE, removes EXDATEs and applies ``RECURRENCE-ID``
overrides. What it leaves to us (``docs/calendars.md``, the notes): an override with
``STATUS:CANCELLED`` is returned (it becomes a cancelled occurrence), and an override does not
inherit its master's properties (the link falls back to the master's). Times are keyed in UTC
(floating times under ``X-WR-TIMEZONE`` are converted by the library); an all-day event has no
meeting time and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from meetbot.control.calendars.models import Attendee, Occurrence


class MalformedCalendar(ValueError):
    """The text is not an iCalendar object (the calendar shows why)."""


def _text(component: Any, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    return str(value)


def _when(component: Any, name: str) -> datetime | None:
    if component.get(name) is None:
        return None
    try:
        value = component.decoded(name)
    except (KeyError, ValueError):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None  # a date: all-day, no meeting time


def _email(value: object) -> str:
    text = str(value)
    return text[7:].lower() if text.lower().startswith("mailto:") else text.lower()


def _attendees(component: Any) -> tuple[Attendee, ...]:
    raw = component.get("ATTENDEE")
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        params = getattr(item, "params", {})
        out.append(Attendee(_email(item), params.get("PARTSTAT")))
    return tuple(out)


def link_texts(component: Any, master: Any | None = None) -> list[str | None]:
    """Where a meeting link may be, in order; the master's as a fallback for an override."""
    names = ("X-GOOGLE-CONFERENCE", "URL", "LOCATION", "DESCRIPTION")
    texts = [_text(component, n) for n in names]
    if master is not None:
        texts += [_text(master, n) for n in names]
    return texts


def parse(text: bytes | str) -> Any:
    import icalendar  # here, not at the top: `meetbot serve` starts without it

    try:
        return icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise MalformedCalendar(f"not an iCalendar feed: {exc}") from None


def expand(calendar: Any, start: datetime, end: datetime) -> Iterable[Occurrence]:
    """Each occurrence in ``[start, end)``."""
    masters = {
        str(c.get("UID")): c
        for c in calendar.walk("VEVENT")
        if c.get("RECURRENCE-ID") is None and c.get("UID") is not None
    }
    recurring = {uid for uid, c in masters.items() if c.get("RRULE") or c.get("RDATE")}
    import recurring_ical_events

    try:
        found = recurring_ical_events.of(calendar).between(start, end)
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedCalendar(f"cannot expand the calendar: {exc}") from None
    for component in found:
        if component.name != "VEVENT":
            continue
        uid = _text(component, "UID")
        begin = _when(component, "DTSTART")
        if uid is None or begin is None:
            continue  # all-day, without a start or without identity
        rid = _when(component, "RECURRENCE-ID")
        is_recurring = uid in recurring  # the library gives single events a RECURRENCE-ID too
        master = masters.get(uid) if rid is not None else None
        organizer = component.get("ORGANIZER") or (master.get("ORGANIZER") if master else None)
        status = (_text(component, "STATUS") or "").upper()
        yield Occurrence(
            ical_uid=uid,
            recurrence_id=rid.isoformat() if rid and is_recurring else "",
            start=begin,
            end=_when(component, "DTEND"),
            title=_text(component, "SUMMARY") or "",
            cancelled=status == "CANCELLED",
            recurring=is_recurring,
            organizer=_email(organizer) if organizer else None,
            attendees=_attendees(component) or (_attendees(master) if master else ()),
            confirmed=status != "TENTATIVE",
            links=tuple(link_texts(component, master)),
        )


def drop_unusable(calendar: Any) -> list[str]:
    """Remove the events without a start (the expansion cannot take them); their UIDs."""
    dropped: list[str] = []
    kept = []
    for component in calendar.subcomponents:
        if component.name == "VEVENT" and component.get("DTSTART") is None:
            dropped.append(str(component.get("UID") or "?"))
        else:
            kept.append(component)
    calendar.subcomponents[:] = kept
    return dropped


def expand_all(calendar: Any, start: datetime, end: datetime) -> tuple[list[Occurrence], list[str]]:
    """The occurrences in ``[start, end)`` and the UIDs of the events skipped for having no
    start (the calendar shows them; the others are synced as usual)."""
    skipped = drop_unusable(calendar)
    return list(expand(calendar, start, end)), skipped

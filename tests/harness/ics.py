"""iCalendar text for calendar tests: :func:`vevent` and :func:`feed`."""

from __future__ import annotations

from datetime import datetime


def stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def vevent(
    uid: str,
    start: datetime,
    end: datetime,
    *,
    summary: str = "Meeting",
    location: str | None = None,
    description: str | None = None,
    rrule: str | None = None,
    exdates: tuple[datetime, ...] = (),
    recurrence_id: datetime | None = None,
    status: str | None = None,
    organizer: str | None = None,
    attendees: tuple[tuple[str, str], ...] = (),
) -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z"]
    if recurrence_id is not None:
        lines.append(f"RECURRENCE-ID:{stamp(recurrence_id)}")
    lines += [f"DTSTART:{stamp(start)}", f"DTEND:{stamp(end)}", f"SUMMARY:{summary}"]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += [f"EXDATE:{stamp(d)}" for d in exdates]
    if location:
        lines.append(f"LOCATION:{location}")
    if description:
        lines.append(f"DESCRIPTION:{description}")
    if status:
        lines.append(f"STATUS:{status}")
    if organizer:
        lines.append(f"ORGANIZER:mailto:{organizer}")
    lines += [f"ATTENDEE;PARTSTAT={p}:mailto:{e}" for e, p in attendees]
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


def feed(*events: str) -> str:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//meetbot tests//EN\r\n"
    return head + "\r\n".join(events) + "\r\nEND:VCALENDAR\r\n"

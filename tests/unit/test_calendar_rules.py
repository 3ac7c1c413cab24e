"""The record rules, the meeting key and the expansion of iCalendar text (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harness.ics import feed, vevent
from meetbot import errors
from meetbot.control.calendars import occurrences, rules
from meetbot.control.calendars.meeting_key import find_meeting, is_calendar_key, meeting_key
from meetbot.control.calendars.models import Attendee, Occurrence

T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OWNER = "me@acme.com"


def occ(
    *,
    organizer: str | None = OWNER,
    attendees: tuple[tuple[str, str], ...] = ((OWNER, "ACCEPTED"),),
    recurring: bool = False,
) -> Occurrence:
    return Occurrence(
        ical_uid="u",
        recurrence_id="",
        start=T,
        end=T + HOUR,
        organizer=organizer,
        attendees=tuple(Attendee(e, p) for e, p in attendees),
        recurring=recurring,
    )


EXTERNAL = occ(attendees=((OWNER, "ACCEPTED"), ("x@other.org", "ACCEPTED")))
INTERNAL_GUEST = occ(
    organizer="boss@acme.com", attendees=((OWNER, "TENTATIVE"), ("boss@acme.com", "ACCEPTED"))
)


@pytest.mark.parametrize(
    ("record", "occurrence", "expected"),
    [
        ("all", EXTERNAL, (True, "all")),
        ("none", EXTERNAL, (False, "none")),
        (("external",), EXTERNAL, (True, "conditions")),
        (("external",), INTERNAL_GUEST, (False, "not:external")),
        (("internal",), INTERNAL_GUEST, (True, "conditions")),
        (("host",), EXTERNAL, (True, "conditions")),
        (("host",), INTERNAL_GUEST, (False, "not:host")),
        (("non_host",), INTERNAL_GUEST, (True, "conditions")),
        (("confirmed",), EXTERNAL, (True, "conditions")),
        (("confirmed",), INTERNAL_GUEST, (False, "not:confirmed")),
        (("recurring",), EXTERNAL, (False, "not:recurring")),
        (("external", "recurring"), occ(recurring=True), (False, "not:external")),
    ],
)
def test_rules(
    record: str | tuple[str, ...], occurrence: Occurrence, expected: tuple[bool, str]
) -> None:
    decision = rules.decide(record, occurrence, has_link=True, owner_email=OWNER)
    assert (decision.will_record, decision.rule) == expected


def test_overrides_come_first_and_no_link_records_nothing() -> None:
    kw = {"has_link": True, "owner_email": OWNER}
    assert rules.decide("none", EXTERNAL, override=True, **kw).rule == "override"  # type: ignore[arg-type]
    assert rules.decide("all", EXTERNAL, series_override=False, **kw).will_record is False  # type: ignore[arg-type]
    assert rules.decide("all", EXTERNAL, has_link=False, owner_email=OWNER).rule == "no_meeting_url"


@pytest.mark.parametrize("value", ["some", [], ["external", "never"], 3])
def test_parse_record_refuses_unknown_rules(value: object) -> None:
    with pytest.raises(errors.InvalidRequest):
        rules.parse_record(value)


def test_parse_record() -> None:
    assert rules.parse_record("all") == "all"
    assert rules.parse_record(["external", "host", "external"]) == ("external", "host")


def test_meeting_key_ignores_tracking_parameters_and_seconds() -> None:
    a = find_meeting(["https://meet.google.com/abc-defg-hij?authuser=1"])
    b = find_meeting([None, "Join: https://meet.google.com/abc-defg-hij?hs=122 (video)"])
    assert a is not None
    assert b is not None
    assert meeting_key(a.room, T) == meeting_key(b.room, T + timedelta(seconds=30))
    assert meeting_key(a.room, T) != meeting_key(a.room, T + timedelta(minutes=1))
    assert is_calendar_key(meeting_key(a.room, T))
    assert not is_calendar_key("mine")
    assert find_meeting(["https://example.com/not-a-meeting", "Room 4"]) is None


def _expand(text: str) -> list[Occurrence]:
    return list(occurrences.expand(occurrences.parse(text), T - 24 * HOUR, T + 30 * 24 * HOUR))


def test_expansion_exdate_cancelled_and_moved_overrides() -> None:
    day = timedelta(days=1)
    master = vevent(
        "s",
        T,
        T + HOUR,
        location="https://meet.google.com/abc-defg-hij",
        rrule="FREQ=DAILY;COUNT=4",
        exdates=(T + day,),
    )
    cancelled = vevent(
        "s", T + 2 * day, T + 2 * day + HOUR, recurrence_id=T + 2 * day, status="CANCELLED"
    )
    moved = vevent("s", T + 3 * day + HOUR, T + 3 * day + 2 * HOUR, recurrence_id=T + 3 * day)
    found = _expand(feed(master, cancelled, moved))
    assert [(o.start, o.cancelled) for o in found] == [
        (T, False),
        (T + 2 * day, True),
        (T + 3 * day + HOUR, False),
    ]
    assert all(o.recurring for o in found)
    # The moved override has no link of its own: the master's is its fallback.
    assert find_meeting(list(found[2].links)) is not None
    assert len({o.recurrence_id for o in found}) == 3


def test_single_events_all_day_and_malformed() -> None:
    single = vevent("one", T, T + HOUR, summary="Sync")
    all_day = "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20260106\r\nSUMMARY:Off\r\nEND:VEVENT"
    (found,) = _expand(feed(single, all_day))
    assert found.recurrence_id == ""
    assert found.recurring is False
    assert found.title == "Sync"
    with pytest.raises(occurrences.MalformedCalendar):
        occurrences.parse("not a calendar")

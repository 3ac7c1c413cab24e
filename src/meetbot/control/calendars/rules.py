"""The record rules: does an occurrence get a bot, and which rule decided (pure).

Order: the occurrence's own override (``PATCH .../events/{id}/ {"record"}``), the series'
(``{"record_series"}``), no joinable link, then the calendar's ``record``: ``all``, ``none``,
or conditions that must all hold (``external``: an attendee outside the owner's domain;
``internal``: none; ``host``: the owner organises; ``non_host``; ``recurring``;
``confirmed``: the owner accepted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from meetbot import errors
from meetbot.control.calendars.models import CONDITIONS, Occurrence


@dataclass(frozen=True, slots=True)
class Decision:
    will_record: bool
    rule: str
    """``override``, ``series_override``, ``no_meeting_url``, ``all``, ``none``,
    ``conditions`` (all held) or ``not:<condition>`` (the first that failed)."""


def parse_record(value: object) -> str | tuple[str, ...]:
    """The ``record`` setting as the API takes it; :class:`errors.InvalidRequest` otherwise."""
    if value in ("all", "none"):
        return str(value)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        unknown = [v for v in value if v not in CONDITIONS]
        if unknown:
            raise errors.InvalidRequest(
                f"record: unknown condition {unknown[0]!r} (one of {', '.join(CONDITIONS)})."
            )
        return tuple(dict.fromkeys(value))
    raise errors.InvalidRequest('record: "all", "none" or a non-empty list of conditions.')


def _domain(email: str | None) -> str | None:
    return email.rsplit("@", 1)[1].lower() if email and "@" in email else None


def holds(condition: str, occurrence: Occurrence, owner_email: str | None) -> bool:
    owner = (owner_email or "").lower()
    domain = _domain(owner)
    organizer = (occurrence.organizer or "").lower()
    others = [a.email.lower() for a in occurrence.attendees if a.email.lower() != owner]
    if organizer and organizer != owner:
        others.append(organizer)
    if condition == "external":
        return domain is not None and any(_domain(e) != domain for e in others)
    if condition == "internal":
        return domain is not None and all(_domain(e) == domain for e in others)
    if condition == "host":
        return bool(owner) and (organizer == owner or not organizer)
    if condition == "non_host":
        return bool(organizer) and organizer != owner
    if condition == "recurring":
        return occurrence.recurring
    if condition == "confirmed":
        mine = [a for a in occurrence.attendees if a.email.lower() == owner]
        if mine:
            return (mine[0].partstat or "").upper() == "ACCEPTED"
        return occurrence.confirmed and (not organizer or organizer == owner)
    raise ValueError(condition)


def decide(
    record: str | Sequence[str],
    occurrence: Occurrence,
    *,
    has_link: bool,
    owner_email: str | None,
    override: bool | None = None,
    series_override: bool | None = None,
) -> Decision:
    if override is not None:
        return Decision(override, "override")
    if series_override is not None:
        return Decision(series_override, "series_override")
    if not has_link:
        return Decision(False, "no_meeting_url")
    if record == "all":
        return Decision(True, "all")
    if record == "none" or isinstance(record, str):
        return Decision(False, "none")
    for condition in record:
        if not holds(condition, occurrence, owner_email):
            return Decision(False, f"not:{condition}")
    return Decision(True, "conditions")

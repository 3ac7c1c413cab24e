"""The Assignment line: one JSON object on the runner's stdin (ISO 8601 datetimes)."""

from __future__ import annotations

import dataclasses
from typing import Final

from pydantic import TypeAdapter, ValidationError

from meetbot.models import StopOptions
from meetbot.ports import Assignment
from meetbot.timefmt import utc

_ADAPTER: Final = TypeAdapter(Assignment)


class AssignmentError(ValueError):
    """The line is not a valid Assignment."""


def parse_assignment(line: str | bytes) -> Assignment:
    """Parse one JSON line into an :class:`Assignment` (``join_at`` normalised to aware UTC)."""
    try:
        assignment = _ADAPTER.validate_json(line)
    except ValidationError as exc:
        raise AssignmentError(str(exc)) from exc
    if assignment.join_at is not None:
        assignment = dataclasses.replace(assignment, join_at=utc(assignment.join_at))
    return assignment


def dump_assignment(assignment: Assignment) -> str:
    """One line of JSON, no newline; the inverse of :func:`parse_assignment`."""
    return _ADAPTER.dump_json(assignment).decode()


def stop_options(assignment: Assignment) -> StopOptions:
    """The assignment's stop options; unknown keys are ignored, missing ones take defaults."""
    known = set(StopOptions.__dataclass_fields__)
    return StopOptions(**{k: int(v) for k, v in assignment.stop_options.items() if k in known})

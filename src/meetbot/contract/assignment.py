"""What the control plane tells a runner: the :class:`Assignment`, sent as one line of JSON on
the runner's stdin (ISO 8601 datetimes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from meetbot.contract.models import StopOptions
from meetbot.timefmt import utc


@dataclass(frozen=True, slots=True)
class Assignment:
    """Everything a runner needs to run one bot; it needs no database access."""

    bot_id: str
    meeting_url: str
    platform: str
    bot_name: str
    stop_options: Mapping[str, int]
    join_at: datetime | None
    token: str
    control_url: str
    timer_unit_seconds: float = 60.0
    heartbeat_interval: float = 2.0
    control_plane_grace: float = 60.0
    recording: Mapping[str, Any] = field(default_factory=dict)
    storage: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, Any] | None = field(default=None, repr=False)
    """Decrypted sign-in credentials for the bot's platform, e.g. ``{"google": {"email": ...,
    "password": ...}}`` (:meth:`meetbot.runner.platforms.credentials.Credentials.from_mapping`);
    ``None`` for an anonymous bot. Never logged."""
    egress_allowed_hosts: tuple[str, ...] = ()
    """``host[:port]`` entries the bot's browser may reach whatever they resolve to (the
    operator's ``MEETBOT_SELF_HOSTED_MEETING_HOSTS``); every other loopback, private,
    link-local, multicast or metadata address is blocked (:mod:`meetbot.runner.egress`)."""
    bot_image: str | None = None
    """The storage key of the picture the bot shows as its camera from admission on
    (:mod:`meetbot.runner.camera`); ``None``: no picture (the camera stays off)."""


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

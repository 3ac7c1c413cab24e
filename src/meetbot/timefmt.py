"""One way to write and read times: ISO 8601, UTC, milliseconds, with the zone."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc(value: datetime) -> datetime:
    """Normalise to an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

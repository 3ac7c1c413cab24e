"""The real clock (the fake one is ``meetbot.testing.fakes.FixedClock``)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

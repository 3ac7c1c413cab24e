"""Small fakes for the control plane's boundaries: a clock you set, a launcher you drive
(:class:`FakeLauncher`, the launcher ``MEETBOT_LAUNCHER=fake`` serves with)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meetbot.control.launchers.simulated import SimulatedLauncher


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now


FakeLauncher = SimulatedLauncher
"""The launcher tests drive: warm slots refill on :meth:`~SimulatedLauncher.refill`, runners
'exit' on :meth:`~SimulatedLauncher.finish`, assignments are kept in ``assignments``."""

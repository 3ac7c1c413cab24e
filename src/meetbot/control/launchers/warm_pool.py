"""Warm-pool arithmetic as a pure value: counts in, how many runners to start out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PoolState:
    """What a launcher holds right now.

    Every runner process counts against ``max_concurrent`` (warm or busy, ours or adopted from
    an earlier control plane), and so does each reservation (a cold start still to come).
    """

    pool_size: int
    max_concurrent: int
    idle: int = 0
    """Warm runners that said READY and wait for an assignment."""
    starting: int = 0
    """Warm runners launched for the pool, not READY yet."""
    busy: int = 0
    """Runners claimed or running a bot (including cold starts)."""
    reserved: int = 0
    """Reservations not yet assigned (no process yet)."""
    orphans: int = 0
    """Live busy runners adopted from a previous control plane."""

    @property
    def total(self) -> int:
        return self.idle + self.starting + self.busy + self.reserved + self.orphans

    @property
    def headroom(self) -> int:
        """Runners that could still be added under the cap."""
        return max(0, self.max_concurrent - self.total)

    @property
    def to_start(self) -> int:
        """Warm runners to launch now: refill the pool, never past the cap."""
        missing = self.pool_size - self.idle - self.starting
        return max(0, min(missing, self.headroom))

    @property
    def can_reserve(self) -> bool:
        return self.headroom > 0

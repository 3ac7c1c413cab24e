"""The warm pool's arithmetic: how many runners to start, whether capacity can be reserved."""

from __future__ import annotations

import pytest

from meetbot.control.launchers.warm_pool import PoolState


@pytest.mark.parametrize(
    ("counts", "to_start"),
    [
        ({}, 2),  # empty: fill the pool
        ({"idle": 2}, 0),  # full
        ({"idle": 1, "starting": 1}, 0),  # one on its way
        ({"idle": 1}, 1),
        ({"busy": 3}, 2),  # busy runners do not count toward the pool...
        ({"busy": 7}, 1),  # ...but do toward the cap (8)
        ({"busy": 8}, 0),
        ({"busy": 5, "reserved": 2}, 1),  # a reservation is a runner to come
        ({"busy": 4, "orphans": 3}, 1),  # adopted runners count too
        ({"idle": 3}, 0),  # over-full pool (after a release): start nothing
        ({"busy": 9}, 0),  # over the cap (adopted after a restart): start nothing
    ],
)
def test_to_start_refills_the_pool_under_the_cap(counts: dict[str, int], to_start: int) -> None:
    state = PoolState(pool_size=2, max_concurrent=8, **counts)
    assert state.to_start == to_start


@pytest.mark.parametrize(
    ("counts", "can_reserve"),
    [
        ({}, True),
        ({"idle": 2, "busy": 5}, True),
        ({"idle": 2, "busy": 6}, False),  # warm idle runners hold capacity too
        ({"starting": 1, "busy": 6, "reserved": 1}, False),
        ({"orphans": 8}, False),
    ],
)
def test_reservations_stop_at_the_cap(counts: dict[str, int], can_reserve: bool) -> None:
    assert PoolState(pool_size=2, max_concurrent=8, **counts).can_reserve is can_reserve


def test_a_zero_pool_starts_nothing_but_still_reserves() -> None:
    state = PoolState(pool_size=0, max_concurrent=1)
    assert state.to_start == 0
    assert state.can_reserve
    assert state.headroom == 1
    assert PoolState(pool_size=0, max_concurrent=1, reserved=1).headroom == 0

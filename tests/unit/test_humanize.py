"""The humanised-input models: typing delays, pointer paths, click points (pure functions)."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meetbot.runner.humanize import (
    MAX_KEY_DELAY,
    MIN_KEY_DELAY,
    Box,
    Humanizer,
    movement_time,
    point_in_box,
    pointer_path,
    typing_delays,
)


def test_one_delay_per_character_within_bounds_and_a_reaction_time_first() -> None:
    delays = typing_delays("Meeting Notes Bot", random.Random(1))
    assert len(delays) == len("Meeting Notes Bot")
    assert all(MIN_KEY_DELAY <= d <= MAX_KEY_DELAY for d in delays)
    assert 0.18 <= delays[0] <= 0.45
    assert typing_delays("", random.Random(1)) == []


def test_typing_speed_follows_words_per_minute() -> None:
    text = "a" * 4000
    slow = statistics.median(typing_delays(text, random.Random(2), wpm=40)[1:])
    fast = statistics.median(typing_delays(text, random.Random(2), wpm=100)[1:])
    assert slow == pytest.approx(60 / (40 * 5), rel=0.15)
    assert fast == pytest.approx(60 / (100 * 5), rel=0.15)


def test_keys_after_a_space_and_shifted_keys_come_later_on_average() -> None:
    rng = random.Random(3)
    after_space = [typing_delays("a b", rng)[2] for _ in range(2000)]
    plain = [typing_delays("abb", rng)[2] for _ in range(2000)]
    shifted = [typing_delays("abB", rng)[2] for _ in range(2000)]
    assert statistics.mean(after_space) > statistics.mean(plain) + 0.04
    assert statistics.mean(shifted) > statistics.mean(plain) + 0.02


def test_same_seed_same_delays_and_path() -> None:
    assert typing_delays("hello", random.Random(7)) == typing_delays("hello", random.Random(7))
    a = pointer_path((0, 0), (500, 300), random.Random(7))
    b = pointer_path((0, 0), (500, 300), random.Random(7))
    assert a == b


@given(
    st.tuples(st.floats(0, 1920), st.floats(0, 1080)),
    st.tuples(st.floats(0, 1920), st.floats(0, 1080)),
    st.integers(0, 2**32),
)
def test_a_path_ends_exactly_on_target_and_moves_forward(
    start: tuple[float, float], end: tuple[float, float], seed: int
) -> None:
    moves = pointer_path(start, end, random.Random(seed), target_width=40)
    assert (moves[-1].x, moves[-1].y) == end
    assert all(m.dt > 0 for m in moves)
    distance = math.dist(start, end)
    if distance < 1:
        assert len(moves) == 1
        return
    assert 8 <= len(moves) <= 60
    ux, uy = (end[0] - start[0]) / distance, (end[1] - start[1]) / distance
    progress = [(m.x - start[0]) * ux + (m.y - start[1]) * uy for m in moves]
    assert all(b >= a - 3.0 for a, b in itertools.pairwise(progress))
    # never wanders further sideways than the bend allows (plus tremor)
    sideways = [abs((m.x - start[0]) * -uy + (m.y - start[1]) * ux) for m in moves]
    assert max(sideways) <= min(distance * 0.25, 120.0) + 4.0


def test_a_path_takes_fitts_time() -> None:
    for seed in range(50):
        moves = pointer_path((10, 10), (810, 10), random.Random(seed), target_width=40)
        total = sum(m.dt for m in moves)
        expected = movement_time(800, 40)
        assert expected * 0.85 - 1e-9 <= total <= expected * 1.2 + 1e-9


def test_movement_time_grows_with_distance_and_shrinks_with_width() -> None:
    assert movement_time(0, 40) == pytest.approx(0.12)
    assert movement_time(800, 40) > movement_time(200, 40) > movement_time(50, 40)
    assert movement_time(400, 10) > movement_time(400, 100)


@given(
    st.floats(0, 1000),
    st.floats(0, 1000),
    st.floats(1, 400),
    st.floats(1, 400),
    st.integers(0, 2**32),
)
def test_clicks_land_in_the_middle_half_of_the_target(
    x: float, y: float, w: float, h: float, seed: int
) -> None:
    px, py = point_in_box(Box(x, y, w, h), random.Random(seed))
    assert x + 0.25 * w - 1e-6 <= px <= x + 0.75 * w + 1e-6
    assert y + 0.25 * h - 1e-6 <= py <= y + 0.75 * h + 1e-6


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        Humanizer(speed=0)
    assert Humanizer(enabled=False).enabled is False

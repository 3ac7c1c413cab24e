"""The RTP path's timeline: runs of decoded audio placed by RTP timestamp, gaps as silence."""

from __future__ import annotations

import numpy as np
import pytest

from meetbot.runner.timeline import MAX_STREAMS, RESYNC, Timeline

RATE = 16_000
ORIGIN = 1_000.0


def tone(samples: int, value: int = 1000) -> bytes:
    return np.full(samples, value, dtype="<i2").tobytes()


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2")


def test_a_gap_in_the_rtp_timestamps_is_silence_at_the_right_place() -> None:
    t = Timeline(origin=ORIGIN, holdback=0.0)
    t.place("a", 48_000, ORIGIN + 0.5, tone(8000))  # 0.5 s of sound arriving at 0.5 s
    # the sender paused 1 s (DTX): the next run's timestamp is 1.5 s (72 000 ticks) later
    t.place("a", 48_000 + 72_000, ORIGIN + 2.0, tone(8000))
    out = pcm(t.take(ORIGIN + 3.0))
    assert len(out) == 3 * RATE
    assert (out[: RATE // 2] == 0).all()  # before the first run
    assert (out[RATE // 2 : RATE] == 1000).all()
    assert (out[RATE : 2 * RATE] == 0).all()  # the pause, in place
    assert (out[2 * RATE : 5 * RATE // 2] == 1000).all()


def test_a_late_run_lands_where_its_timestamp_says_not_when_it_arrived() -> None:
    t = Timeline(origin=ORIGIN, holdback=2.0)
    t.place("a", 0, ORIGIN + 0.0, tone(1600))  # 0.1 s at 0 s
    t.place("a", 4800, ORIGIN + 1.5, tone(1600, 2000))  # 0.1 s at 0.1 s, 1.4 s late (starved)
    out = pcm(t.take(ORIGIN + 2.2))
    assert len(out) == round(0.2 * RATE)
    assert (out[:1600] == 1000).all()
    assert (out[1600:3200] == 2000).all()
    assert t.late_samples == 0


def test_the_timeline_advances_with_the_wall_clock_while_nothing_arrives() -> None:
    t = Timeline(origin=ORIGIN, holdback=2.0)
    assert t.take(ORIGIN + 1.0) == b""
    out = pcm(t.take(ORIGIN + 12.0))
    assert len(out) == 10 * RATE
    assert not out.any()
    assert t.cursor == 10 * RATE


def test_streams_are_mixed_and_clipped() -> None:
    t = Timeline(origin=ORIGIN, holdback=0.0)
    t.place("a", 10_000, ORIGIN, tone(RATE, 20_000))
    t.place("b", 777_777, ORIGIN, tone(RATE, 20_000))
    t.place("c", 5, ORIGIN + 0.5, tone(RATE // 2, -300))
    out = pcm(t.take(ORIGIN + 1.0))
    assert (out[: RATE // 2] == 32767).all()
    assert (out[RATE // 2 :] == 32767).all()  # 40 000 - 300 still clips


def test_what_arrives_after_its_place_was_given_out_is_counted_and_the_rest_kept() -> None:
    t = Timeline(origin=ORIGIN, holdback=1.0)
    t.place("a", 0, ORIGIN, tone(160))  # anchors the stream at 0
    assert len(t.take(ORIGIN + 2.0)) == RATE * 2  # 1 s given out (s16le)
    t.place("a", 3 * 15_000, ORIGIN + 2.0, tone(RATE))  # belongs at 0.9375 s, 1 s long
    assert t.late_samples == 1000  # 0.9375 → 1.0 s was given out
    out = pcm(t.take(ORIGIN + 3.0))
    assert (out[: RATE - 1000] == 1000).all()
    assert not out[RATE - 1000 :].any()


def test_an_earlier_arrival_improves_the_anchor() -> None:
    t = Timeline(origin=ORIGIN, holdback=0.0)
    t.place("a", 0, ORIGIN + 0.5, tone(160))  # first packet was 0.5 s late
    t.place("a", 48_000, ORIGIN + 1.0, tone(160, 7))  # on time: 1 s of timestamps later
    out = pcm(t.take(ORIGIN + 2.0))
    assert (out[RATE : RATE + 160] == 7).all()  # at 1 s as it arrived, not 1.5 s
    assert not out[RATE + RATE // 2 :].any()


@pytest.mark.parametrize("jump_s", [-(RESYNC + 5), 30.0])
def test_a_jump_of_the_senders_clock_re_anchors_the_stream(jump_s: float) -> None:
    t = Timeline(origin=ORIGIN, holdback=0.0)
    t.place("a", 480_000, ORIGIN + 0.0, tone(160))
    t.place("a", 480_000 + int(jump_s * 48_000), ORIGIN + 1.0, tone(160, 9))
    out = pcm(t.take(ORIGIN + 2.0))
    assert (out[RATE : RATE + 160] == 9).all()  # where it arrived


def test_rtp_timestamps_wrap_around() -> None:
    t = Timeline(origin=ORIGIN, holdback=0.0)
    t.place("a", (1 << 32) - 4800, ORIGIN, tone(1600))
    t.place("a", 0, ORIGIN + 0.1, tone(1600, 5))  # 0.1 s after, across the wrap
    out = pcm(t.take(ORIGIN + 0.2))
    assert (out[:1600] == 1000).all()
    assert (out[1600:3200] == 5).all()


def test_final_take_gives_everything_placed() -> None:
    t = Timeline(origin=ORIGIN, holdback=2.0)
    t.place("a", 0, ORIGIN + 1.0, tone(RATE))
    out = pcm(t.take(ORIGIN + 1.5, final=True))
    assert len(out) == 2 * RATE
    assert (out[RATE:] == 1000).all()


def test_runs_placed_absurdly_far_ahead_are_dropped_not_allocated() -> None:
    t = Timeline(origin=ORIGIN, holdback=0.0)
    t.place("a", 0, ORIGIN + 1e9, tone(160))  # a page's made-up arrival time
    assert t.dropped_samples == 160
    assert len(t.take(ORIGIN + 1.0)) == 2 * RATE


def test_streams_beyond_the_limit_are_dropped() -> None:
    t = Timeline(origin=ORIGIN, holdback=0.0)
    for i in range(MAX_STREAMS + 3):
        t.place(f"s{i}", 0, ORIGIN, tone(10))
    assert t.dropped_samples == 30

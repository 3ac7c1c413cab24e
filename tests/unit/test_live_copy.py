"""A bot's live copy at live transcription: the queued pieces taken contiguous (a gap is
silence, an overlap is cut), and the stored chunks checked against it."""

from __future__ import annotations

import numpy as np
import pytest

from meetbot.control.media.live_copy import MAX_GAP, LiveCopy

RATE = 16_000


def pcm(seconds: float, value: int = 1000) -> bytes:
    return np.full(round(seconds * RATE), value, dtype="<i2").tobytes()


def test_pieces_are_taken_in_order_with_gaps_as_silence_and_overlaps_cut() -> None:
    copy = LiveCopy()
    copy.add(0, pcm(0.25, 1))
    copy.add(RATE // 2, pcm(0.25, 2))  # 0.25-0.5 s missed
    copy.add(RATE // 2 + RATE // 8, pcm(0.25, 3))  # overlaps the previous by 0.125 s
    data = np.frombuffer(copy.take(0.0, 10.0) or b"", dtype="<i2")
    quarter, eighth = RATE // 4, RATE // 8
    assert len(data) == RATE // 2 + 3 * eighth
    assert (data[:quarter] == 1).all()
    assert not data[quarter : 2 * quarter].any()
    assert (data[2 * quarter : 3 * quarter] == 2).all()
    assert (data[3 * quarter :] == 3).all()
    assert copy.take(0.875, 10.0) == b""  # nothing left
    assert copy.received_until == RATE // 2 + 3 * eighth


def test_a_take_starts_at_the_decoders_window_and_stops_near_its_limit() -> None:
    copy = LiveCopy()
    for i in range(8):
        copy.add(i * RATE // 4, pcm(0.25, i + 1))
    first = np.frombuffer(copy.take(0.125, 0.5) or b"", dtype="<i2")
    assert len(first) == RATE // 8 + RATE // 4 + RATE // 4  # up to the limit, whole pieces
    assert first[0] == 1
    assert first[-1] == 3
    assert len(copy.queued) == 5


def test_a_gap_longer_than_the_limit_ends_it() -> None:
    copy = LiveCopy()
    copy.add(round((MAX_GAP + 1) * RATE), pcm(0.25))
    assert copy.take(0.0, 10.0) is None


def test_a_stored_chunk_equal_to_the_live_copy_passes() -> None:
    copy = LiveCopy()
    copy.add(0, pcm(1.0))
    copy.add(RATE, pcm(0.5, 0))
    assert copy.check(0.0, pcm(1.0) + pcm(0.5, 0)) is None
    assert copy.complete_until is None


def test_a_stored_chunk_with_what_the_live_copy_missed_marks_it_incomplete() -> None:
    copy = LiveCopy()
    copy.add(0, pcm(1.0, 0))
    copy.add(RATE + RATE // 2, pcm(1.0, 0))  # 1.0-1.5 s not sent (its socket reconnected)
    late = pcm(0.5, 0) + pcm(0.25, 0) + pcm(0.25, 7)  # a late packet at 1.25 s
    assert copy.check(0.5, late) == pytest.approx(1.25)
    assert copy.check(1.5, pcm(1.0, 0)) is None
    assert copy.check(1.0, pcm(0.5, 0)) is None  # silence where the live copy had none: fine
    assert copy.complete_until == pytest.approx(1.25)
    assert copy.check(0.0, pcm(0.5, 9)) == 0.0  # an earlier difference moves it back
    assert copy.complete_until == 0.0


def test_a_copy_whose_first_piece_comes_after_the_start_says_so() -> None:
    on_time, late = LiveCopy(), LiveCopy()
    on_time.add(0, pcm(0.25))
    late.add(RATE, pcm(0.25))  # its socket connected a second into the recording
    assert not on_time.starts_late()
    assert late.starts_late()
    for i in range(1, 200):  # 50 s on: the audio kept for the checks moved on, not its start
        on_time.add(i * RATE // 4, pcm(0.25))
    assert not on_time.starts_late()

"""LiveTranscriber and its pure commit rules, driven by a scripted fake transcriber."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from meetbot.contract.models import Segment, Word
from meetbot.testing.fakes_transcription import (
    FakeTranscriber,
    script,
    silence,
    words_from_text,
)
from meetbot.transcription.stability import LivePolicy, decide, drop_before, finalize
from meetbot.transcription.streaming import LiveTranscriber

CHUNK = 0.25


def run(live: LiveTranscriber, seconds: float) -> tuple[list[tuple[float, Segment]], list[Segment]]:
    """Feed ``seconds`` of audio in 250 ms chunks; (fed-time, segment) for each emission."""
    emitted: list[tuple[float, Segment]] = []
    for i in range(round(seconds / CHUNK)):
        for seg in live.feed(silence(CHUNK)):
            emitted.append(((i + 1) * CHUNK, seg))
    return emitted, live.finish()


def spoken(segments: list[Segment]) -> list[str]:
    return [w.text for s in segments for w in s.words]


THREE = script(
    (0.5, "please send the quarterly report"),
    (4.5, "before friday"),
    (8.0, "we agreed to review the budget together after lunch"),
)


def test_every_word_is_emitted_exactly_once_in_order() -> None:
    live = LiveTranscriber(FakeTranscriber(THREE), LivePolicy(interval=1.0))
    emitted, tail = run(live, 16.0)
    segments = [s for _, s in emitted] + tail
    assert spoken(segments) == [w.text for w in THREE]
    assert [s.text for s in segments] == [
        "please send the quarterly report",
        "before friday",
        "we agreed to review the budget together after lunch",
    ]
    starts = [s.start for s in segments]
    assert starts == sorted(starts)


def test_segments_are_committed_during_the_call_within_the_latency_bound() -> None:
    policy = LivePolicy(interval=1.0, commit_lag=2.0)
    live = LiveTranscriber(FakeTranscriber(THREE), policy)
    emitted, tail = run(live, 16.0)
    assert len(emitted) == 3
    assert tail == []
    for fed_at, seg in emitted:
        assert fed_at - seg.end <= policy.commit_lag + policy.interval + CHUNK


def test_a_revised_tail_is_never_committed() -> None:
    fake = FakeTranscriber(THREE, unstable_tail=0.8)
    live = LiveTranscriber(fake, LivePolicy(interval=0.5))
    emitted, tail = run(live, 16.0)
    segments = [s for _, s in emitted] + tail
    assert not any("~" in s.text for s in segments)
    assert spoken(segments) == [w.text for w in THREE]


def test_window_is_trimmed_after_commits() -> None:
    fake = FakeTranscriber(THREE)
    live = LiveTranscriber(fake, LivePolicy(interval=1.0))
    run(live, 16.0)
    # at most: the longest utterance (4.9 s) + the silence before it + lag + interval
    assert live.stats.max_window < 10.0
    offsets = [c.offset for c in fake.calls]
    assert offsets == sorted(offsets)
    assert offsets[-1] > 5.0  # the first two sentences are no longer decoded


def test_continuous_speech_is_force_committed_at_max_window() -> None:
    words = words_from_text(" ".join(f"w{i}" for i in range(80)), start=0.2, gap=0.05)
    policy = LivePolicy(interval=1.0, commit_lag=2.0, max_window=10.0)
    fake = FakeTranscriber(words)
    live = LiveTranscriber(fake, policy)
    emitted, tail = run(live, 38.0)
    assert spoken([s for _, s in emitted] + tail) == [w.text for w in words]
    assert len(emitted) >= 2
    assert live.stats.max_window <= policy.max_window + policy.interval + CHUNK


def test_silence_keeps_the_window_short() -> None:
    fake = FakeTranscriber([])
    live = LiveTranscriber(fake, LivePolicy(interval=1.0, commit_lag=2.0))
    emitted, tail = run(live, 20.0)
    assert emitted == []
    assert tail == []
    assert live.stats.max_window <= 3.0 + 1e-6


def test_start_time_shifts_the_timeline() -> None:
    words = words_from_text("hello there", start=100.5)
    fake = FakeTranscriber(words)
    live = LiveTranscriber(fake, LivePolicy(interval=1.0), start_time=100.0)
    emitted, tail = run(live, 5.0)
    segments = [s for _, s in emitted] + tail
    assert [(s.start, s.text) for s in segments] == [(100.5, "hello there")]
    assert fake.calls[0].offset == 100.0


def test_finish_decodes_only_the_tail_and_closes() -> None:
    fake = FakeTranscriber(THREE)
    live = LiveTranscriber(fake, LivePolicy(interval=1.0))
    for _ in range(round(13.5 / CHUNK)):
        live.feed(silence(CHUNK))
    before = live.committed_until
    calls = len(fake.calls)
    tail = live.finish()
    assert len(fake.calls) == calls + 1
    assert fake.calls[-1].offset >= before - 0.5
    assert [s.text for s in tail] == ["we agreed to review the budget together after lunch"]
    assert live.finish() == []
    assert live.flush() == []
    with pytest.raises(RuntimeError):
        live.feed(silence(CHUNK))


def test_flush_decodes_now_and_only_with_new_audio() -> None:
    fake = FakeTranscriber(THREE)
    live = LiveTranscriber(fake, LivePolicy(interval=5.0))
    live.feed(silence(0.5))
    assert fake.calls == []
    live.flush()
    assert len(fake.calls) == 1
    live.flush()
    assert len(fake.calls) == 1


def test_finish_without_new_audio_commits_the_pending_hypothesis() -> None:
    fake = FakeTranscriber(words_from_text("short one", start=0.1))
    live = LiveTranscriber(fake, LivePolicy(interval=1.0))
    for _ in range(4):
        live.feed(silence(CHUNK))
    assert [s.text for s in live.partial] == ["short one"]
    assert [s.text for s in live.finish()] == ["short one"]
    assert len(fake.calls) == 1


def test_adaptive_interval_follows_slow_decodes() -> None:
    ticks = itertools.count(step=3.0)
    fake = FakeTranscriber(THREE)
    live = LiveTranscriber(fake, LivePolicy(interval=1.0), clock=lambda: next(ticks))
    run(live, 12.0)
    gaps = [
        b.offset + b.duration - a.offset - a.duration for a, b in itertools.pairwise(fake.calls)
    ]
    assert all(g >= 3.0 * 1.25 - 1e-6 for g in gaps[:-1])
    assert live.stats.rtf > 0


def test_feed_accepts_int16_bytes_and_float_samples() -> None:
    live = LiveTranscriber(FakeTranscriber([]), LivePolicy(interval=10.0))
    live.feed(np.zeros(4000, dtype="<i2").tobytes())
    live.feed_samples(np.zeros(4000, dtype=np.float32))
    assert live.window_end == pytest.approx(0.5)
    with pytest.raises(ValueError, match="even"):
        live.feed(b"\x00")


# --- the pure rules --------------------------------------------------------------------------


def seg(start: float, end: float, text: str) -> Segment:
    n = max(1, len(text.split()))
    words = words_from_text(text, start=start, word=(end - start) / n, gap=0.0)
    return Segment(start, end, text, tuple(words))


def test_decide_commits_a_settled_prefix_only() -> None:
    decoded = [seg(0.0, 1.0, "a b"), seg(1.5, 4.5, "c d"), seg(5.0, 5.5, "e")]
    d = decide(
        decoded,
        (),
        window_start=0.0,
        window_end=6.0,
        committed_until=0.0,
        policy=LivePolicy(commit_lag=2.0),
    )
    assert [s.text for s in d.commit] == ["a b"]
    assert [s.text for s in d.pending] == ["c d", "e"]
    assert d.committed_until == 1.0
    assert d.trim_to == pytest.approx(1.0 - 0.2)


def test_decide_commits_what_two_decodes_agree_on_but_never_the_last_segment() -> None:
    previous = (seg(1.5, 4.5, "c d"), seg(5.0, 5.4, "e"))
    decoded = [seg(1.55, 4.45, "C d."), seg(5.0, 5.5, "e")]
    d = decide(
        decoded,
        previous,
        window_start=1.0,
        window_end=6.0,
        committed_until=1.0,
        policy=LivePolicy(commit_lag=2.0),
    )
    assert [s.text for s in d.commit] == ["C d."]
    assert [s.text for s in d.pending] == ["e"]


def test_decide_on_silence_trims_to_the_lag() -> None:
    d = decide(
        [],
        (),
        window_start=0.0,
        window_end=10.0,
        committed_until=0.0,
        policy=LivePolicy(commit_lag=2.0),
    )
    assert d.commit == ()
    assert d.trim_to == 8.0


def test_drop_before_removes_the_redecoded_committed_tail() -> None:
    s = Segment(0.8, 2.0, "day we", (Word(0.8, 1.0, "day"), Word(1.1, 2.0, "we")))
    assert [x.text for x in drop_before([s], 1.0)] == ["we"]
    assert drop_before([Segment(0.0, 1.02, "x")], 1.0) == []


def test_finalize_commits_everything_after_the_committed_point() -> None:
    d = finalize([seg(0.0, 1.0, "a"), seg(2.0, 3.0, "b c")], committed_until=1.5, window_end=3.0)
    assert [s.text for s in d.commit] == ["b c"]
    assert d.committed_until == 3.0


@pytest.mark.parametrize(
    ("interval", "lag", "window"), [(0.0, 2.0, 20.0), (1.0, -1.0, 20.0), (1.0, 5.0, 4.0)]
)
def test_policy_rejects_nonsense(interval: float, lag: float, window: float) -> None:
    with pytest.raises(ValueError, match="need interval"):
        LivePolicy(interval=interval, commit_lag=lag, max_window=window)


def test_drop_before_never_keeps_anything_starting_before_the_cut() -> None:
    s = Segment(0.9, 2.0, "we go", (Word(0.9, 1.3, "we"), Word(1.4, 2.0, "go")))
    (kept,) = drop_before([s], 1.0)
    assert kept.start == 1.0
    assert kept.words[0] == Word(1.0, 1.3, "we")

"""Normalising segments and attributing speakers: pure functions, no model."""

from __future__ import annotations

import itertools

import pytest

from meetbot.contract.models import Segment, Word
from meetbot.testing.fakes_transcription import words_from_text
from meetbot.transcription.segments import (
    SpeakingInterval,
    attribute_speakers,
    clean_text,
    monotonic_words,
    normalize_segments,
    number_unknown_speakers,
    relabel,
    speakers_in_order,
)
from meetbot.transcription.wer import normalize_words, wer, word_errors


def seg(start: float, text: str, speaker: str | None = None, *, word: float = 0.4) -> Segment:
    words = tuple(words_from_text(text, start=start, word=word, gap=0.1))
    return Segment(start, words[-1].end, text, words, speaker)


# --- normalising ---------------------------------------------------------------------------


def test_clean_text_collapses_whitespace() -> None:
    assert clean_text("  hello \n\t world  ") == "hello world"


def test_monotonic_words_fixes_steps_back_and_drops_empty_words() -> None:
    words = [Word(1.0, 1.5, " Hi,"), Word(1.4, 1.3, "there"), Word(2.0, 2.1, "  ")]
    assert monotonic_words(words) == (Word(1.0, 1.5, "Hi,"), Word(1.5, 1.5, "there"))


def test_normalize_drops_empty_and_sorts() -> None:
    out = normalize_segments(
        [seg(5.0, "second part here"), Segment(1.0, 2.0, "   "), seg(0.0, "first part here")]
    )
    assert [s.text for s in out] == ["first part here", "second part here"]


def test_normalize_clips_overlaps_and_drops_repeats() -> None:
    first = seg(0.0, "one two three")  # ends 1.4
    repeat = seg(0.2, "one two three")
    overlapping = Segment(
        1.2,
        3.0,
        "three four five",
        (Word(1.2, 1.35, "three"), Word(1.5, 2.0, "four"), Word(2.1, 3.0, "five")),
    )
    out = normalize_segments([first, repeat, overlapping])
    assert [s.text for s in out] == ["one two three", "four five"]
    assert out[1].start == pytest.approx(1.4)
    assert all(a.end <= b.start for a, b in itertools.pairwise(out))


def test_normalize_merges_tiny_fragments_of_the_same_speaker() -> None:
    out = normalize_segments(
        [
            seg(0.0, "so the plan is", "Ann"),
            Segment(2.0, 2.1, "yes", (), "Ann"),
            seg(2.5, "we ship on monday", "Ann"),
        ]
    )
    assert [s.text for s in out] == ["so the plan is yes", "we ship on monday"]


def test_normalize_keeps_fragments_of_another_speaker() -> None:
    out = normalize_segments(
        [seg(0.0, "so the plan is", "Ann"), Segment(2.0, 2.1, "yes", (), "Bob")]
    )
    assert [s.speaker for s in out] == ["Ann", "Bob"]


def test_normalize_does_not_merge_across_a_long_gap() -> None:
    out = normalize_segments([seg(0.0, "hello there"), Segment(10.0, 10.1, "hm")])
    assert len(out) == 2


def test_normalize_is_idempotent() -> None:
    segments = [seg(0.0, "a b c", "Ann"), seg(0.5, "c d e", "Bob"), Segment(9.0, 9.1, "x")]
    once = normalize_segments(segments)
    assert normalize_segments(once) == once


# --- speakers ------------------------------------------------------------------------------


def test_each_segment_gets_the_participant_who_spoke_most() -> None:
    segments = [seg(0.0, "hello everyone welcome"), seg(3.0, "thanks for having me")]
    intervals = [("Ann", 0.0, 1.6), ("Bob", 1.2, 1.5), ("Bob", 2.9, 5.0)]
    out = attribute_speakers(segments, intervals)
    assert [(s.speaker, s.text) for s in out] == [
        ("Ann", "hello everyone welcome"),
        ("Bob", "thanks for having me"),
    ]


def test_a_segment_spanning_two_speakers_is_split_at_the_change() -> None:
    segments = [seg(0.0, "are you ready yes I am ready")]  # words every 0.5 s
    intervals = [SpeakingInterval("Ann", 0.0, 1.45), SpeakingInterval("Bob", 1.45, 4.0)]
    out = attribute_speakers(segments, intervals)
    assert [(s.speaker, s.text) for s in out] == [
        ("Ann", "are you ready"),
        ("Bob", "yes I am ready"),
    ]
    assert out[0].end <= out[1].start


def test_a_one_word_blip_inside_a_run_is_smoothed_away() -> None:
    segments = [seg(0.0, "one two three four five")]
    intervals = [("Ann", 0.0, 1.0), ("Bob", 1.0, 1.4), ("Ann", 1.4, 3.0)]
    out = attribute_speakers(segments, intervals)
    assert [(s.speaker, s.text) for s in out] == [("Ann", "one two three four five")]


def test_words_near_an_interval_take_it_and_far_ones_take_a_neighbour() -> None:
    segments = [seg(0.0, "alpha beta"), seg(10.0, "gamma")]
    out = attribute_speakers(segments, [("Ann", 1.2, 1.3)], tolerance=0.5)
    assert [s.speaker for s in out] == ["Ann", None]


def test_segment_without_words_is_labelled_as_a_whole() -> None:
    out = attribute_speakers([Segment(0.0, 2.0, "hi")], [("Ann", 0.0, 0.5), ("Bob", 0.5, 2.0)])
    assert out[0].speaker == "Bob"


def test_existing_labels_are_kept_where_no_interval_is_near_and_numbered() -> None:
    segments = [seg(0.0, "from a vendor", "1"), seg(5.0, "named", None), seg(9.0, "more", "0")]
    out = attribute_speakers(segments, [("Ann", 5.0, 6.0)])
    assert [s.speaker for s in out] == ["Speaker 1", "Ann", "Speaker 2"]


def test_unnamed_participants_get_stable_numbers_in_order_of_appearance() -> None:
    segments = [seg(0.0, "who is this"), seg(3.0, "it is Ann"), seg(6.0, "hello again")]
    intervals = [(None, 0.0, 2.0), ("Ann", 3.0, 5.0), ("  ", 6.0, 8.0)]
    out = attribute_speakers(segments, intervals)
    assert [s.speaker for s in out] == ["Speaker 1", "Ann", "Speaker 1"]


def test_number_unknown_speakers_skips_taken_labels() -> None:
    segments = [
        Segment(0, 1, "a", (), "x"),
        Segment(1, 2, "b", (), "Speaker 1"),
        Segment(2, 3, "c", (), "y"),
    ]
    out = number_unknown_speakers(segments, known={"Speaker 1"})
    assert [s.speaker for s in out] == ["Speaker 2", "Speaker 1", "Speaker 3"]


def test_attribution_is_deterministic_on_ties() -> None:
    out = attribute_speakers([seg(0.0, "tie")], [("Bob", 0.0, 0.2), ("Ann", 0.2, 0.4)])
    assert out[0].speaker == "Ann"


def test_attribution_scales_to_an_hour() -> None:
    segments = [seg(i * 5.0, "one two three four five six seven") for i in range(720)]
    intervals = [(f"P{i % 4}", i * 2.5, i * 2.5 + 2.5) for i in range(1440)]
    out = attribute_speakers(segments, intervals)
    assert sum(len(s.words) for s in out) == 720 * 7
    assert set(speakers_in_order(out)) == {"P0", "P1", "P2", "P3"}


def test_relabel_renames() -> None:
    out = relabel([Segment(0, 1, "a", (), "Speaker 1"), Segment(1, 2, "b")], {"Speaker 1": "Ann"})
    assert [s.speaker for s in out] == ["Ann", None]


# --- word error rate -----------------------------------------------------------------------


def test_wer_normalises_case_and_punctuation() -> None:
    assert wer("Hello, world! Don't stop.", "hello world dont stop") == 0.0
    assert normalize_words("It\u2019s well-known") == ["its", "well", "known"]


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("a b c d", "a b c d", (0, 0, 0)),
        ("a b c d", "a x c d", (1, 0, 0)),
        ("a b c d", "a c d", (0, 1, 0)),
        ("a b c d", "a b y c d", (0, 0, 1)),
        ("a b c d", "", (0, 4, 0)),
    ],
)
def test_word_errors_counts_each_kind(ref: str, hyp: str, expected: tuple[int, int, int]) -> None:
    e = word_errors(ref, hyp)
    assert (e.substitutions, e.deletions, e.insertions) == expected
    assert e.wer == pytest.approx(sum(expected) / 4)


def test_wer_of_empty_reference() -> None:
    assert wer("", "") == 0.0
    assert wer("", "extra") == float("inf")

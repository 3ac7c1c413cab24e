"""Transcript renderers: txt, SRT, WebVTT, JSON."""

from __future__ import annotations

import json

import pytest

from meetbot.contract.models import Segment, Word
from meetbot.transcription.formats import (
    CONTENT_TYPES,
    FORMATS,
    clock,
    render,
    srt_time,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
    vtt_escape,
    vtt_time,
)

TRANSCRIPT = [
    Segment(
        1.5, 3.25, "Hello everyone.", (Word(1.5, 2.0, "Hello"), Word(2.1, 3.25, "everyone.")), "Ann"
    ),
    Segment(3725.0004, 3727.9996, "Q&A <now> --> later", (), None),
]


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt", "hms"),
    [
        (0.0, "00:00:00,000", "00:00:00.000", "00:00:00"),
        (1.5, "00:00:01,500", "00:00:01.500", "00:00:01"),
        (59.9996, "00:01:00,000", "00:01:00.000", "00:01:00"),
        (3661.042, "01:01:01,042", "01:01:01.042", "01:01:01"),
        (-0.2, "00:00:00,000", "00:00:00.000", "00:00:00"),
        (360000.0, "100:00:00,000", "100:00:00.000", "100:00:00"),
    ],
)
def test_timestamps(seconds: float, srt: str, vtt: str, hms: str) -> None:
    assert srt_time(seconds) == srt
    assert vtt_time(seconds) == vtt
    assert clock(seconds) == hms


def test_txt() -> None:
    assert to_txt(TRANSCRIPT) == (
        "[00:00:01] Ann: Hello everyone.\n[01:02:05] Q&A <now> --> later\n"
    )


def test_srt() -> None:
    assert to_srt(TRANSCRIPT) == (
        "1\n00:00:01,500 --> 00:00:03,250\nAnn: Hello everyone.\n"
        "\n"
        "2\n01:02:05,000 --> 01:02:08,000\nQ&A <now> -> later\n"
    )


def test_vtt() -> None:
    assert to_vtt(TRANSCRIPT) == (
        "WEBVTT\n"
        "\n"
        "1\n00:00:01.500 --> 00:00:03.250\n<v Ann>Hello everyone.\n"
        "\n"
        "2\n01:02:05.000 --> 01:02:08.000\nQ&amp;A &lt;now&gt; --&gt; later\n"
    )


def test_vtt_escapes_speaker_names() -> None:
    out = to_vtt([Segment(0, 1, "hi", (), "A <b> & C")])
    assert "<v A &lt;b&gt; &amp; C>hi" in out
    assert vtt_escape("a\n\nb") == "a b"


def test_cue_text_never_contains_a_blank_line_and_empty_segments_are_skipped() -> None:
    segments = [Segment(0, 1, "one\n\ntwo"), Segment(1, 2, "   "), Segment(2, 3, "three")]
    srt = to_srt(segments)
    assert "one two" in srt
    assert srt.count("-->") == 2
    assert "\n2\n00:00:02,000" in srt
    assert to_txt(segments).count("\n") == 2


def test_cue_end_is_never_before_start() -> None:
    assert "00:00:05,000 --> 00:00:05,000" in to_srt([Segment(5.0, 4.0, "x")])


def test_json_shape_and_round_trip() -> None:
    data = to_json(TRANSCRIPT)
    assert data[0] == {
        "start": 1.5,
        "end": 3.25,
        "text": "Hello everyone.",
        "speaker": "Ann",
        "words": [
            {"start": 1.5, "end": 2.0, "text": "Hello"},
            {"start": 2.1, "end": 3.25, "text": "everyone."},
        ],
    }
    assert data[1]["start"] == 3725.0
    assert data[1]["speaker"] is None
    assert data[1]["words"] == []
    assert json.loads(json.dumps(data)) == data


def test_empty_transcript() -> None:
    assert to_txt([]) == ""
    assert to_srt([]) == ""
    assert to_vtt([]) == "WEBVTT\n"
    assert to_json([]) == []


def test_render_dispatches_and_rejects_unknown_formats() -> None:
    assert set(FORMATS) == set(CONTENT_TYPES)
    for fmt in FORMATS:
        assert render(TRANSCRIPT, fmt)
    with pytest.raises(ValueError, match="unknown transcript format"):
        render(TRANSCRIPT, "docx")
